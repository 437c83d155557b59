"""Write lmms-eval 0.7.3-shaped output folders for the report tests.

The layout mirrors what `lmms_eval` writes with ``--output_path P --log_samples`` (checked against
a real 0.7.3 run): ``P/<model dir>/<date>_results.json``, ``<date>_samples_<task>.jsonl`` (no
``doc``; ``doc_hash`` is the same placeholder hash on every line), plus our
``judgments_<task>.jsonl``. Per-item outcomes are drawn from a seeded generator, and the
aggregated numbers in the results file are computed from them exactly as the tasks do.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NULL_DOC_HASH = "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"  # sha256("null")
SOURCES = ("vqa_rad", "pathvqa", "medframeqa", "medxpertqa")
STEP_OF_RUN = {"baseline": "clinhallu_h_v", "replace_vr": "clinhallu_h_k", "replace_vr_kr": "clinhallu_h_r"}
STEP_NAME = {"baseline": "visual_recognition", "replace_vr": "knowledge_recall", "replace_vr_kr": "reasoning"}
DIMS = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level")


@dataclass
class ClinItem:
    item_id: str
    valid: bool
    rule_correct: bool | None
    acc: int | None  # judge verdict; None = excluded
    step: int | None  # hallucinated 1/0; None = no step metric for the run
    judge_error: bool = False


@dataclass
class MedItem:
    item_id: str
    scores: dict[str, int | None]
    bertscore: float
    meteor: float
    rouge_l: float


@dataclass
class TaskSpec:
    """One task's per-item outcomes, or fixed metric values (results-only, no per-item files)."""

    items: list[Any] = field(default_factory=list)
    metrics: dict[str, float | None] | None = None
    n_original: int | None = None


def clin_items(
    source: str, run: str, n: int, acc_p: float, step_p: float, seed: int, valid_p: float = 0.95
) -> list[ClinItem]:
    """Seeded per-item outcomes for a ClinHallu task."""
    rng = random.Random(f"{seed}-{source}-{run}")
    items = []
    for i in range(n):
        valid = rng.random() < valid_p
        correct = rng.random() < acc_p
        acc = (1 if correct else 0) if valid else None
        step = (1 if rng.random() < step_p else 0) if run in STEP_OF_RUN else None
        items.append(ClinItem(f"{source}-{i:04d}", valid, correct if valid else None, acc, step))
    return items


def med_items(split: str, n: int, mean: float, seed: int) -> list[MedItem]:
    """Seeded per-item judge scores and text metrics for a MedHallTune split."""
    rng = random.Random(f"{seed}-{split}")
    out = []
    for i in range(n):
        scores = {d: max(1, min(10, round(rng.gauss(mean, 1.5)))) for d in DIMS}
        out.append(MedItem(f"{split}-{i}", scores, 0.85 + 0.1 * rng.random(), rng.random() * 0.5, rng.random() * 0.4))
    return out


