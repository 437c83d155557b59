"""MedHallTune in the evaluation layer: prompt, answer record, the one judge ask and metric values of a split.

One judge call per answer gives all four dimensions; METEOR and ROUGE-L are scored per answer as
it arrives; BERTScore runs once over the whole task at the end (one model load, batched).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clinhallu_tasks.evaluation.asks import Ask, Reading
from clinhallu_tasks.evaluation.context import EvaluationContext
from clinhallu_tasks.evaluation.prepared import PreparedTask, Prompt
from clinhallu_tasks.medhalltune.judge import build_judge_request, parse_verdict
from clinhallu_tasks.medhalltune.records import MedHallTuneItem
from clinhallu_tasks.medhalltune.scoring import dimension_means
from clinhallu_tasks.metrics.text_similarity import (
    BertScoreSettings,
    MetricAssetError,
    bertscore_f1,
    mean,
    meteor_scores,
    rouge_l_scores,
)
from clinhallu_tasks.records import AnswerSample, Generation, Judgment
from clinhallu_tasks.spec import medhalltune as spec


def bertscore_model_name(settings: BertScoreSettings) -> str:
    """The BERTScore model as the records name it: a hub name as given, a local folder by its name
    (an absolute path says nothing on another machine and may reveal a user name)."""
    model = os.fspath(settings.model)
    return Path(model).name if os.path.isabs(model) or os.path.isdir(model) else model


class MedHallTuneSplit:
    """One MedHallTune task (a split) as the evaluation layer drives it."""

    judged_metrics = (spec.JUDGE_METRIC,)

    def __init__(self, context: EvaluationContext, prepared: PreparedTask) -> None:
        self.context = context
        self.prepared = prepared
        self.bertscore_settings = context.settings.bertscore
        self.bertscore_note: str | None = None
        self.bertscore_layers: int | None = None

    def prompt(self, item: MedHallTuneItem, pre_prompt: str = "", post_prompt: str = "") -> Prompt:
        """The question as released, without its `<image>` placeholder; the figure goes after it."""
        images = [str(item.image_path)] if item.image_path is not None else []
        return Prompt(system=None, text=f"{pre_prompt}{item.question}{post_prompt}", image_paths=images)

    def sample(self, item: MedHallTuneItem, response: str, generation: Generation) -> AnswerSample:
        [meteor] = meteor_scores([item.ground_truth], [response])
        [rouge_l] = rouge_l_scores([item.ground_truth], [response])
        return AnswerSample(
            task=self.prepared.name, split=item.split, item_id=item.item_id, question_id=item.question_id,
            image=item.image, question=item.question, ground_truth=item.ground_truth, response=response,
            meteor=meteor, rouge_l=rouge_l, bertscore=None, generation=generation,
        )

    def asks(self, sample: AnswerSample, judge_model: str) -> list[Ask]:
        item = self.prepared.items_by_id[sample.item_id]
        assert isinstance(item, MedHallTuneItem)
        request = build_judge_request(item, sample.response, self.context.templates.medhalltune_judge)
        return [Ask(self.prepared.name, sample.item_id, spec.JUDGE_METRIC, request=request, parse=parse_verdict,
                    read=_read_verdict, failure_value=None)]

    def complete(self, samples: list[AnswerSample]) -> list[AnswerSample]:
        """The samples with BERTScore filled in: one batched pass over the task."""
        if not samples:
            return samples
        try:
            result = bertscore_f1([s.ground_truth for s in samples], [s.response for s in samples],
                                  self.bertscore_settings)
        except (MetricAssetError, ValueError, OSError) as error:
            # Loading was checked before generation; if it still fails, keep everything else.
            self.bertscore_note = f"BERTScore could not run: {error}"
            return samples
        self.bertscore_layers = result.num_layers
        return [dataclasses.replace(s, bertscore=f1) for s, f1 in zip(samples, result.f1, strict=True)]

    def rule_metrics(self, samples: Sequence[AnswerSample]) -> dict[str, float | None]:
        bertscore = [s.bertscore for s in samples]
        return {
            spec.BERTSCORE.name: None if any(b is None for b in bertscore) else mean([float(b) for b in bertscore]),  # type: ignore[arg-type]
            spec.METEOR.name: mean([float(s.meteor) for s in samples if s.meteor is not None]),
            spec.ROUGE_L.name: mean([float(s.rouge_l) for s in samples if s.rouge_l is not None]),
        }

    def rule_notes(self) -> dict[str, str]:
        return {spec.BERTSCORE.name: self.bertscore_note} if self.bertscore_note else {}

    def dimension_means(self, judgments: Sequence[Judgment]) -> dict[str, float | None]:
        """Plain per-dimension means over the answers the judge scored; failures left out."""
        means = dimension_means([j.scores for j in judgments if j.status == "judged" and j.scores is not None])
        return {d.metric.name: means[d.key] for d in spec.DIMENSIONS}

    def counts(self, samples: Sequence[AnswerSample]) -> dict[str, int]:
        return {"without_reference": sum(
            1 for s in samples
            if getattr(self.prepared.items_by_id[s.item_id], "reference", None) is None
        )}

    def wording_templates(self) -> dict[str, str]:
        return self.context.templates.medhalltune_judge.fingerprints()

    def settings(self) -> dict[str, Any]:
        return {
            "bertscore_model": bertscore_model_name(self.bertscore_settings),
            "bertscore_num_layers": self.bertscore_layers if self.bertscore_layers is not None
            else self.bertscore_settings.num_layers,
            "bertscore_idf": False,
            "bertscore_rescale_with_baseline": False,
        }


def _read_verdict(verdict: Any) -> Reading:
    return Reading(scores=verdict.scores(), reason=verdict.explanation)


__all__ = ["MedHallTuneSplit", "bertscore_model_name"]
