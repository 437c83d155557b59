"""What a run writes, as types the writer and every reader share (docs/DESIGN.md, "Records").

An evaluated task leaves three files in its run folder (beside lmms-eval's results file, or in a
VLMEvalKit work folder), whatever framework ran it:

    <task>.samples.jsonl     one SampleRecord per item: the response and how it was read
    <task>.judgments.jsonl   one Judgment per item and judged metric: the verdict, or why there is none
    <task>.summary.json      one TaskSummary: metric values, counts, judge, fingerprints, settings, cost

Readers get these types or a RecordError naming the file, the line and the field: never a guess.
Every file carries the schema version; folders of an older version are refused with what to do.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from clinhallu_tasks.errors import ClinHalluTasksError

SCHEMA_VERSION = 2  # 1: the 0.1 outputs (lmms-eval samples + loose judgments_<task>.jsonl)

SAMPLES_SUFFIX = ".samples.jsonl"
JUDGMENTS_SUFFIX = ".judgments.jsonl"
SUMMARY_SUFFIX = ".summary.json"

Benchmark = Literal["clinhallu", "medhalltune"]
# judged: the judge gave a verdict. settled: decided without a call (an invalid trace is not asked
# for accuracy; an empty step counts as hallucinated). failed: asked, no usable verdict.
JudgmentStatus = Literal["judged", "settled", "failed"]


class RecordError(ClinHalluTasksError):
    """A run record that cannot be read: names the file, the line and the field."""

    def __init__(self, path: Path | str, line: int | None, field_name: str | None, message: str) -> None:
        self.path, self.line, self.field = Path(path), line, field_name
        where = str(path) + (f", line {line}" if line is not None else "")
        where += f", field '{field_name}'" if field_name is not None else ""
        super().__init__(f"{where}: {message}")


# ---------------------------------------------------------------- per item


@dataclass(frozen=True)
class Generation:
    """How the response came to be: attempts (resampling) and how much text it cost."""

    attempts: int = 1  # generations asked for this item (1 without resampling)
    valid_first_attempt: bool | None = None  # ClinHallu: was the first trace valid (None: not traced)
    characters: int = 0  # length of the final response
    tokens: int | None = None  # generated tokens, where the backend reports them
    thinking_block: bool = False  # the response began with a thinking block


@dataclass(frozen=True)
class TraceSample:
    """One ClinHallu item in one run: the response, its parsed trace and the rule scores."""

    task: str
    source: str
    run: str
    item_id: str
    question_type: str
    question: str
    ground_truth: str
    image_paths: list[str]
    gold_steps: dict[str, str]
    given_steps: dict[str, str]  # what the prompt handed over (replacement runs)
    response: str
    steps: dict[str, str]  # the parsed trace (given steps joined with the continuation)
    model_answer: str
    valid: bool
    invalid_reason: str | None
    rule_correct: bool | None
    token_f1: float | None
    generation: Generation = field(default_factory=Generation)
    benchmark: Literal["clinhallu"] = "clinhallu"


@dataclass(frozen=True)
class AnswerSample:
    """One MedHallTune question: the answer and its reference-based text scores."""

    task: str
    split: str
    item_id: str  # "P-12": question ids repeat across splits
    question_id: int
    image: str
    question: str
    ground_truth: str
    response: str
    meteor: float | None
    rouge_l: float | None
    bertscore: float | None  # batched over the task after generation
    generation: Generation = field(default_factory=Generation)
    benchmark: Literal["medhalltune"] = "medhalltune"


SampleRecord = TraceSample | AnswerSample


@dataclass(frozen=True)
class Usage:
    """Tokens the judge endpoint reported for one verdict (0 for a cached one)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Judgment:
    """One judge verdict on one item for one metric, or the reason there is none."""

    task: str
    item_id: str
    metric: str  # "clinhallu_acc", "clinhallu_h_v", ..., or "medhalltune_judge" (four scores at once)
    status: JudgmentStatus
    # ClinHallu: 1/0 (correct, or hallucinated) as counted in the metric; None when left out
    # (accuracy of an invalid trace, a failed answer verdict).
    value: int | None = None
    scores: dict[str, float] | None = None  # MedHallTune: the four dimensions, 1-10 (the reader takes decimals)
    reason: str | None = None  # the judge's explanation, or why settled / failed
    judge_model: str | None = None
    from_cache: bool = False
    attempts: int = 0  # calls made for this verdict (re-asks included)
    usage: Usage = field(default_factory=Usage)
    raw_reply: str | None = None  # the start of a reply that could not be read (failed only)


# ---------------------------------------------------------------- per task


