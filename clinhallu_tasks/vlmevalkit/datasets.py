"""ClinHallu and MedHallTune as VLMEvalKit datasets, over the evaluation layer.

Imports VLMEvalKit (`pip install clinhallu-tasks[vlmeval]`); the rest of the package never does.

Prompts: the whole prompt our evaluation layer builds is the `question` of each row and the
dataset's TYPE is our own, so a model wrapper that rewrites prompts for VLMEvalKit's `VQA` or
`MCQ` types (Qwen2-VL, InternVL, ...) sends ours unchanged, and `force_use_dataset_prompt`
makes ms-vlmeval ask the dataset, not the wrapper, for the message. The message is the text,
then the item's images in order, as the official builder and our lmms-eval tasks send them
(every released question ends with its `<image>` mark). A system text (only with custom templates) comes first in the
text, a blank line before the user text: VLMEvalKit's role messages change the wrapper's
system prompt for every later request.

Scoring: `evaluate` reads the prediction file as text, hands each response to a
`TaskEvaluation`, and writes our three record files beside VLMEvalKit's, in the prediction
file's folder. The judge is the one `CLINHALLU_JUDGE_*` configures, overridden by VLMEvalKit's
`--judge`/`--judge-base-url`/`--judge-key`/`--judge-args` (clinhallu_tasks/vlmevalkit/judge.py);
its verdicts live in our cache, so `--mode eval` re-scores without a single judge call.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from vlmeval.dataset.image_base import ImageBaseDataset

from clinhallu_tasks.errors import BaselineError, DataError
from clinhallu_tasks.evaluation import EvaluationContext, Generation, PreparedTask, Prompt, TaskEvaluation, prepare
from clinhallu_tasks.records import TaskFiles, TaskSummary, read_judgments
from clinhallu_tasks.settings import BASELINE_DIR
from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec
from clinhallu_tasks.vlmevalkit.judge import judge_environment
from clinhallu_tasks.vlmevalkit.names import (
    CLINHALLU_DATASETS,
    DATASETS_BY_NAME,
    MEDHALLTUNE_DATASETS,
    DatasetName,
    dataset_name,
)
from clinhallu_tasks.vlmevalkit.predictions import read_predictions

logger = logging.getLogger("clinhallu_tasks")

DISTRIBUTIONS = ("ms-vlmeval", "nvidia-vlmeval", "vlmeval")


def framework_label() -> str:
    """"VLMEvalKit ms-vlmeval 0.0.20": which of the distributions that install `vlmeval` this is."""
    from importlib.metadata import PackageNotFoundError, version

    for distribution in DISTRIBUTIONS:
        try:
            return f"VLMEvalKit {distribution} {version(distribution)}"
        except PackageNotFoundError:
            continue
    return "VLMEvalKit"


def one_text(prompt: Prompt) -> str:
    """The prompt as one user text: a system text first, a blank line, then the text (as `build_prompt` does)."""
    return f"{prompt.system}\n\n{prompt.text}" if prompt.system else prompt.text


def model_of(prediction_file: Path, dataset: str) -> str:
    """The model name in VLMEvalKit's `<model>_<dataset>.<ext>`."""
    stem, suffix = prediction_file.stem, f"_{dataset}"
    if not stem.endswith(suffix) or stem == suffix:
        raise ValueError(f"{prediction_file}: not a prediction file of {dataset} (<model>_{dataset}.<ext>)")
    return stem[: -len(suffix)]


def _dataset_of(prediction_file: Path) -> DatasetName | None:
    """Our dataset whose name ends the file's stem (the longest, as `..._replace_vr_kr` ends in `_kr`)."""
    matches = [name for name in DATASETS_BY_NAME.values() if prediction_file.stem.endswith(f"_{name.dataset}")]
    return max(matches, key=lambda name: len(name.dataset), default=None)


