"""Behaviour kept: the redesigned path reports the 0.1 metric values on the same scripted inputs.

`reference_run.py` drives the real lmms-eval CLI over both embedded samples with a scripted model,
the rule-based fake judges and BERTScore on the offline MiniLM; `reference_run_v0_1.json` is what
clinhallu-tasks 0.1 reported for it. Every value must be identical, in every digit, except
BERTScore: its float32 encoder gives last-digit differences with the number of CPU threads
(the same `bertscore_f1` call gives 0.42310830950737 with the default threads and
0.4231083194414775 with OMP_NUM_THREADS=1, on the same machine), so it is compared at float32 precision.
"""

from __future__ import annotations

import json

import pytest

from tests.records.reference_run import RECORDED, run_reference

pytestmark = pytest.mark.e2e

FLOAT32_METRICS = {"medhalltune_bertscore"}


def test_every_metric_equals_the_0_1_value(tmp_path):
    recorded = json.loads(RECORDED.read_text())
    now = run_reference(tmp_path)
    assert sorted(now) == sorted(recorded)
    for task, values in recorded.items():
        assert sorted(now[task]) == sorted(values), task
        for metric, value in values.items():
            if metric in FLOAT32_METRICS:
                assert now[task][metric] == pytest.approx(value, rel=1e-6), (task, metric)
            else:
                assert now[task][metric] == value, (task, metric)
