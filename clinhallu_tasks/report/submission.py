"""submission.json: numbers at full precision plus provenance, checked against the shipped schema.

Schema id: ``clinhallu-tasks/submission/v1`` (``submission.schema.json`` beside this module).
Secrets never reach the file: model arguments, generation settings and anything else copied
from a run pass through `redact` first.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

from clinhallu_tasks.report.inputs import ClinHalluTask, TaskData, parse_task_name
from clinhallu_tasks.report.scores import (
    CLINHALLU_KEYS,
    FOUR_SOURCES,
    MEDHALLTUNE_KEYS,
    SOURCE_KEYS,
    STEP_METRIC,
    Estimate,
    MedSplitResult,
    ModelReport,
    Report,
    SourceResult,
)

SCHEMA_ID = "clinhallu-tasks/submission/v1"
SCHEMA_FILE = "submission.schema.json"
REDACTED = "[REDACTED]"

# --------------------------------------------------------------------------- redaction

# A word that marks a secret in a key name ("max_new_tokens", "tokenizer", "author" are not).
_SECRET_WORD = (
    r"(?:api[_-]?key|apikey|token(?!s\b|s_|izer)|secret|passw(?:or)?d|passwd|credential|auth(?!ors?\b)|"
    r"bearer|access[_-]?key|private[_-]?key|session[_-]?key|cookie)"
)
_SECRET_KEY = re.compile(r"(?i)" + _SECRET_WORD)
_SECRET_VALUE_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style keys
    re.compile(r"\bsk_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{10,}"),  # Hugging Face tokens
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,}"),  # GitHub tokens
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),  # JWTs
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-+/=]{8,}"),
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s]+@")
_QUERY_SECRET = re.compile(r"(?i)([?&][^=&\s]*(?:key|token|secret|sig|signature|password|auth)[^=&\s]*=)[^&\s,]+")
_KEY_ASSIGNMENT = re.compile(r"(?i)(^|[,\s;{])([\w.\-]*" + _SECRET_WORD + r"[\w.\-]*)(\s*[=:]\s*)([^,\s;}]+)")
# Long opaque runs of letters and digits (a segment of 24+ with both): likely a key.
_CANDIDATE = re.compile(r"[A-Za-z0-9_\-+]{24,}={0,2}")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[A-Za-z]")


def _mask_opaque(match: re.Match[str]) -> str:
    for segment in re.split(r"[-_]", match.group(0)):
        if len(segment) >= 24 and _HAS_DIGIT.search(segment) and _HAS_LETTER.search(segment):
            return REDACTED
    return match.group(0)


def redact_text(text: str) -> str:
    """Mask anything in a string that looks like a key, token, password or credential."""
    out = _KEY_ASSIGNMENT.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{REDACTED}", text)
    out = _URL_USERINFO.sub(lambda m: f"{m[1]}{REDACTED}@", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m[1]}{REDACTED}", out)
    for pattern in _SECRET_VALUE_PATTERNS:
        out = pattern.sub(REDACTED, out)
    return _CANDIDATE.sub(_mask_opaque, out)


def redact(value: Any) -> Any:
    """Redact a JSON-like value: secret-looking keys lose their values, strings are scrubbed."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "", False) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- fingerprints


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PROMPT_CONFIG_FIELDS = (
    "task",
    "output_type",
    "doc_to_text",
    "doc_to_visual",
    "doc_to_target",
    "doc_to_messages",
    "process_results",
    "process_docs",
    "description",
    "target_delimiter",
    "fewshot_delimiter",
    "num_fewshot",
    "generation_kwargs",
    "lmms_eval_specific_kwargs",
    "metadata",
    "filter_list",
)


def task_config_fingerprint(config: Mapping[str, Any]) -> str | None:
    """sha256 of the prompt-relevant part of a task config (function addresses stripped)."""
    if not config:
        return None
    picked = {k: config[k] for k in _PROMPT_CONFIG_FIELDS if k in config}
    metric_names = [m.get("metric") for m in config.get("metric_list") or [] if isinstance(m, Mapping)]
    picked["metric_list"] = metric_names
    return sha256_text(_ADDRESS.sub("", _canonical(picked)))


