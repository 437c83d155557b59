"""What produced a model's numbers, as the run recorded it: judge, wording, settings, data, item set.

Everything comes from the TaskSummaries; nothing is hashed or looked up at report time, so a
report made elsewhere or later states the same provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from clinhallu_tasks.report.scores import ModelReport, Row
from clinhallu_tasks.spec import clinhallu as ch
from clinhallu_tasks.spec import medhalltune as mh

REDACTED = "[REDACTED]"
# A settings key that names a secret ("max_tokens", "tokenizer" do not).
_SECRET_KEY = re.compile(r"(?i)(api[_-]?key|secret|passw|credential|bearer|auth(?!or)|token(?!s\b|s_|izer))")


def redact(value: Any) -> Any:
    """Settings as recorded, with the value of any secret-named key masked (a writer's slip stays out)."""
    if isinstance(value, Mapping):
        return {str(k): REDACTED if _SECRET_KEY.search(str(k)) and v else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def distinct(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order, each once (compared as canonical JSON)."""
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(json.dumps(value, sort_keys=True, default=str), value)
    return list(seen.values())


def model_name_only(name: str) -> str:
    """A BERTScore model as its name: a local folder is shown by its last part, never the machine's path."""
    path = PurePath(name)
    return path.name if path.is_absolute() else name


def wording_label(generation: Iterable[str], judge: Iterable[str]) -> str:
    """'package wording', 'official wording', or what differs ("generation: official, judge: package")."""
    gen, jud = sorted(set(generation)), sorted(set(judge))
    if gen == jud and len(gen) == 1:
        return f"{gen[0]} wording"
    return f"generation: {'/'.join(gen) or '-'} wording, judge: {'/'.join(jud) or '-'} wording"


def item_set(rows: list[Row], released: int) -> dict[str, Any]:
    """How many items were evaluated, and whether they are the whole released benchmark."""
    evaluated = sum(r.n or 0 for r in rows)
    whole = bool(rows) and all(r.status == "complete" for r in rows) and evaluated == released
    return {"evaluated": evaluated, "released": released, "whole_released_benchmark": whole}


def provenance(model: ModelReport) -> dict[str, Any]:
    """JSON-ready provenance of one model; leaderboard.md and submission.json both state it."""
    summaries = model.summaries
    frameworks = distinct(s.framework for s in summaries)
    full_splits = model.medhalltune.get(False, [])
    # The decoding settings are those every task shares; the rest is per task (given steps), BERTScore apart.
    bertscore = mh.BERTSCORE_SETTINGS_PREFIX
    shared = [{k: v for k, v in s.settings.items() if not k.startswith(bertscore)} for s in summaries]
    common = {k: v for k, v in shared[0].items() if all(k in o and o[k] == v for o in shared)} if shared else {}
    judges = distinct(
        {"model": s.judge.model, "endpoints": s.judge.endpoints, "settings": redact(s.judge.settings)}
        for s in summaries if s.judge.configured
    )
    return {
        "frameworks": frameworks,
        "lmms_eval_version": [f.split(" ", 1)[1] for f in frameworks if f.startswith("lmms-eval ")],
        "clinhallu_tasks_version": distinct(s.package_version for s in summaries),
        "judge": {
            "configured": any(s.judge.configured for s in summaries),
            "judges": judges,
            "failed": {s.task: s.judge.failure for s in summaries if s.judge.failure},
            "not_configured": [s.task for s in summaries if not s.judge.configured],
        },
        "bertscore_model": distinct(
            model_name_only(str(s.settings[mh.BERTSCORE_MODEL_SETTING]))
            for s in summaries if mh.BERTSCORE_MODEL_SETTING in s.settings
        ),
        "bertscore_settings": distinct(
            redact({k: v for k, v in s.settings.items() if k.startswith(bertscore)
                    and k != mh.BERTSCORE_MODEL_SETTING}) for s in summaries if mh.BERTSCORE_MODEL_SETTING in s.settings
        ),
        "generation_settings": redact(common),
        "task_settings": {s.task: redact(rest) for s, settings in zip(summaries, shared, strict=True)
                          if (rest := {k: v for k, v in settings.items() if k not in common})},
        "wording": {
            "label": wording_label((s.wording.generation for s in summaries), (s.wording.judge for s in summaries)),
            "templates": {s.task: s.wording.templates for s in summaries},
        },
        "data": {
            "fingerprint": hashlib.sha256(
                "\n".join(f"{s.task}:{s.data_fingerprint}" for s in summaries).encode()
            ).hexdigest(),
            "by_task": {s.task: s.data_fingerprint for s in summaries},
        },
        "item_sets": {
            "clinhallu": item_set(model.sources, ch.RELEASED_ITEMS),
            "medhalltune": item_set(full_splits, sum(t.released or 0 for t in mh.TASKS if not t.sample)),
        },
        "tasks": {
            s.task: {"items": s.items, "items_released": s.items_released, "complete": s.complete,
                     "created": s.created, "counts": s.counts}
            for s in summaries
        },
    }