@dataclass(frozen=True)
class JudgeInfo:
    """The judge a task was configured with and what became of it."""

    configured: bool
    model: str | None = None
    endpoints: int = 0  # how many base URLs (never the URLs' secrets, never the key)
    settings: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, max_tokens, thinking, ...
    failure: str | None = None  # why judge metrics are None although a judge was configured


@dataclass(frozen=True)
class Wording:
    """Which prompt texts a task used: ours, the official ones (import-prompts), or the user's own."""

    generation: str = "package"  # "package" | "official" | "custom"
    judge: str = "package"
    templates: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of the text used


@dataclass(frozen=True)
class Cost:
    """What the task cost: judge calls and tokens, and the model's generation."""

    judge_calls: int = 0  # requests sent (re-asks included)
    cache_hits: int = 0  # verdicts that needed no call of their own (cached, or shared with one in flight)
    reasks: int = 0  # requests repeated after an unreadable verdict
    judge_failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judge_seconds: float = 0.0  # wall time while this task's verdicts were outstanding
    generated_characters: int = 0
    generated_tokens: int | None = None  # None where the backend reports no tokens
    generation_seconds: float | None = None
    estimated_usd: float | None = None  # from CLINHALLU_JUDGE_PRICE_INPUT/_OUTPUT, when both are set


@dataclass(frozen=True)
class TaskSummary:
    """Everything a report needs of one task, written by the run that evaluated it."""

    task: str
    benchmark: Benchmark
    framework: str  # "lmms-eval 0.7.3", "VLMEvalKit 0.0.20"
    model: str  # the model's name as the framework knows it (no arguments, no keys)
    source: str | None  # ClinHallu source name / MedHallTune split
    run: str | None  # ClinHallu run; None for MedHallTune
    items: int  # items evaluated
    items_released: int | None  # items the benchmark releases for this source/split (None: sample)
    metrics: dict[str, float | None]  # metric name -> value on its scale
    metric_notes: dict[str, str]  # metric name -> why it is None
    counts: dict[str, int]  # valid, valid_first_attempt, resampled, judged/settled/failed per metric, ...
    judge: JudgeInfo
    wording: Wording
    data_fingerprint: str  # sha256 over the items evaluated, images included
    settings: dict[str, Any]  # generation settings, resampling, BERTScore model name, ...
    cost: Cost
    package_version: str
    created: str  # ISO 8601, UTC
    schema_version: int = SCHEMA_VERSION

    @property
    def complete(self) -> bool:
        """All items the benchmark releases for this source or split were evaluated."""
        return self.items_released is not None and self.items >= self.items_released


# ---------------------------------------------------------------- writing