def baseline_folder(
    name: DatasetName,
    baseline: str | os.PathLike[str] | None,
    work_dir: str | None,
    models: Sequence[str] | str | None,
) -> Path | None:
    """Where a replace_kr dataset finds the same model's baseline records.

    An explicit `baseline` folder wins, then CLINHALLU_BASELINE_DIR (read by `prepare`); otherwise,
    when ms-vlmeval names one model and its work folder, `<work_dir>/<model>` (a baseline earlier in
    the same `--data` list is there). Within the folder, the newest baseline summary at any depth
    counts: nvidia-vlmeval writes into a `T<date>_G<commit>/` folder below it.
    """
    if baseline is None and os.environ.get(BASELINE_DIR, "").strip():
        return None
    if baseline is not None:
        root = Path(baseline)
    else:
        names = [models] if isinstance(models, str) else list(models or [])
        if work_dir is None or not names:
            return None
        if len(names) > 1:
            raise BaselineError(
                f"{name.dataset} continues one model's baseline, but {len(names)} models are named "
                f"({', '.join(names)}): run it one model at a time, or name the folder as \"baseline\" in "
                f"--config, or set {BASELINE_DIR}"
            )
        root = Path(work_dir) / names[0]
    parsed = clinhallu_spec.parse_task_name(name.task)
    assert parsed is not None
    summary = TaskFiles(root, clinhallu_spec.task_name(parsed[0].name, "baseline")).summary.name
    found = sorted(root.rglob(summary), key=lambda path: path.stat().st_mtime) if root.is_dir() else []
    return found[-1].parent if found else root


class _BenchmarkDataset(ImageBaseDataset):
    """What both benchmarks share: rows from the evaluation layer, scoring through it."""

    MODALITY = "IMAGE"
    DATASET_URL: dict[str, str] = {}
    DATASET_MD5: dict[str, str] = {}
    force_use_dataset_prompt = True  # ms-vlmeval: never the model wrapper's prompt

    def __init__(
        self,
        dataset: str,
        baseline: str | None = None,
        work_dir: str | None = None,
        model: Sequence[str] | str | None = None,
    ) -> None:
        """`dataset`: one of our VLMEvalKit names. `baseline` (replace_kr): the folder of the same model's
        baseline records. ms-vlmeval passes `work_dir` and `model` from its command line."""
        self.name = dataset_name(dataset)
        folder = baseline_folder(self.name, baseline, work_dir, model) if self.name.chained else None
        single_model = model if isinstance(model, str) else (model[0] if model and len(model) == 1 else None)
        self.prepared: PreparedTask = prepare(self.name.task, baseline=folder, model=single_model)
        # Every setting is read and checked here, before any generation; the judge is not used yet.
        context = EvaluationContext.from_env(framework=framework_label())
        try:
            evaluation = TaskEvaluation(context, self.prepared)
            self.prompts = {item.item_id: evaluation.prompt(item) for item in self.prepared.items}
        finally:
            context.close()
        super().__init__(dataset=dataset, skip_noimg=False)

    @classmethod
    def supported_datasets(cls) -> list[str]:
        return list(cls.DATASET_URL)

    def load_data(self, dataset: str) -> pd.DataFrame:
        rows = []
        for index, item in enumerate(self.prepared.items):
            prompt = self.prompts[item.item_id]
            rows.append({
                "index": index,
                "item_id": item.item_id,
                "question": one_text(prompt),
                "answer": getattr(item, "answer", None) or getattr(item, "ground_truth", ""),
                "image_path": list(prompt.image_paths),
            })
        return pd.DataFrame(rows, columns=["index", "item_id", "question", "answer", "image_path"])

    def build_prompt(self, line: Any) -> list[dict[str, str]]:
        if isinstance(line, int):
            line = self.data.iloc[line]
        prompt = self.prompts[str(line["item_id"])]
        images = [{"type": "image", "value": path} for path in prompt.image_paths]
        return [{"type": "text", "value": one_text(prompt)}, *images]

    def evaluate(self, eval_file: str, **judge_kwargs: Any) -> dict[str, float | None]:
        """Score the prediction file through the evaluation layer; our records and a score file beside it."""
        path = Path(eval_file)
        model = model_of(path, self.dataset_name)
        predictions = read_predictions(path)
        environ = judge_environment(judge_kwargs, os.environ)
        settings = {
            "prediction_file": path.name,
            "failed_predictions": len(predictions.failed),
            "truncated_predictions": len(predictions.truncated),
            "resampling": None,  # VLMEvalKit generates once per item
        }
        context = EvaluationContext.from_env(
            output_folder=path.parent, model=model, framework=framework_label(), settings=settings, environ=environ,
        )
        try:
            evaluation = TaskEvaluation(context, self.prepared)
            unknown = [item_id for item_id in predictions.responses if item_id not in self.prepared.items_by_id]
            if unknown:
                raise DataError(path, None, "item_id", f"not in {self.dataset_name}: {', '.join(unknown[:20])}")
            for item in self.prepared.items:
                response = predictions.responses.get(item.item_id)
                if response is not None:
                    evaluation.add_response(item.item_id, response, Generation(characters=len(response)))
            summary = evaluation.finish()
        finally:
            context.close()
        write_score_file(path, summary)
        return dict(summary.metrics)

    @classmethod
    def report_judge_err(
        cls, prediction_file: str | Path | None, *, total_samples: int | None,
        judge_model: str | None = None, error_message: str | None = None,
    ) -> dict[str, int | None]:
        """ms-vlmeval's status.json: items with a failed judge verdict, from our judgments file."""
        name = _dataset_of(Path(prediction_file)) if prediction_file else None
        files = TaskFiles(Path(prediction_file).parent, name.task) if name and prediction_file else None
        if files is None or not files.judgments.is_file():
            return {"failed": total_samples if error_message else 0, "total": total_samples}
        failed = {j.item_id for j in read_judgments(files.judgments) if j.status == "failed"}
        return {"failed": len(failed), "total": total_samples}


