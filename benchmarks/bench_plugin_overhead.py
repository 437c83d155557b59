"""What our plugin adds to an lmms-eval run.

Times the real `lmms-eval` CLI, offline, against a local OpenAI-compatible stand-in
model that answers instantly, for two tasks of the same size (12 items, one request
each): `clinhallu_sample_baseline`, and a plain control task in lmms-eval's usual style
(local json rows, one image, exact-match metric) written to a temp folder. lmms-eval's
built-in tasks all fetch their data from a hub, so the control stands in for "an equally
small built-in task". Also times the registration hook and indexing our task folder.
Goal: our plugin adds under 1 s. Prints; asserts nothing.

    .venv/bin/python benchmarks/bench_plugin_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (the stand-in model server)

from tests.support.lmms_cli import offline_env  # noqa: E402
from tests.support.model_server import FakeModelServer  # noqa: E402

CONTROL_YAML = """\
task: control_sample
dataset_path: json
dataset_kwargs:
  data_files: rows.json
test_split: train
output_type: generate_until
doc_to_visual: !function control.doc_to_visual
doc_to_text: !function control.doc_to_text
doc_to_target: answer
process_results: !function control.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
generation_kwargs:
  max_new_tokens: 64
"""

CONTROL_PY = """\
from PIL import Image


def doc_to_visual(doc):
    return [Image.open(doc["image"]).convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"] + "\\nAnswer with one word."


def process_results(doc, results):
    return {"exact_match": float(results[0].strip().lower() == doc["answer"])}
"""


def _write_control(folder: Path) -> None:
    from clinhallu_tasks.clinhallu.loading import load_source

    items = load_source("sample")
    rows = [{"question": i.question, "answer": i.answer.lower(), "image": i.image_paths[0]} for i in items]
    folder.mkdir(parents=True)
    (folder / "rows.json").write_text(json.dumps(rows))
    (folder / "control.yaml").write_text(CONTROL_YAML)
    (folder / "control.py").write_text(CONTROL_PY)


def _time_cli(tmp: Path, server: FakeModelServer, task: str, extra: list[str], run: int) -> float:
    out = tmp / f"out_{task}_{run}"
    command = [
        sys.executable, "-m", "lmms_eval", "--model", "openai_compatible",
        "--model_args", f"model_version=fake,base_url={server.base_url}",
        "--tasks", task, "--batch_size", "1", "--output_path", str(out), *extra,
    ]
    env = offline_env(tmp, OPENAI_API_KEY="not-a-secret")
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or not list(out.glob("*/*_results.json")):
        raise SystemExit(f"{task} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return elapsed


def _time_indexing() -> tuple[float, float]:
    code = (
        "import time\n"
        "from lmms_eval.tasks import TaskManager\n"
        "from clinhallu_tasks.registration import task_dir\n"
        "t=time.perf_counter(); TaskManager(include_defaults=False, include_path=str(task_dir())); "
        "a=time.perf_counter()-t\n"
        "from clinhallu_tasks.registration import register_tasks\n"
        "t=time.perf_counter(); register_tasks(); b=time.perf_counter()-t\n"
        "print(a, b)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    index, hook = (float(x) for x in done.stdout.split()[-2:])
    return index, hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        control = tmp / "control_task"
        _write_control(control)
        ours, theirs = [], []
        with FakeModelServer(lambda prompt, images: "yes") as server:
            for run in range(args.repeats):
                theirs.append(_time_cli(tmp, server, "control_sample", ["--include_path", str(control)], run))
                ours.append(_time_cli(tmp, server, "clinhallu_sample_baseline", [], run))
        index, hook = _time_indexing()

    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"lmms-eval --tasks clinhallu_sample_baseline: median {ours_s:.2f}s over {args.repeats} runs "
          f"({', '.join(f'{t:.2f}' for t in ours)})")
    print(f"lmms-eval --tasks control_sample (plain local task): median {theirs_s:.2f}s "
          f"({', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"plugin adds: {ours_s - theirs_s:+.2f}s per run (goal: under 1 s)")
    print(f"registration hook: {hook * 1000:.1f} ms; indexing our task folder alone: {index * 1000:.0f} ms")


if __name__ == "__main__":
    main()
