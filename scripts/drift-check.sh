#!/usr/bin/env bash
# Drift check: a fresh environment with the NEWEST versions pyproject.toml allows (requirements/ci.txt
# is ignored), then the whole test suite. A failure here that CI does not show is an upstream release
# that breaks fresh installs: bound it in pyproject.toml (with a one-line reason), then `bash scripts/lock.sh`.
#
#   bash scripts/drift-check.sh [pytest arguments...]
#
# Works in a temporary folder (kept on failure, with pip-freeze.txt and the diff against the lock).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/clinhallu-drift.XXXXXX")
echo "drift-check: fresh environment in $work"

"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" --upgrade pip
# [vlmeval] too: VLMEvalKit releases drift like any other dependency, and its tests need it.
"${pip[@]}" -e "$repo[test,vlmeval]"
bash "$repo/scripts/pip-check.sh" "$work/venv/bin/python"
# Names normalised (PEP 503) so that only versions, not spellings, make a difference.
normalise() { awk -F'==' '{ name = tolower($1); gsub(/[_.]+/, "-", name); print name "==" $2 }' | sort; }
"$work/venv/bin/python" -m pip freeze --exclude-editable | normalise >"$work/pip-freeze.txt"
grep -E '^[A-Za-z0-9_.-]+==' "$repo/requirements/ci.txt" | normalise >"$work/locked.txt"
if ! diff "$work/locked.txt" "$work/pip-freeze.txt" >"$work/drift.diff"; then
    echo "drift-check: versions that differ from requirements/ci.txt (< locked, > newest):"
    grep -E '^[<>]' "$work/drift.diff" || true
fi
bash "$repo/scripts/install_wordnet.sh" "$work/venv/nltk_data"

cd "$repo"
if "$work/venv/bin/python" -m pytest -p no:cacheprovider "$@"; then
    echo "drift-check: PASSED with the newest allowed versions"
    rm -rf "$work"
else
    status=$?
    echo "drift-check: FAILED with the newest allowed versions; environment kept in $work" >&2
    exit "$status"
fi
