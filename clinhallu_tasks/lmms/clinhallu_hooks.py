"""lmms-eval hooks for the ClinHallu tasks: translate documents to core calls and back.

The YAMLs in task_yaml/clinhallu/ name these functions. Everything that knows the
benchmark lives in clinhallu_tasks.clinhallu; this module only converts.

lmms-eval gives `process_docs` and `process_results` no per-task arguments, so the
source and the run are carried by which function a YAML names (one small function each).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from PIL import Image

from clinhallu_tasks.clinhallu.items import ClinHalluItem, GoldTrace, Run
from clinhallu_tasks.clinhallu.judged import judged_accuracy, stage_hallucination_rate
from clinhallu_tasks.clinhallu.loading import load_source, missing_images
from clinhallu_tasks.clinhallu.prompts import build_prompt, gold_given_steps
from clinhallu_tasks.clinhallu.scoring import (
    JUDGED_STEP,
    answer_judge_input,
    mean_percent,
    percent_of_ones,
    score_response,
    step_judge_input,
)
from clinhallu_tasks.errors import DataRootError
from clinhallu_tasks.judging import JudgeUnavailableError
from clinhallu_tasks.lmms.judge_support import judge_client, judge_unavailable, write_judgments

logger = logging.getLogger("clinhallu_tasks")

MAX_LISTED_PROBLEMS = 20

# ---------------------------------------------------------------- documents


def item_to_doc(item: ClinHalluItem) -> dict[str, str]:
    """A flat all-string row: Arrow never has to guess types across mixed records."""
    return {
        "item_id": item.item_id,
        "source": item.source,
        "question": item.question,
        "question_type": item.question_type,
        "answer": item.answer,
        "answer_letter": item.answer_letter or "",
        "options": json.dumps(list(item.options), ensure_ascii=False),
        "image_paths": json.dumps(list(item.image_paths), ensure_ascii=False),
        "gold": json.dumps(item.gold.__dict__, ensure_ascii=False),
        "metadata": json.dumps(dict(item.metadata), ensure_ascii=False, default=str),
    }


def item_from_doc(doc: dict[str, Any]) -> ClinHalluItem:
    return ClinHalluItem(
        source=doc["source"],
        item_id=doc["item_id"],
        question=doc["question"],
        question_type=doc["question_type"],
        answer=doc["answer"],
        answer_letter=doc["answer_letter"] or None,
        options=tuple(json.loads(doc["options"])),
        image_paths=tuple(json.loads(doc["image_paths"])),
        gold=GoldTrace(**json.loads(doc["gold"])),
        metadata=json.loads(doc["metadata"]),
    )


def _docs(source: str):
    import datasets

    items = load_source(source)
    missing = list(missing_images(items))
    if missing:
        listed = "\n".join(f"  {item.item_id}: {path}" for item, path in missing[:MAX_LISTED_PROBLEMS])
        more = len(missing) - MAX_LISTED_PROBLEMS
        raise DataRootError(
            f"clinhallu {source}: {len(missing)} image file(s) missing or empty"
            f"{f' (first {MAX_LISTED_PROBLEMS} listed)' if more > 0 else ''}:\n{listed}\n"
            "Run `clinhallu-tasks check` for a full report."
        )
    logger.info("clinhallu %s: %d items", source, len(items))
    return datasets.Dataset.from_list([item_to_doc(item) for item in items])


def docs_vqa_rad(dataset=None):
    return _docs("vqa_rad")


def docs_pathvqa(dataset=None):
    return _docs("pathvqa")


def docs_medframeqa(dataset=None):
    return _docs("medframeqa")


def docs_medxpertqa(dataset=None):
    return _docs("medxpertqa")


def docs_sample(dataset=None):
    return _docs("sample")


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """All of the item's images, in their listed order, decoded only now."""
    images = []
    for path in json.loads(doc["image_paths"]):
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except OSError as exc:
            raise DataRootError(f"clinhallu item {doc['item_id']}: cannot read image {path}: {exc}") from None
    return images


# ---------------------------------------------------------------- prompts