def to_json(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def write_jsonl(path: Path, records: Iterable[Any]) -> Path:
    """Write records one JSON object per line, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for record in records:
            data = to_json(record)
            data["schema_version"] = SCHEMA_VERSION
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
    partial.replace(path)
    return path


def write_summary(path: Path, summary: TaskSummary) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(to_json(summary), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


@dataclass(frozen=True)
class TaskFiles:
    """The three record files of one task in a run folder."""

    folder: Path
    task: str

    @property
    def samples(self) -> Path:
        return self.folder / f"{self.task}{SAMPLES_SUFFIX}"

    @property
    def judgments(self) -> Path:
        return self.folder / f"{self.task}{JUDGMENTS_SUFFIX}"

    @property
    def summary(self) -> Path:
        return self.folder / f"{self.task}{SUMMARY_SUFFIX}"

    def write(self, samples: Iterable[SampleRecord], judgments: Iterable[Judgment], summary: TaskSummary) -> None:
        # The summary last: its presence says the other two are complete.
        write_jsonl(self.samples, samples)
        write_jsonl(self.judgments, judgments)
        write_summary(self.summary, summary)


# ---------------------------------------------------------------- reading

T = TypeVar("T")


def _check(value: Any, hint: Any, path: Path, line: int | None, name: str) -> Any:
    """`value` converted to `hint` (dataclasses recursively), or a RecordError naming the field."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise RecordError(path, line, name, f"{value!r} is not one of {list(typing.get_args(hint))}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _check(value, option, path, line, name)
            except RecordError as error:
                errors.append(error)
        raise errors[0] if errors else RecordError(path, line, name, "must not be null")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, line, name + ".")
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(path, line, name, f"expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)
        return [_check(v, item, path, line, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(path, line, name, f"expected an object, got {type(value).__name__}")
        _, item = typing.get_args(hint)
        return {k: _check(v, item, path, line, f"{name}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordError(path, line, name, f"expected a number, got {value!r}")
        return float(value)
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RecordError(path, line, name, f"expected an integer, got {value!r}")
    if not isinstance(value, hint):
        raise RecordError(path, line, name, f"expected {hint.__name__}, got {type(value).__name__}")
    return value


def _build(cls: type[T], data: Any, path: Path, line: int | None, prefix: str = "") -> T:
    if not isinstance(data, Mapping):
        raise RecordError(path, line, prefix.rstrip(".") or None, f"expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = prefix + spec.name
        if spec.name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise RecordError(path, line, name, "missing")
            continue
        values[spec.name] = _check(data[spec.name], hints[spec.name], path, line, name)
    return cls(**values)


def _version(data: Mapping[str, Any], path: Path, line: int | None) -> None:
    version = data.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise RecordError(
            path, line, "schema_version",
            f"written by record schema {version}; this clinhallu-tasks reads schema {SCHEMA_VERSION}. "
            "Regenerate the run with this version (cached judge verdicts are reused), or report it with "
            "the clinhallu-tasks release that wrote it.",
        )


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RecordError(path, None, None, f"cannot read: {error.strerror or error}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordError(path, number, None, f"not JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise RecordError(path, number, None, "expected a JSON object")
        _version(data, path, number)
        yield number, data


def read_samples(path: Path) -> list[SampleRecord]:
    records: list[SampleRecord] = []
    seen: set[str] = set()
    for number, data in _lines(path):
        cls = {"clinhallu": TraceSample, "medhalltune": AnswerSample}.get(data.get("benchmark"))
        if cls is None:
            raise RecordError(path, number, "benchmark", f"{data.get('benchmark')!r} is not clinhallu or medhalltune")
        record = _build(cls, data, path, number)
        if record.item_id in seen:
            raise RecordError(path, number, "item_id", f"{record.item_id!r} appears twice")
        seen.add(record.item_id)
        records.append(record)
    return records


def read_judgments(path: Path) -> list[Judgment]:
    judgments: list[Judgment] = []
    seen: set[tuple[str, str]] = set()
    for number, data in _lines(path):
        judgment = _build(Judgment, data, path, number)
        key = (judgment.item_id, judgment.metric)
        if key in seen:
            raise RecordError(path, number, "item_id", f"{judgment.metric} of {judgment.item_id!r} appears twice")
        seen.add(key)
        judgments.append(judgment)
    return judgments


def read_summary(path: Path) -> TaskSummary:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RecordError(path, None, None, f"cannot read: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise RecordError(path, error.lineno, None, f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise RecordError(path, None, None, "expected a JSON object")
    _version(data, path, None)
    return _build(TaskSummary, data, path, None)


@dataclass(frozen=True)
class TaskRecords:
    """One task's records, read and cross-checked."""

    summary: TaskSummary
    samples: list[SampleRecord]
    judgments: list[Judgment]
    files: TaskFiles

    @classmethod
    def read(cls, files: TaskFiles) -> TaskRecords:
        summary = read_summary(files.summary)
        if summary.task != files.task:
            message = f"{summary.task!r}, but the file is named for {files.task!r}"
            raise RecordError(files.summary, None, "task", message)
        samples = read_samples(files.samples)
        judgments = read_judgments(files.judgments) if files.judgments.exists() else []
        if len(samples) != summary.items:
            raise RecordError(files.samples, None, None, f"{len(samples)} samples, the summary says {summary.items}")
        known = {sample.item_id for sample in samples}
        for judgment in judgments:
            if judgment.item_id not in known:
                raise RecordError(files.judgments, None, "item_id", f"{judgment.item_id!r} is not among the samples")
        return cls(summary, samples, judgments, files)


def find_tasks(folder: Path) -> list[TaskFiles]:
    """Every task with a summary under `folder` (any depth), sorted by path."""
    return [
        TaskFiles(path.parent, path.name[: -len(SUMMARY_SUFFIX)])
        for path in sorted(folder.rglob(f"*{SUMMARY_SUFFIX}"))
    ]


__all__ = [
    "JUDGMENTS_SUFFIX",
    "SAMPLES_SUFFIX",
    "SCHEMA_VERSION",
    "SUMMARY_SUFFIX",
    "AnswerSample",
    "Benchmark",
    "Cost",
    "Generation",
    "JudgeInfo",
    "Judgment",
    "JudgmentStatus",
    "RecordError",
    "SampleRecord",
    "TaskFiles",
    "TaskRecords",
    "TaskSummary",
    "TraceSample",
    "Usage",
    "Wording",
    "find_tasks",
    "read_judgments",
    "read_samples",
    "read_summary",
    "to_json",
    "write_jsonl",
    "write_summary",
]
