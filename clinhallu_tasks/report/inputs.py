"""Read lmms-eval output folders: the one place that knows their file layout.

lmms-eval 0.7.3 writes, under ``--output_path P``:

- ``P/<model dir>/<date>_results.json``: ``results`` (task -> ``"<metric>,<filter>"`` values),
  ``configs`` (task -> resolved task config), ``config`` (model, model_args, gen_kwargs, limit...),
  ``versions``, ``n-samples``, ``task_hashes``, ``lmms_eval_version``, ``date``, ``model_name``.
  The model dir is empty (files directly in P) when lmms-eval cannot name the model.
- with ``--log_samples``: ``P/<model dir>/<date>_samples_<task>.jsonl``, one line per doc with
  ``doc_id``, ``target``, ``input``, ``filtered_resps``, ``doc_hash`` and every key that
  ``process_results`` returned (ours add ``clinhallu_trace``). ``doc`` itself is dropped by 0.7.3
  and ``doc_hash`` hashes a placeholder (the same for every line), so neither is relied upon.
- our judge aggregations write ``P/<model dir>/judgments_<task>.jsonl`` beside them.

Everything here is plain data; nothing imports lmms_eval, numpy or a model backend.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_SUFFIX = "_results.json"

_CLINHALLU_TASK = re.compile(r"^clinhallu_(?P<source>.+?)_(?P<run>baseline|replace_vr_kr|replace_vr|replace_kr)$")
_MEDHALLTUNE_TASK = re.compile(r"^medhalltune(?:_(?P<subset>.+?))?_(?P<split>pos|neg)$")

# Per-item values stored in the sample log (numbers) for these metrics.
SAMPLE_LOG_METRICS = (
    "clinhallu_valid_rate",
    "clinhallu_acc_rule",
    "medhalltune_bertscore",
    "medhalltune_meteor",
    "medhalltune_rouge_l",
)
# Per-item verdicts read from judgments_<task>.jsonl.
JUDGED_METRICS = ("clinhallu_acc", "clinhallu_h_v", "clinhallu_h_k", "clinhallu_h_r")
MEDHALLTUNE_DIMENSIONS = ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level")
# Per-item text scores an aggregation may write into the judgments file (not judge verdicts).
TEXT_METRIC_LINES = frozenset({"medhalltune_bertscore", "medhalltune_meteor", "medhalltune_rouge_l"})
# Sample-log metrics whose per-item value is a 0/1 (or True/False) reported in percent.
PERCENT_METRICS = frozenset(
    {"clinhallu_valid_rate", "clinhallu_acc_rule", "clinhallu_acc", "clinhallu_h_v", "clinhallu_h_k", "clinhallu_h_r"}
)


@dataclass(frozen=True)
class ClinHalluTask:
    """A ClinHallu task name taken apart."""

    source: str  # vqa_rad, pathvqa, medframeqa, medxpertqa, sample
    run: str  # baseline, replace_vr, replace_kr, replace_vr_kr


@dataclass(frozen=True)
class MedHallTuneTask:
    """A MedHallTune task name taken apart."""

    subset: str  # "" for the full benchmark, "sample" for the test subset
    split: str  # "P" or "N"


def parse_task_name(task: str) -> ClinHalluTask | MedHallTuneTask | None:
    """Classify a task name; None for anything that is not one of ours (groups included)."""
    m = _CLINHALLU_TASK.match(task)
    if m:
        return ClinHalluTask(m["source"], m["run"])
    m = _MEDHALLTUNE_TASK.match(task)
    if m:
        return MedHallTuneTask(m["subset"] or "", "P" if m["split"] == "pos" else "N")
    return None


@dataclass
class ResultsFile:
    """One ``<date>_results.json`` and what it says about the run as a whole."""

    path: Path
    date_id: str
    model_name: str
    config: dict[str, Any]
    lmms_eval_version: str | None
    date: str | None
    task_hashes: dict[str, str]
    top_level: dict[str, Any]


@dataclass(frozen=True)
class SampleRow:
    """What the report keeps of one sample-log line (the line itself, with the model's output, is not kept).

    `values`: the raw per-item value of each metric in SAMPLE_LOG_METRICS found on the line (or in
    its trace); `data_sha`: fingerprint of the item (`item_fingerprint`); `prompt_sha`: sha256 of
    the prompt text sent (lmms-eval's ``input``).
    """

    item_id: str
    values: dict[str, Any]
    data_sha: str
    prompt_sha: str | None


@dataclass
class TaskData:
    """Everything read for one task of one model."""

    task: str
    results_file: ResultsFile
    metrics: dict[str, float | None]
    config: dict[str, Any]
    version: Any
    n_original: int | None
    n_effective: int | None
    samples: list[SampleRow] | None
    samples_file: Path | None
    judgments: list[dict[str, Any]]
    judgments_file: Path | None
    recorded_fingerprints: dict[str, list[str]] = field(default_factory=dict)
    text_metric_settings: dict[str, Any] = field(default_factory=dict)
    superseded: list[Path] = field(default_factory=list)
    _values: dict[str, dict[str, float | None] | None] = field(default_factory=dict, init=False, repr=False)
    _counts: dict[str, dict[str, int]] | None = field(default=None, init=False, repr=False)

    @property
    def has_samples(self) -> bool:
        """Whether a sample log was found for this task."""
        return self.samples is not None

    def sample_item_ids(self) -> list[str] | None:
        """Item ids in sample-log order; None without a sample log."""
        if self.samples is None:
            return None
        return [row.item_id for row in self.samples]

    def item_values(self, metric: str) -> dict[str, float | None] | None:
        """Per-item values of `metric` on the metric's own scale; None when no per-item data exists.

        A value of None means the item is excluded from that metric (e.g. an answer the judge
        could not score, or an invalid trace for rule accuracy). Treat the result as read-only.
        """
        if metric not in self._values:
            self._values[metric] = self._item_values(metric)
        return self._values[metric]

    def _item_values(self, metric: str) -> dict[str, float | None] | None:
        if metric in JUDGED_METRICS:
            return self._judged(metric)
        name = metric[len("medhalltune_") :] if metric.startswith("medhalltune_") else None
        if name in MEDHALLTUNE_DIMENSIONS:
            return self._judged_key(name)
        if metric in SAMPLE_LOG_METRICS:
            values = self._from_samples(metric)
            if values is None and name is not None:  # text scores computed in the aggregation
                values = self._judged_key(name)
            return values
        return None

    def _from_samples(self, metric: str) -> dict[str, float | None] | None:
        if self.samples is None:
            return None
        scale = 100.0 if metric in PERCENT_METRICS else 1.0
        out: dict[str, float | None] = {}
        found = False
        for row in self.samples:
            raw = row.values.get(metric, _MISSING)
            value = _number(raw)
            # A mapping without a number is an aggregation's input (BERTScore is computed over
            # the whole task), not a per-item value: the values live in the judgments file then.
            if raw is not _MISSING and not (isinstance(raw, Mapping) and value is None):
                found = True
            out[row.item_id] = None if value is None else value * scale
        return out if found else None

    def _restrict(self, values: dict[str, float | None]) -> dict[str, float | None]:
        ids = self.sample_item_ids()
        if ids is None:
            return values
        keep = set(ids)
        restricted = {k: v for k, v in values.items() if k in keep}
        # Judgments that share no id with the sample log use another id form: keep them all
        # rather than silently dropping every verdict.
        return restricted if restricted else values

    def _judged(self, metric: str) -> dict[str, float | None] | None:
        lines = [j for j in self.judgments if j.get("metric") == metric]
        if not lines:
            return None
        out: dict[str, float | None] = {}
        for line in lines:  # the last line for an item wins (a re-run appends)
            value = _number(line.get("score"))
            out[str(line.get("item_id"))] = None if value is None else 100.0 * value
        return self._restrict(out)

    def _judged_key(self, name: str) -> dict[str, float | None] | None:
        """MedHallTune per-item values from judgment lines: ``scores[name]``, or a line whose
        metric is ``medhalltune_<name>`` with a numeric ``score``."""
        out: dict[str, float | None] = {}
        judge_dimension = name in MEDHALLTUNE_DIMENSIONS
        for line in self.judgments:
            scores = line.get("scores", _MISSING)
            if judge_dimension and scores is not _MISSING:  # a judge line; scores is None on a failure
                out[str(line.get("item_id"))] = _number(scores.get(name)) if isinstance(scores, Mapping) else None
            elif line.get("metric") == f"medhalltune_{name}" and "score" in line:
                out[str(line.get("item_id"))] = _number(line.get("score"))
        return self._restrict(out) if out else None

    def judge_models(self) -> list[str]:
        """The judge model names recorded in the judgments file."""
        return sorted({str(j["judge_model"]) for j in self.judgments if j.get("judge_model")})

    def judgment_counts(self) -> dict[str, dict[str, int]]:
        """Per judged metric: lines, failures (error), no-call lines, cached verdicts, excluded."""
        if self._counts is None:
            self._counts = self._judgment_counts()
        return self._counts

    def _judgment_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        keep = set(self.sample_item_ids() or []) or None
        for line in self.judgments:
            item = str(line.get("item_id"))
            if (keep is not None and item not in keep) or line.get("metric") in TEXT_METRIC_LINES:
                continue
            latest[(str(line.get("metric")), str(line.get("judge", "")), item)] = line
        for (metric, _judge, _item), line in latest.items():
            c = counts.setdefault(metric, {"lines": 0, "failures": 0, "no_call": 0, "cached": 0, "excluded": 0})
            c["lines"] += 1
            if line.get("error"):
                c["failures"] += 1
            if line.get("no_call_reason"):
                c["no_call"] += 1
            if line.get("from_cache"):
                c["cached"] += 1
            scores = line.get("scores")
            if isinstance(scores, Mapping):
                if any(_number(v) is None for v in scores.values()) or not scores:
                    c["excluded"] += 1
            elif _number(line.get("score")) is None:
                c["excluded"] += 1
        return counts


@dataclass
class ModelData:
    """All tasks read for one model (possibly from several results files and folders)."""

    name: str
    tasks: dict[str, TaskData]
    results_files: list[ResultsFile]
    warnings: list[str] = field(default_factory=list)


_MISSING = object()


def _number(value: Any) -> float | None:
    """A finite number from a per-item value, else None (bools count as 0/1)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Mapping):
        for key in ("score", "value", "f1", "fmeasure"):
            if key in value:
                return _number(value[key])
    return None


_TRACE_FIELDS = {
    "clinhallu_valid_rate": "valid",
    "clinhallu_acc_rule": "rule_correct",
    "medhalltune_bertscore": "bertscore",
    "medhalltune_meteor": "meteor",
    "medhalltune_rouge_l": "rouge_l",
}


def _traces(sample: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key, value in sample.items():
        if key.endswith("_trace") and isinstance(value, Mapping):
            yield value


def _from_trace(sample: Mapping[str, Any], metric: str) -> Any:
    name = _TRACE_FIELDS.get(metric)
    if name is None:
        return _MISSING
    for trace in _traces(sample):
        if name in trace:
            return trace[name]
    return _MISSING


def trace_of(sample: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The per-sample record our tasks log (``clinhallu_trace`` or another ``*_trace``)."""
    value = sample.get("clinhallu_trace")
    if isinstance(value, Mapping):
        return value
    return next(iter(_traces(sample)), None)


def item_id_of(sample: Mapping[str, Any]) -> str:
    """The benchmark item id of a sample-log line (trace, then metric inputs, then doc, then doc_id)."""
    for trace in _traces(sample):
        if trace.get("item_id") not in (None, ""):
            return str(trace["item_id"])
    for value in sample.values():
        if isinstance(value, Mapping) and value.get("item_id") not in (None, ""):
            return str(value["item_id"])
    doc = sample.get("doc")
    if isinstance(doc, Mapping):
        for key in ("item_id", "question_id", "id"):
            if doc.get(key) not in (None, ""):
                return str(doc[key])
    return f"doc{sample.get('doc_id')}"


def _iter_jsonl(path: Path, warnings: list[str]) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                warnings.append(f"{path.name}, line {lineno}: not JSON ({exc.msg}); line skipped")
                continue
            if isinstance(row, dict):
                yield row


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# Trace fields that define an item (not a run, not a model): question, answer key, gold steps.
_DATA_TRACE_FIELDS = ("question", "question_type", "ground_truth", "gold_steps", "options", "caption", "fig_caption")


def item_fingerprint(sample: Mapping[str, Any], item_id: str) -> str:
    """sha256 of what defines an item: id, target and, from our trace, question, answer, gold steps, image names.

    Run-specific parts (given steps, model output) are left out, so all runs of a source agree,
    and so do two models evaluated on the same items.
    """
    record: dict[str, Any] = {"item_id": item_id, "target": sample.get("target")}
    trace = trace_of(sample)
    if trace is not None:
        for key in _DATA_TRACE_FIELDS:
            if key in trace:
                record[key] = trace[key]
        images = trace.get("image_paths") or trace.get("images")
        if isinstance(images, (list, tuple)):
            record["images"] = [Path(str(p)).name for p in images]
    return _sha256(_canonical(record))


def _is_fingerprint_key(key: str) -> bool:
    k = key.lower()
    return "fingerprint" in k or "template" in k or k.endswith(("_sha", "_sha256"))


def _collect_fingerprints(obj: Mapping[str, Any], where: str, found: dict[str, set[str]]) -> None:
    for k, v in obj.items():
        if isinstance(v, str) and _is_fingerprint_key(str(k)):
            found.setdefault(f"{where}.{k}", set()).add(v)


# Template/prompt fingerprints are per task or per judge, not per item: scan this many lines of each kind.
FINGERPRINT_SCAN = 20
# Judgment keys the report never reads (free text that can be long).
_DROPPED_JUDGMENT_KEYS = ("reason", "raw_reply", "explanation", "result")


def condense_sample(sample: Mapping[str, Any]) -> SampleRow:
    """The compact row the report keeps of one sample-log line."""
    item_id = item_id_of(sample)
    values: dict[str, Any] = {}
    for metric in SAMPLE_LOG_METRICS:
        raw = sample.get(metric, _MISSING)
        if isinstance(raw, Mapping) and _number(raw) is None:
            raw = _MISSING  # the metric's input record (scored later, in the aggregation), not a value
        if raw is _MISSING:
            raw = _from_trace(sample, metric)
        if raw is not _MISSING:
            values[metric] = raw
    prompt = sample.get("input", sample.get("arguments"))
    return SampleRow(
        item_id=item_id,
        values=values,
        data_sha=item_fingerprint(sample, item_id),
        prompt_sha=None if prompt is None else _sha256(_canonical(prompt)),
    )


def read_samples(path: Path, warnings: list[str], found: dict[str, set[str]]) -> list[SampleRow]:
    """Condense a sample log line by line (memory stays small however long the outputs are)."""
    rows = []
    for i, sample in enumerate(_iter_jsonl(path, warnings)):
        if i < FINGERPRINT_SCAN:
            trace = trace_of(sample)
            if trace is not None:
                _collect_fingerprints(trace, "trace", found)
        rows.append(condense_sample(sample))
    return rows


def read_judgments(
    path: Path, task: str, warnings: list[str], found: dict[str, set[str]], settings: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The judgment lines of `task`, without their free-text fields.

    `settings` receives the text-metric settings recorded on such lines (e.g. ``bertscore_model``).
    """
    out = []
    seen: dict[str, int] = {}
    for line in _iter_jsonl(path, warnings):
        if line.get("task", task) != task:
            continue
        if settings is not None and line.get("metric") in TEXT_METRIC_LINES:
            prefix = str(line["metric"])[len("medhalltune_") :] + "_"
            for key, value in line.items():
                if key.startswith(prefix) and key not in settings:
                    settings[key] = value
        kind = f"{line.get('metric')}/{line.get('judge')}"
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= FINGERPRINT_SCAN:
            _collect_fingerprints(line, "judgment", found)
        for key in _DROPPED_JUDGMENT_KEYS:
            line.pop(key, None)
        out.append(line)
    return out


def _metric_values(task_results: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in task_results.items():
        if "," not in key:
            continue
        metric, filt = key.rsplit(",", 1)
        if "_stderr" in metric or (metric in out and filt != "none"):
            continue
        out[metric] = _number(value)
    return out


def model_name_from(results: Mapping[str, Any], path: Path) -> str:
    """The model's name as lmms-eval recorded it, else from model_args, else the folder name."""
    name = results.get("model_name")
    if isinstance(name, str) and name:
        return name
    config = results.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, str):
        for prefix in ("pretrained=", "model=", "model_version=", "model_name=", "model_id=", "path="):
            for part in args.split(","):
                if part.strip().startswith(prefix):
                    return part.strip()[len(prefix) :]
    elif isinstance(args, Mapping):
        for key in ("pretrained", "model", "model_version", "model_name", "model_id", "path"):
            if args.get(key):
                return str(args[key])
    model = config.get("model")
    if isinstance(model, str) and model:
        return model
    return path.parent.name


def find_results_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every ``*_results.json`` named by or found under `paths`: argument order, sorted within a folder."""
    found: dict[Path, None] = {}
    for p in map(Path, paths):
        if p.is_file():
            found.setdefault(p.resolve())
        elif p.is_dir():
            for f in sorted(p.rglob(f"*{RESULTS_SUFFIX}")):
                if f.is_file():
                    found.setdefault(f.resolve())
    return list(found)


def read_results_file(path: Path) -> tuple[ResultsFile, dict[str, Any]]:
    """Parse one results JSON; returns its run-level record and the raw dict."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("results"), dict):
        raise ValueError(f"{path}: not an lmms-eval results file (no 'results' object)")
    date_id = path.name[: -len(RESULTS_SUFFIX)] if path.name.endswith(RESULTS_SUFFIX) else path.stem
    top = {k: v for k, v in raw.items() if k not in ("results", "configs", "samples")}
    rf = ResultsFile(
        path=path,
        date_id=date_id,
        model_name=model_name_from(raw, path),
        config=dict(raw.get("config") or {}),
        lmms_eval_version=raw.get("lmms_eval_version"),
        date=raw.get("date"),
        task_hashes=dict(raw.get("task_hashes") or {}),
        top_level=top,
    )
    return rf, raw


def _tasks_of(rf: ResultsFile, raw: Mapping[str, Any], warnings: list[str]) -> dict[str, TaskData]:
    out: dict[str, TaskData] = {}
    folder = rf.path.parent
    n_samples = raw.get("n-samples") or {}
    for task, task_results in raw["results"].items():
        if parse_task_name(task) is None or not isinstance(task_results, Mapping):
            continue
        found: dict[str, set[str]] = {}
        config = dict((raw.get("configs") or {}).get(task) or {})
        if isinstance(config.get("metadata"), Mapping):
            _collect_fingerprints(config["metadata"], "task_metadata", found)
        samples_file = folder / f"{rf.date_id}_samples_{task}.jsonl"
        samples = read_samples(samples_file, warnings, found) if samples_file.is_file() else None
        judgments_file = folder / f"judgments_{task}.jsonl"
        settings: dict[str, Any] = {}
        judgments = read_judgments(judgments_file, task, warnings, found, settings) if judgments_file.is_file() else []
        counts = n_samples.get(task) or {}
        out[task] = TaskData(
            task=task,
            results_file=rf,
            metrics=_metric_values(task_results),
            config=config,
            version=(raw.get("versions") or {}).get(task),
            n_original=counts.get("original"),
            n_effective=counts.get("effective"),
            samples=samples,
            samples_file=samples_file if samples is not None else None,
            judgments=judgments,
            judgments_file=judgments_file if judgments_file.is_file() else None,
            recorded_fingerprints={k: sorted(v) for k, v in sorted(found.items())},
            text_metric_settings=settings,
        )
    return out


def load_models(paths: Iterable[str | Path], group_by: str = "model") -> tuple[list[ModelData], list[str]]:
    """Read every results file under `paths` and group the tasks by model.

    group_by="model" merges folders that ran the same model (lmms-eval's model name);
    group_by="folder" keeps each model folder apart. When a task appears in several results files
    of one model, the newest (by lmms-eval's date stamp) wins and the others are noted.
    Returns the models (in the order first seen) and warnings about files that could not be read.
    """
    models: dict[str, ModelData] = {}
    problems: list[str] = []
    for path in find_results_files(paths):
        try:
            rf, raw = read_results_file(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append(f"skipped {path}: {exc}")
            continue
        key = rf.model_name if group_by == "model" else str(path.parent)
        model = models.setdefault(key, ModelData(rf.model_name, {}, []))
        model.results_files.append(rf)
        for task, data in _tasks_of(rf, raw, model.warnings).items():
            old = model.tasks.get(task)
            if old is None:
                model.tasks[task] = data
                continue
            data_key = (rf.date_id, str(path))
            old_key = (old.results_file.date_id, str(old.results_file.path))
            newer, older = (data, old) if data_key >= old_key else (old, data)
            newer.superseded = [*old.superseded, *data.superseded, older.results_file.path]
            model.tasks[task] = newer
            model.warnings.append(
                f"{task}: found in several results files; using {newer.results_file.path.name}, "
                f"ignoring {older.results_file.path.name}"
            )
    out = list(models.values())
    names: dict[str, int] = {}
    for m in out:
        names[m.name] = names.get(m.name, 0) + 1
    for m in out:
        if names[m.name] > 1:  # only with group_by="folder"
            folder = m.results_files[0].path.parent
            m.name = f"{m.name} [{folder.parent.name}/{folder.name}]"
    return out, problems
