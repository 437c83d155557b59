#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with the exact versions of
# requirements/ci.txt (what CI tests), the package itself (editable), and WordNet 3.0 for METEOR.
# Safe to run again.
#
#   bash scripts/setup.sh
#
# requirements/ci.txt is resolved for Linux x86-64 and Python 3.11 (`bash scripts/lock.sh`
# refreshes it). On another platform or Python the set-up installs `.[test]` unpinned instead.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

platform=$(.venv/bin/python -c 'import platform, sys; print(f"{sys.platform}-{platform.machine()}-{sys.version_info[0]}.{sys.version_info[1]}")')
if [[ $platform == linux-x86_64-3.11 ]]; then
    "${pip[@]}" -r requirements/ci.txt
    "${pip[@]}" --no-deps -e .
    bash scripts/pip-check.sh .venv/bin/python
else
    echo "setup: requirements/ci.txt is for linux-x86_64-3.11, this is $platform: installing unpinned" >&2
    "${pip[@]}" -e ".[test]"
fi

# METEOR needs WordNet. NLTK looks in <venv>/nltk_data without any variable.
if [[ ! -f /usr/share/wordnet/data.noun && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null || echo "setup: apt-get update failed; trying the install anyway" >&2
fi
bash scripts/install_wordnet.sh .venv/nltk_data
echo "setup: done. Tests: .venv/bin/python -m pytest"
