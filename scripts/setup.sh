#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with the package
# (editable), its test tools, and WordNet 3.0 for METEOR. Safe to run again.
#
#   bash scripts/setup.sh
#
# torch: this machine keeps torch 2.14.1 + torchvision 0.29.1 on local disk (lmms-eval
# needs torchvision); elsewhere pip fetches them. Override with TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

"${pip[@]}" --upgrade pip
# shellcheck disable=SC2086  # TORCH_SPEC is a list of requirements
"${pip[@]}" ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
"${pip[@]}" -e ".[test]"

# METEOR needs WordNet. NLTK looks in <venv>/nltk_data without any variable.
if [[ ! -f /usr/share/wordnet/data.noun && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null || echo "setup: apt-get update failed; trying the install anyway" >&2
fi
bash scripts/install_wordnet.sh .venv/nltk_data
echo "setup: done. Tests: .venv/bin/python -m pytest"