def prompts_fingerprint(task: TaskData) -> str | None:
    """sha256 over (item id, prompt text sent) of every logged sample; None without a sample log."""
    if not task.samples:
        return None
    return sha256_text(_canonical(sorted((row.item_id, row.prompt_sha or "") for row in task.samples)))


def installed_template_fingerprints() -> dict[str, str]:
    """sha256 of each prompt template file shipped in the installed package (at report time)."""
    root = Path(__file__).resolve().parent.parent
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("templates/*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- numbers


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _ci(est: Estimate | None) -> list[float] | None:
    if est is None or est.ci is None or est.value is None:
        return None
    return [float(est.ci[0]), float(est.ci[1])]


def _source_entry(src: SourceResult | None) -> dict[str, Any]:
    entry: dict[str, Any] = {k: None for k in CLINHALLU_KEYS}
    entry.update({"n": None, "ci": {k: None for k in CLINHALLU_KEYS}, "status": "missing", "runs": {}})
    if src is None:
        return entry
    for k in CLINHALLU_KEYS:
        entry[k] = _num(src.metrics[k].value)
        entry["ci"][k] = _ci(src.metrics[k])
    entry["n"] = src.n
    core = [src.metrics[k].value for k in ("acc", "h_v", "h_k", "h_r")]
    if all(v is None for v in core):
        entry["status"] = "missing"
    elif src.partial:
        entry["status"] = "partial"
    elif any(v is None for v in core) or src.missing_runs:
        entry["status"] = "incomplete"
    else:
        entry["status"] = "complete"
    for run, r in src.runs.items():
        step_key = STEP_METRIC.get(run, "").replace("clinhallu_", "") or None
        entry["runs"][run] = {
            "task": r.task,
            "n": r.n,
            "n_original": r.n_original,
            "valid_rate": _num(r.valid_rate.value),
            "acc_rule": _num(r.acc_rule.value),
            "acc": _num(r.acc.value),
            "step_metric": step_key,
            "step_rate": _num(r.step.value) if r.step else None,
            "ci": {
                "valid_rate": _ci(r.valid_rate),
                "acc_rule": _ci(r.acc_rule),
                "acc": _ci(r.acc),
                "step_rate": _ci(r.step),
            },
            "judge_counts": r.judge_counts,
        }
    return entry


def _average_entry(model: ModelReport) -> dict[str, Any]:
    entry: dict[str, Any] = {k: None for k in CLINHALLU_KEYS}
    entry.update({"n": None, "ci": {k: None for k in CLINHALLU_KEYS}, "sources_used": {}, "status": "missing"})
    avg = model.average
    if avg is None:
        return entry
    for k in CLINHALLU_KEYS:
        entry[k] = _num(avg.metrics[k].value)
        entry["ci"][k] = _ci(avg.metrics[k])
        entry["sources_used"][k] = [SOURCE_KEYS[s] for s in avg.sources_used.get(k, [])]
    ns = [s.n for s in model.main_sources]
    entry["n"] = sum(ns) if len(ns) == len(FOUR_SOURCES) and all(n is not None for n in ns) else None  # type: ignore[misc]
    core = ("acc", "h_v", "h_k", "h_r")
    if all(entry[k] is None for k in core):
        entry["status"] = "missing"
    elif any(avg.partial(k) for k in core) or any(s.partial for s in model.main_sources):
        entry["status"] = "partial"
    elif any(entry[k] is None for k in core):
        entry["status"] = "incomplete"
    else:
        entry["status"] = "complete"
    return entry


def _med_entry(r: MedSplitResult | None) -> dict[str, Any]:
    entry: dict[str, Any] = {k: None for k in MEDHALLTUNE_KEYS}
    entry.update({"n": None, "ci": {k: None for k in MEDHALLTUNE_KEYS}, "status": "missing", "judge_counts": {}})
    if r is None:
        return entry
    for k in MEDHALLTUNE_KEYS:
        entry[k] = _num(r.metrics[k].value)
        entry["ci"][k] = _ci(r.metrics[k])
    entry["n"] = r.n
    entry["judge_counts"] = r.judge_counts
    values = [entry[k] for k in MEDHALLTUNE_KEYS[:6]]
    if all(v is None for v in values):
        entry["status"] = "missing"
    elif r.partial:
        entry["status"] = "partial"
    elif any(v is None for v in values):
        entry["status"] = "incomplete"
    else:
        entry["status"] = "complete"
    return entry


# --------------------------------------------------------------------------- provenance


def _provenance(model: ModelReport, generated: datetime) -> dict[str, Any]:
    data = model.data
    tasks = {name: t for name, t in sorted(data.tasks.items()) if parse_task_name(name) is not None}
    recorded_versions = sorted({rf.lmms_eval_version for rf in data.results_files if rf.lmms_eval_version})

    judge_models = sorted({m for t in tasks.values() for m in t.judge_models()})
    by_task_judge = {name: t.judge_models() for name, t in tasks.items() if t.judge_models()}

    strata: dict[str, set[str]] = {}
    per_task_data: dict[str, Any] = {}
    for name, t in tasks.items():
        kind = parse_task_name(name)
        stratum = name if kind is None else _stratum_name(name)
        fps: list[str] = []
        if t.samples is not None:
            fps = [row.data_sha for row in t.samples]
            strata.setdefault(stratum, set()).update(fps)
        per_task_data[name] = {
            "fingerprint": sha256_text("\n".join(sorted(fps))) if fps else None,
            "items_logged": len(t.samples) if t.samples is not None else None,
            "lmms_eval_task_hash": t.results_file.task_hashes.get(name),
        }
    by_stratum = {
        s: {"fingerprint": sha256_text("\n".join(sorted(fps))), "items": len(fps)} for s, fps in sorted(strata.items())
    }
    overall = sha256_text("\n".join(f"{s}:{v['fingerprint']}" for s, v in by_stratum.items())) if by_stratum else None

    item_counts = {
        name: {
            "evaluated": t.n_effective if t.n_effective is not None else (len(t.samples) if t.samples else None),
            "original": t.n_original,
            "logged": len(t.samples) if t.samples is not None else None,
            "judgment_lines": len(t.judgments),
        }
        for name, t in tasks.items()
    }
    runs = []
    for rf in data.results_files:
        cfg = rf.config
        used = sorted(n for n, t in tasks.items() if t.results_file is rf)
        runs.append(
            {
                "results_file": f"{rf.path.parent.name}/{rf.path.name}",
                "date": rf.date or rf.date_id,
                "tasks": used,
                "limit": redact(cfg.get("limit")),
                "offset": cfg.get("offset"),
                "batch_size": redact(cfg.get("batch_size")),
                "seeds": {
                    k: cfg.get(k) for k in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed") if k in cfg
                },
                "lmms_eval_version": rf.lmms_eval_version,
                "system_instruction_sha": rf.top_level.get("system_instruction_sha"),
                "chat_template_sha": rf.top_level.get("chat_template_sha"),
            }
        )
    return {
        "generated_at": generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "clinhallu_tasks_version": _version("clinhallu-tasks"),
        "lmms_eval_version": {"installed": _version("lmms-eval"), "recorded": recorded_versions},
        "python_version": platform.python_version(),
        "generation": {
            "cli_gen_kwargs": _distinct(redact(rf.config.get("gen_kwargs")) for rf in data.results_files),
            "tasks": {name: redact(t.config.get("generation_kwargs")) for name, t in tasks.items()},
        },
        "judge": {"models": judge_models, "by_task": by_task_judge},
        "text_metrics": {name: redact(t.text_metric_settings) for name, t in tasks.items() if t.text_metric_settings},
        "prompt_fingerprints": {
            "tasks": {
                name: {
                    "task_config_sha256": task_config_fingerprint(t.config),
                    "prompts_sent_sha256": prompts_fingerprint(t),
                    "recorded": t.recorded_fingerprints,
                }
                for name, t in tasks.items()
            },
            "installed_templates": installed_template_fingerprints(),
        },
        "data": {"fingerprint": overall, "by_stratum": by_stratum, "by_task": per_task_data},
        "item_counts": item_counts,
        "runs": runs,
        "dates": sorted({r["date"] for r in runs if r["date"]}),
    }


def _stratum_name(task: str) -> str:
    kind = parse_task_name(task)
    if kind is None:
        return task
    if isinstance(kind, ClinHalluTask):
        return f"clinhallu:{kind.source}"
    return f"medhalltune:{kind.subset or 'full'}:{kind.split}"


def _distinct(values: Any) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for v in values:
        if v in (None, "", {}):
            continue
        key = _canonical(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


# --------------------------------------------------------------------------- document


def build_submission(model: ModelReport, report: Report, generated: datetime | None = None) -> dict[str, Any]:
    """The submission document for one model (plain JSON data, no NaN)."""
    generated = generated or datetime.now(timezone.utc)
    data = model.data
    boot = report.bootstrap
    main = {SOURCE_KEYS[s]: _source_entry(model.sources.get(s)) for s in FOUR_SOURCES}
    others = {src.source: _source_entry(src) for src in model.other_sources}
    full = model.medhalltune.get("", {})
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "model": {
            "name": redact_text(model.name),
            "backend": _distinct(
                redact(rf.config.get("model_backend") or rf.config.get("model")) for rf in data.results_files
            ),
            "model_args": _distinct(redact(rf.config.get("model_args")) for rf in data.results_files),
        },
        "clinhallu": {"sources": main, "average": _average_entry(model), "other_sources": others},
        "medhalltune": {
            "P": _med_entry(full.get("P")),
            "N": _med_entry(full.get("N")),
            "other_subsets": {
                subset: {"P": _med_entry(splits.get("P")), "N": _med_entry(splits.get("N"))}
                for subset, splits in sorted(model.medhalltune.items())
                if subset
            },
        },
        "uncertainty": {
            "method": "percentile bootstrap over items",
            "level": boot.level,
            "iterations": boot.iters,
            "seed": boot.seed,
            "average": "stratified: each source resampled independently",
            "allow_partial_average": report.allow_partial_average,
        },
        "provenance": _provenance(model, generated),
        "notes": list(dict.fromkeys(model.notes)),
    }
    return doc


def load_schema() -> dict[str, Any]:
    """The shipped JSON Schema for submission.json."""
    return json.loads(files("clinhallu_tasks.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def validate_submission(doc: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> list[str]:
    """Schema violations of `doc` ([] when valid). Uses jsonschema when installed, else a built-in subset."""
    schema = schema or load_schema()
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError as exc:
        return [f"not strict JSON: {exc}"]
    try:
        import jsonschema
    except ImportError:
        return _mini_validate(doc, schema, schema, "$")
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _mini_validate(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], where: str) -> list[str]:
    """The subset of JSON Schema our schema uses ($ref, type, const, enum, properties, required,
    additionalProperties, items, minItems, maxItems, minimum, maximum, pattern)."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _mini_validate(value, target, root, where)
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](value) for t in types):
            return [f"{where}: expected {' or '.join(types)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: must be one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing required key {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                errors += _mini_validate(item, props[key], root, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                errors += _mini_validate(item, extra, root, f"{where}.{key}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors += _mini_validate(item, schema["items"], root, f"{where}[{i}]")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: does not match {schema['pattern']}")
    return errors


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Write strict JSON (NaN refused), UTF-8, indented."""
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
