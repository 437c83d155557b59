"""lmms-eval hooks for the MedHallTune tasks: translate documents to core calls and back.

The YAMLs in task_yaml/medhalltune/ name these functions. Everything that knows the
benchmark lives in clinhallu_tasks.medhalltune; this module only converts and logs.

lmms-eval gives `process_docs` no per-task arguments, so the split and the data root
(the released files under MEDHALLTUNE_DATA_DIR, or the embedded sample) are carried by
which function a YAML names.

Metrics, each per task (one split):
- `medhalltune_clinical_accuracy`, `_clinical_relevance`, `_detail_level`, `_risk_level`:
  judge means on 1-10. One judge call per answer yields all four; the first of the four
  aggregations judges the whole task concurrently and the others reuse its verdicts.
  None when no judge is configured or it is unreachable.
- `medhalltune_meteor`, `medhalltune_rouge_l`: per answer in `process_results` (they land
  in the sample log), averaged here.
- `medhalltune_bertscore`: batched over the whole task in its aggregation (one model load
  per process), per-answer F1 written beside the results with the model that produced it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from clinhallu_tasks.errors import DataRootError
from clinhallu_tasks.judging import JudgeClient, JudgeUnavailableError
from clinhallu_tasks.lmms.judge_support import judge_client, judge_unavailable, write_judgments
from clinhallu_tasks.medhalltune.judge import DIMENSIONS, load_templates
from clinhallu_tasks.medhalltune.loading import SAMPLE_ROOT, data_root_from_env, load_split
from clinhallu_tasks.medhalltune.records import QUESTION_FILES, REFERENCE_FILES, MedHallTuneItem, Split
from clinhallu_tasks.medhalltune.scoring import JudgeSummary, judge_answers, summarize_outcomes
from clinhallu_tasks.metrics.text_similarity import (
    BertScoreSettings,
    MetricAssetError,
    bertscore_f1,
    check_text_metric_assets,
    mean,
    meteor_scores,
    rouge_l_scores,
)

logger = logging.getLogger("clinhallu_tasks")

JUDGE_METRIC = "medhalltune_judge"  # the `metric` of judge lines in judgments_<task>.jsonl
_RAW_LIMIT = 2000  # enough of a rejected reply to see what went wrong

# ---------------------------------------------------------------- documents


def item_to_doc(item: MedHallTuneItem, subset: str) -> dict[str, Any]:
    """A flat row; the reference stays out (the judge reloads it), keeping docs and logs small."""
    return {
        "item_id": item.item_id,
        "subset": subset,
        "split": item.split,
        "question_id": item.question_id,
        "image": item.image,
        "image_path": str(item.image_path or ""),
        "question": item.question,
        "ground_truth": item.ground_truth,
    }


def _root(subset: str) -> Path:
    return SAMPLE_ROOT if subset == "sample" else data_root_from_env()


def _docs(split: Split, subset: str):
    import datasets

    root = _root(subset)
    loaded = load_split(root, split)
    if loaded.without_reference:
        shown = ", ".join(map(str, loaded.without_reference[:20]))
        logger.warning(
            "medhalltune %s: %d question(s) have no row in %s (question_id %s%s); they are judged "
            "without the calibration sample (LLaVA-Med's judged answer).",
            split, loaded.n_without_reference, REFERENCE_FILES[split], shown,
            ", ..." if loaded.n_without_reference > 20 else "",
        )
    if loaded.unused_references:
        logger.info("medhalltune %s: %d reference row(s) name no question in %s; ignored.",
                    split, loaded.unused_references, QUESTION_FILES[split])
    # Fail now, not after hours of generation, when a text metric's assets are missing.
    check_text_metric_assets(BertScoreSettings.from_env())
    logger.info("medhalltune %s (%s): %d questions from %s", split, subset or "full", len(loaded.items), root)
    return datasets.Dataset.from_list([item_to_doc(item, subset) for item in loaded.items])


def docs_pos(dataset=None):
    return _docs("P", "")


def docs_neg(dataset=None):
    return _docs("N", "")


def docs_sample_pos(dataset=None):
    return _docs("P", "sample")


def docs_sample_neg(dataset=None):
    return _docs("N", "sample")


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The item's figure, decoded only now."""
    path = doc["image_path"]
    try:
        with Image.open(path) as image:
            return [image.convert("RGB")]
    except OSError as exc:
        raise DataRootError(f"medhalltune {doc['item_id']}: cannot read image {path}: {exc}") from None


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """The question as released, without the `<image>` placeholder (the image goes separately)."""
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


# ---------------------------------------------------------------- per-sample results


def _task_name(doc: dict[str, Any]) -> str:
    middle = f"_{doc['subset']}" if doc["subset"] else ""
    return f"medhalltune{middle}_{'pos' if doc['split'] == 'P' else 'neg'}"


