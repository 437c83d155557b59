"""What a metric is, for both benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# percent: 0-100; score_1_10: a mean of 1-10 judge ratings; unit: 0-1 (text similarity).
Scale = Literal["percent", "score_1_10", "unit"]
# rule: computed from the response alone; judge: needs a judge verdict per item;
# text: a reference-based text metric (METEOR, BERTScore, ROUGE-L).
MetricKind = Literal["rule", "judge", "text"]


@dataclass(frozen=True)
class Metric:
    """One number a task reports, as lmms-eval and our records name it."""

    name: str  # the lmms-eval metric name, e.g. "clinhallu_h_v"
    key: str  # the short key in submission.json and the tables, e.g. "h_v"
    label: str  # column heading, e.g. "H^V"
    scale: Scale
    kind: MetricKind
    higher_is_better: bool
    description: str
