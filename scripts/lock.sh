#!/usr/bin/env bash
# Refresh requirements/ci.txt, the exact versions that scripts/setup.sh and CI install:
# pyproject.toml's dependencies and [test] extra plus requirements/ci.in, resolved to the newest
# versions they allow, for Linux x86-64 and Python 3.11 (the CI machines).
#
#   bash scripts/lock.sh            # then run the tests in a fresh clone before committing
#
# Uses uv (installed into .venv on first use; any Python with pip works: PYTHON=python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3
"$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --disable-pip-version-check -q "uv>=0.9"
"$python" -m uv pip compile pyproject.toml requirements/ci.in \
    --extra test \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    --upgrade \
    --no-header \
    --output-file requirements/ci.txt
echo "lock: wrote requirements/ci.txt; now run: bash scripts/setup.sh && .venv/bin/python -m pytest"