def _pct(values: list[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return 100.0 * sum(kept) / len(kept) if kept else None


def _mean(values: list[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def clin_metrics(run: str, items: list[ClinItem], judge: bool = True) -> dict[str, float | None]:
    """The aggregated numbers a ClinHallu task reports for these items."""
    out = {
        "clinhallu_valid_rate": _pct([int(i.valid) for i in items]),
        "clinhallu_acc_rule": _pct([None if i.rule_correct is None else int(i.rule_correct) for i in items]),
        "clinhallu_acc": _pct([i.acc for i in items]) if judge else None,
    }
    if run in STEP_OF_RUN:
        out[STEP_OF_RUN[run]] = _pct([i.step for i in items]) if judge else None
    return out


def med_metrics(items: list[MedItem]) -> dict[str, float | None]:
    """The aggregated numbers a MedHallTune task reports for these items."""
    judged = [i for i in items if all(v is not None for v in i.scores.values())]  # a failure has no scores
    out: dict[str, float | None] = {f"medhalltune_{d}": _mean([i.scores[d] for i in judged]) for d in DIMS}
    out["medhalltune_bertscore"] = _mean([i.bertscore for i in items])
    out["medhalltune_meteor"] = _mean([i.meteor for i in items])
    out["medhalltune_rouge_l"] = _mean([i.rouge_l for i in items])
    return out


def _config(task: str) -> dict[str, Any]:
    return {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": "/somewhere/stub.json"}},
        "test_split": "test",
        "doc_to_visual": "<function doc_to_visual at 0x7f64029a0d60>",
        "doc_to_text": "<function doc_to_text at 0x7f64029a0900>",
        "doc_to_target": "answer",
        "process_results": "<function process_results at 0x7f64029a11c0>",
        "description": "",
        "num_fewshot": 0,
        "metric_list": [
            {"metric": "clinhallu_acc", "aggregation": "<function agg at 0x7f6>", "higher_is_better": True}
        ],
        "output_type": "generate_until",
        "generation_kwargs": {"max_new_tokens": 4096, "temperature": 0.7, "top_p": 0.9, "until": ["\n\n"]},
        "metadata": {"version": 1.0, "prompt_template_sha256": "ab" * 32},
    }


def write_run(
    out_path: Path,
    model_name: str,
    tasks: dict[str, TaskSpec],
    date_id: str = "20260101_120000",
    model_args: str | None = None,
    samples: bool = True,
    judgments: bool = True,
    judge_model: str = "Qwen3.5-27B",
    limit: int | None = None,
) -> Path:
    """Write one lmms-eval invocation's output for `model_name`; returns the results file."""
    folder = out_path / model_name.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    n_samples: dict[str, Any] = {}
    for task, spec in tasks.items():
        is_med = task.startswith("medhalltune")
        run = task.rsplit("_", 1)[-1]
        for r in ("replace_vr_kr", "replace_vr", "replace_kr", "baseline"):
            if task.endswith(r):
                run = r
                break
        if spec.metrics is not None:
            metrics = dict(spec.metrics)
        elif is_med:
            metrics = med_metrics(spec.items)
        else:
            metrics = clin_metrics(run, spec.items)
        entry: dict[str, Any] = {"alias": task}
        for k, v in metrics.items():
            entry[f"{k},none"] = v
            entry[f"{k}_stderr,none"] = "N/A"
        entry["clinhallu_trace,none"] = []
        results[task] = entry
        n = len(spec.items) if spec.items else (spec.n_original or 0)
        n_samples[task] = {"original": spec.n_original or n, "effective": n}
        if samples and spec.items:
            _write_samples(folder / f"{date_id}_samples_{task}.jsonl", task, run, spec.items, is_med)
        if judgments and spec.items:
            _write_judgments(folder / f"judgments_{task}.jsonl", task, run, spec.items, is_med, judge_model)
    raw = {
        "results": results,
        "group_subtasks": {t: [] for t in tasks},
        "configs": {t: _config(t) for t in tasks},
        "versions": {t: 1.0 for t in tasks},
        "n-shot": {t: 0 for t in tasks},
        "higher_is_better": {t: {} for t in tasks},
        "n-samples": n_samples,
        "config": {
            "model": "openai_compatible",
            "model_args": model_args or f"model_version={model_name},base_url=http://127.0.0.1:8000/v1",
            "model_backend": "lmms_eval.models.chat.openai_compatible.OpenAICompatible (chat)",
            "batch_size": 1,
            "batch_sizes": [],
            "limit": limit,
            "offset": 0,
            "bootstrap_iters": 100000,
            "gen_kwargs": {"temperature": 0.7},
            "random_seed": 0,
            "numpy_seed": 1234,
            "torch_seed": 1234,
            "fewshot_seed": 1234,
        },
        "git_hash": None,
        "git_branch": "main",
        "lmms_eval_version": "main@unknown",
        "date": date_id,
        "task_hashes": {t: "f" * 64 for t in tasks} if samples else {},
        "model_source": "openai_compatible",
        "model_name": model_name,
        "model_name_sanitized": model_name.replace("/", "__"),
        "system_instruction": None,
        "system_instruction_sha": None,
        "chat_template": None,
        "chat_template_sha": None,
    }
    path = folder / f"{date_id}_results.json"
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return path


def _write_samples(path: Path, task: str, run: str, items: list[Any], is_med: bool) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for doc_id, it in enumerate(items):
            line: dict[str, Any] = {
                "doc_id": doc_id,
                "target": f"answer {it.item_id}",
                "filtered_resps": "[Visual Recognition] ...",
                "token_counts": [None],
                "doc_hash": NULL_DOC_HASH,
                "input": f"prompt for {it.item_id}",
            }
            if is_med:  # as clinhallu_tasks/lmms/medhalltune_hooks.py: BERTScore is batched in the aggregation
                line.update(
                    {
                        "medhalltune_bertscore": {"item_id": it.item_id, "ground_truth": "gt", "answer": "a"},
                        "medhalltune_meteor": it.meteor,
                        "medhalltune_rouge_l": it.rouge_l,
                        **{f"medhalltune_{d}": {"item_id": it.item_id, "answer": "..."} for d in DIMS},
                        "medhalltune_trace": {"item_id": it.item_id, "question": f"q {it.item_id}",
                                              "meteor": it.meteor, "rouge_l": it.rouge_l},
                    }
                )  # fmt: skip
            else:
                line.update(
                    {
                        "clinhallu_valid_rate": int(it.valid),
                        "clinhallu_acc_rule": None if it.rule_correct is None else int(it.rule_correct),
                        "clinhallu_acc": {"item_id": it.item_id, "question": "q", "valid": it.valid},
                        "clinhallu_trace": {
                            "item_id": it.item_id,
                            "source": task.split("_")[1],
                            "run": run,
                            "question": f"question {it.item_id}",
                            "ground_truth": f"answer {it.item_id}",
                            "image_paths": [f"/data/images/{it.item_id}.png"],
                            "gold_steps": {"visual_recognition": "v", "knowledge_recall": "k", "reasoning": "r"},
                            "valid": it.valid,
                            "rule_correct": it.rule_correct,
                        },
                    }
                )
                if run in STEP_OF_RUN:
                    line[STEP_OF_RUN[run]] = {"item_id": it.item_id, "step": STEP_NAME[run]}
            fh.write(json.dumps(line) + "\n")


def _write_judgments(path: Path, task: str, run: str, items: list[Any], is_med: bool, judge_model: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for it in items:
            if is_med:
                failed = any(v is None for v in it.scores.values())
                judge_line = {
                    "task": task,
                    "metric": "medhalltune_judge",
                    "item_id": it.item_id,
                    "judge": "medhalltune",
                    "judge_model": judge_model,
                    "scores": None if failed else it.scores,
                    "explanation": None if failed else "...",
                    "from_cache": False,
                    "error": "bad reply" if failed else None,
                    "attempts": 1,
                    "templates_sha256": "cd" * 32,
                }
                bert_line = {
                    "task": task,
                    "metric": "medhalltune_bertscore",
                    "item_id": it.item_id,
                    "score": it.bertscore,
                    "bertscore_model": "roberta-large",
                    "bertscore_num_layers": 17,
                }
                fh.write(json.dumps(judge_line) + "\n" + json.dumps(bert_line) + "\n")
                continue
            lines = [("clinhallu_acc", "answer", it.acc, None if it.valid else "invalid trace")]
            if run in STEP_OF_RUN:
                lines.append((STEP_OF_RUN[run], STEP_NAME[run], it.step, None))
            for metric, judge, score, no_call in lines:
                fh.write(
                    json.dumps(
                        {
                            "task": task,
                            "metric": metric,
                            "item_id": it.item_id,
                            "judge": judge,
                            "judge_model": judge_model,
                            "score": score,
                            "reason": "...",
                            "from_cache": False,
                            "error": "judge failed" if it.judge_error else None,
                            "no_call_reason": no_call,
                        }
                    )
                    + "\n"
                )


def full_model(
    out_path: Path,
    name: str,
    acc_p: float,
    step_p: float,
    n: int = 40,
    seed: int = 0,
    replace_kr: bool = False,
    medhalltune: bool = True,
    **kwargs: Any,
) -> Path:
    """A complete ClinHallu (four sources, three or four runs) and MedHallTune run for one model."""
    tasks: dict[str, TaskSpec] = {}
    runs = ["baseline", "replace_vr", "replace_vr_kr"] + (["replace_kr"] if replace_kr else [])
    for source in SOURCES:
        for run in runs:
            lift = {"baseline": 0.0, "replace_vr": 0.08, "replace_vr_kr": 0.15, "replace_kr": 0.05}[run]
            tasks[f"clinhallu_{source}_{run}"] = TaskSpec(
                clin_items(source, run, n, min(0.99, acc_p + lift), step_p * (1.0 - lift * 2), seed)
            )
    if medhalltune:
        tasks["medhalltune_pos"] = TaskSpec(med_items("P", n, 6.0 + acc_p, seed))
        tasks["medhalltune_neg"] = TaskSpec(med_items("N", n, 4.5 + acc_p, seed))
    return write_run(out_path, name, tasks, **kwargs)