def process_results(doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
    answer = results[0] if results else ""
    if not isinstance(answer, str):
        answer = "" if answer is None else str(answer)
    task = _task_name(doc)
    # What the judge aggregation needs to find the item again; the same dict for all four.
    judged = {"item_id": doc["item_id"], "task": task, "subset": doc["subset"], "split": doc["split"],
              "question_id": doc["question_id"], "answer": answer}
    [meteor] = meteor_scores([doc["ground_truth"]], [answer])
    [rouge_l] = rouge_l_scores([doc["ground_truth"]], [answer])
    return {
        **{f"medhalltune_{name}": judged for name in DIMENSIONS},
        "medhalltune_bertscore": {"item_id": doc["item_id"], "task": task, "ground_truth": doc["ground_truth"],
                                  "answer": answer},
        "medhalltune_meteor": meteor,
        "medhalltune_rouge_l": rouge_l,
        # Not a metric: the record for the sample log and the report.
        "medhalltune_trace": {"item_id": doc["item_id"], "task": task, "split": doc["split"],
                              "question_id": doc["question_id"], "image": doc["image"],
                              "question": doc["question"], "ground_truth": doc["ground_truth"],
                              "answer": answer, "meteor": meteor, "rouge_l": rouge_l},
    }


# ---------------------------------------------------------------- aggregations


def aggregate_mean(items: list[float]) -> float | None:
    """METEOR / ROUGE-L: the plain mean of the per-answer scores (None for no answers)."""
    return mean([float(x) for x in items])


def aggregate_clinical_accuracy(items: list[dict[str, Any]], args: Any = None) -> float | None:
    return _judge_mean("clinical_accuracy", items, args)


def aggregate_clinical_relevance(items: list[dict[str, Any]], args: Any = None) -> float | None:
    return _judge_mean("clinical_relevance", items, args)


def aggregate_detail_level(items: list[dict[str, Any]], args: Any = None) -> float | None:
    return _judge_mean("detail_level", items, args)


def aggregate_risk_level(items: list[dict[str, Any]], args: Any = None) -> float | None:
    return _judge_mean("risk_level", items, args)


def aggregate_bertscore(items: list[dict[str, Any]], args: Any = None) -> float | None:
    """Mean BERTScore F1 over the task, computed in one batched pass."""
    if not items:
        return None
    settings = BertScoreSettings.from_env()
    task = items[0]["task"]
    try:
        result = bertscore_f1([i["ground_truth"] for i in items], [i["answer"] for i in items], settings)
    except MetricAssetError as error:
        # process_docs checked the model before generation; if loading still fails now, keep
        # the run's other metrics rather than lose them all to this one.
        logger.error("%s medhalltune_bertscore is None: %s", task, error)
        return None
    provenance = result.provenance()
    lines = [
        {"item_id": item["item_id"], "score": score, "bertscore_model": result.model,
         "bertscore_num_layers": result.num_layers, "bertscore_settings": provenance["bert_score"]}
        for item, score in zip(items, result.f1, strict=True)
    ]
    path = write_judgments(args, task, "medhalltune_bertscore", lines)
    logger.info("%s medhalltune_bertscore: model %s, layer %d, device %s (%s)%s", task, result.model,
                result.num_layers, result.device, provenance["bert_score"],
                f"; per-answer F1 in {path}" if path else "")
    return mean(result.f1)


# One judge pass per task serves all four dimension metrics.
_judge_lock = threading.Lock()
_judged_tasks: dict[str, JudgeSummary | None] = {}


def _judge_mean(name: str, items: list[dict[str, Any]], args: Any) -> float | None:
    if not items:
        return None
    client = judge_client()
    if client is None:
        return None
    digest = hashlib.sha256(
        json.dumps([client.config.model, [(i["task"], i["item_id"], i["answer"]) for i in items]]).encode()
    ).hexdigest()
    with _judge_lock:  # the four aggregations of a task never judge twice
        if digest not in _judged_tasks:
            _judged_tasks[digest] = _judge_task(items, client, args, f"medhalltune_{name}")
        summary = _judged_tasks[digest]
    return None if summary is None else summary.means[name]


def _items_for(records: list[dict[str, Any]]) -> list[MedHallTuneItem]:
    """The items the records name, reloaded with their references from the same data root."""
    wanted = {(r["subset"], r["split"]) for r in records}
    index: dict[tuple[str, str, int], MedHallTuneItem] = {}
    for subset, split in wanted:
        for item in load_split(_root(subset), split, images=False).items:
            index[(subset, split, item.question_id)] = item
    try:
        return [index[(r["subset"], r["split"], r["question_id"])] for r in records]
    except KeyError as missing:
        raise DataRootError(
            f"medhalltune: question {missing} was answered but is no longer in the data root; "
            "did MEDHALLTUNE_DATA_DIR change during the run?"
        ) from None


def _judge_task(records: list[dict[str, Any]], client: JudgeClient, args: Any, metric: str) -> JudgeSummary | None:
    task = records[0]["task"]
    items = _items_for(records)
    templates = load_templates()
    try:
        outcomes = judge_answers(client, items, [r["answer"] for r in records], templates=templates,
                                 desc=f"judge: {task}")
    except JudgeUnavailableError as error:
        judge_unavailable(error, metric)
        return None
    summary = summarize_outcomes(outcomes, items)
    fingerprint = templates.fingerprint()
    lines = []
    for record, item, outcome in zip(records, items, outcomes, strict=True):
        line: dict[str, Any] = {
            "item_id": record["item_id"],
            "judge": "medhalltune",
            "judge_model": client.config.model,
            "scores": outcome.value.scores() if outcome.ok and outcome.value is not None else None,
            "explanation": outcome.value.explanation if outcome.ok and outcome.value is not None else None,
            "calibrated": item.reference is not None,
            "from_cache": outcome.from_cache,
            "error": outcome.error,
            "attempts": outcome.attempts,
            "templates_sha256": fingerprint,
        }
        if outcome.error is not None and outcome.raw is not None:
            line["raw_reply"] = outcome.raw[:_RAW_LIMIT]
        lines.append(line)
    path = write_judgments(args, task, JUDGE_METRIC, lines)
    cached = sum(o.from_cache for o in outcomes)
    # Failures change what the means stand on: say so where the user looks (warnings are shown).
    log = logger.warning if summary.n_failed or summary.n_without_reference else logger.info
    log(
        "%s judge (%s): %d answers, %d judged, %d failed (left out of the means), %d without the "
        "calibration sample, %d from cache%s",
        task, client.config.model, summary.n_answers, summary.n_judged, summary.n_failed,
        summary.n_without_reference, cached, f"; verdicts in {path}" if path else "",
    )
    return summary