def write_score_file(prediction_file: Path, summary: TaskSummary) -> Path:
    """VLMEvalKit's `<model>_<dataset>_score.<csv|json>` (EVAL_FORMAT, as ms-vlmeval reads it): one row per metric."""
    rows = [
        {"metric": name, "value": value, "note": summary.metric_notes.get(name, "")}
        for name, value in summary.metrics.items()
    ]
    fmt = os.environ.get("EVAL_FORMAT", "").strip().lower() or "csv"
    target = prediction_file.with_name(f"{prediction_file.stem}_score.{'json' if fmt == 'json' else 'csv'}")
    if fmt == "json":
        target.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["metric", "value", "note"])
            writer.writeheader()
            writer.writerows({**row, "value": "" if row["value"] is None else repr(row["value"])} for row in rows)
    return target


def _primary(metrics: Mapping[str, Any] | None, names: Sequence[str]) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        return {}
    return {name: float(metrics[name]) for name in names if isinstance(metrics.get(name), (int, float))}


class ClinHalluDataset(_BenchmarkDataset):
    """Every ClinHallu source x run: `ClinHallu_<SOURCE>_<run>`."""

    TYPE = "CLINHALLU_TRACE"
    DATASET_URL = {name.dataset: "" for name in CLINHALLU_DATASETS}

    @classmethod
    def report_primary_metric(cls, metrics: Mapping[str, Any] | None) -> dict[str, float]:
        """ms-vlmeval's status.json headline: judge accuracy and the run's stage rate (PROTOCOL's table)."""
        stages = [metric.name for metric in clinhallu_spec.STAGE_METRICS.values()]
        return _primary(metrics, [clinhallu_spec.ACC.name, *stages])


class MedHallTuneDataset(_BenchmarkDataset):
    """MedHallTune's two splits, released and embedded sample: `MedHallTune[_Sample]_<P|N>`."""

    TYPE = "MEDHALLTUNE_ANSWER"
    DATASET_URL = {name.dataset: "" for name in MEDHALLTUNE_DATASETS}

    @classmethod
    def report_primary_metric(cls, metrics: Mapping[str, Any] | None) -> dict[str, float]:
        return _primary(metrics, [metric.name for metric in medhalltune_spec.METRICS])


DATASET_CLASSES: tuple[type[_BenchmarkDataset], ...] = (ClinHalluDataset, MedHallTuneDataset)

__all__ = [
    "DATASET_CLASSES",
    "ClinHalluDataset",
    "MedHallTuneDataset",
    "baseline_folder",
    "framework_label",
    "model_of",
    "write_score_file",
]