def _prompt(doc: dict[str, Any], run: Run, kwargs: dict[str, Any] | None) -> str:
    kwargs = kwargs or {}
    item = item_from_doc(doc)
    return build_prompt(
        item,
        run,
        gold_given_steps(item, run),
        pre_prompt=kwargs.get("pre_prompt", ""),
        post_prompt=kwargs.get("post_prompt", ""),
    )


def doc_to_text_baseline(doc, lmms_eval_specific_kwargs=None):
    return _prompt(doc, "baseline", lmms_eval_specific_kwargs)


def doc_to_text_replace_vr(doc, lmms_eval_specific_kwargs=None):
    return _prompt(doc, "replace_vr", lmms_eval_specific_kwargs)


def doc_to_text_replace_vr_kr(doc, lmms_eval_specific_kwargs=None):
    return _prompt(doc, "replace_vr_kr", lmms_eval_specific_kwargs)


# ---------------------------------------------------------------- per-sample results


def _results(doc: dict[str, Any], results: Sequence[str], run: Run) -> dict[str, Any]:
    item = item_from_doc(doc)
    record = score_response(item, run, results[0] if results else "", gold_given_steps(item, run))
    record["task"] = f"clinhallu_{item.source}_{run}"
    stage_metric = {"baseline": "clinhallu_h_v", "replace_vr": "clinhallu_h_k", "replace_vr_kr": "clinhallu_h_r"}
    return {
        "clinhallu_valid_rate": int(record["valid"]),
        "clinhallu_acc_rule": None if record["rule_correct"] is None else int(record["rule_correct"]),
        "clinhallu_token_f1": record["token_f1"],
        "clinhallu_acc": {**answer_judge_input(record), "task": record["task"]},
        stage_metric[run]: {**step_judge_input(record, JUDGED_STEP[run]), "task": record["task"]},
        "clinhallu_trace": record,  # not a metric: the full record, for the sample log and the report
    }


def process_results_baseline(doc, results):
    return _results(doc, results, "baseline")


def process_results_replace_vr(doc, results):
    return _results(doc, results, "replace_vr")


def process_results_replace_vr_kr(doc, results):
    return _results(doc, results, "replace_vr_kr")


# ---------------------------------------------------------------- aggregations


def aggregate_valid_rate(items: list[int]) -> float | None:
    return percent_of_ones(items)


def aggregate_acc_rule(items: list[int | None]) -> float | None:
    return percent_of_ones(items)


def aggregate_token_f1(items: list[float | None]) -> float | None:
    return mean_percent(items)


def mean_of_sources(metrics: list[float | None], sizes: list[int], weight_by_size: bool = False) -> float | None:
    """A group's value as the leaderboard's "Avg": the unweighted mean of its tasks.

    None when any task has no value (no judge, no valid trace): a partial average would
    read as a full one.
    """
    if not metrics or any(m is None for m in metrics):
        return None
    return sum(metrics) / len(metrics)


_STAGE_METRIC = {
    "visual_recognition": "clinhallu_h_v",
    "knowledge_recall": "clinhallu_h_k",
    "reasoning": "clinhallu_h_r",
}


def aggregate_acc(items: list[dict[str, Any]], args=None) -> float | None:
    """Judge accuracy over the whole task: every answer-judge call issued at once."""
    return _judged("clinhallu_acc", judged_accuracy, items, args)


def aggregate_stage_rate(items: list[dict[str, Any]], args=None) -> float | None:
    """H^V, H^K or H^R (which one is fixed by the step each item carries)."""
    metric = _STAGE_METRIC[items[0]["step"]] if items else "clinhallu_h"
    return _judged(metric, stage_hallucination_rate, items, args)


def _judged(metric: str, score_fn, items: list[dict[str, Any]], args: Any) -> float | None:
    client = judge_client()
    if client is None or not items:
        return None
    try:
        score = score_fn(items, client)
    except JudgeUnavailableError as error:
        judge_unavailable(error, metric)
        return None
    task = items[0].get("task", "clinhallu")
    path = write_judgments(args, task, metric, score.judgments)
    logger.info("%s %s: %s%s", task, metric, score.summary(), f" (verdicts in {path})" if path else "")
    return score.value
