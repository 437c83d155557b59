"""ClinHallu in the evaluation layer: prompt, trace record, judge asks and metric values of one run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from clinhallu_tasks.clinhallu import judged
from clinhallu_tasks.clinhallu.items import ClinHalluItem, Step
from clinhallu_tasks.clinhallu.judges import (
    answer_request,
    parse_answer_verdict,
    parse_step_verdict,
    step_request,
)
from clinhallu_tasks.clinhallu.prompts import build_prompt_parts
from clinhallu_tasks.clinhallu.scoring import (
    answer_judge_input,
    mean_percent,
    percent_of_ones,
    score_response,
    step_judge_input,
)
from clinhallu_tasks.evaluation.asks import Ask, Reading, settled
from clinhallu_tasks.evaluation.context import EvaluationContext
from clinhallu_tasks.evaluation.prepared import PreparedTask, Prompt
from clinhallu_tasks.judging.templates import TemplateTexts
from clinhallu_tasks.records import Generation, Judgment, TraceSample
from clinhallu_tasks.spec import clinhallu as spec


class ClinHalluRun:
    """One ClinHallu task (a source in one run) as the evaluation layer drives it."""

    def __init__(self, context: EvaluationContext, prepared: PreparedTask) -> None:
        assert prepared.run is not None
        self.context = context
        self.prepared = prepared
        self.run = prepared.run
        self.templates = context.templates
        self.stage = spec.STAGE_METRICS[self.run.judged_step] if self.run.judged_step else None
        self.judged_metrics = (spec.ACC.name, *((self.stage.name,) if self.stage else ()))

    def given_steps(self, item: ClinHalluItem) -> dict[Step, str]:
        """The steps the prompt hands over: gold ones from the item, own ones from the baseline."""
        own = self.prepared.own_steps.get(item.item_id, {})
        return {
            step: item.gold.step(step) if step in self.run.given_gold else own.get(step, "")
            for step in self.run.given_steps
        }

    def prompt(self, item: ClinHalluItem, pre_prompt: str = "", post_prompt: str = "") -> Prompt:
        parts = build_prompt_parts(item, self.run.name, self.given_steps(item), pre_prompt=pre_prompt,
                                   post_prompt=post_prompt, templates=self.templates.generation)
        return Prompt(system=parts.system or None, text=parts.user, image_paths=list(item.image_paths))

    def sample(self, item: ClinHalluItem, response: str, generation: Generation) -> TraceSample:
        record = score_response(item, self.run.name, response, self.given_steps(item))
        # The generation record keeps what the parser saw of the response: a leading thinking block.
        thinking_block = record.pop("thinking_block")
        generation = dataclasses.replace(generation, thinking_block=generation.thinking_block or thinking_block)
        if generation.valid_first_attempt is None and generation.attempts == 1:
            generation = dataclasses.replace(generation, valid_first_attempt=record["valid"])
        return TraceSample(task=self.prepared.name, response=response, generation=generation, **record)

    def asks(self, sample: TraceSample, judge_model: str) -> list[Ask]:
        """The answer judge's and the run's step judge's asks for one trace."""
        record = _as_record(sample)
        templates = self.templates.clinhallu_judge
        asks = [answer_ask(self.prepared.name, answer_judge_input(record), templates, judge_model)]
        if self.run.judged_step is not None:
            step = step_judge_input(record, self.run.judged_step)
            asks.append(step_ask(self.prepared.name, step, templates, judge_model))
        return asks

    def complete(self, samples: list[TraceSample]) -> list[TraceSample]:
        """Nothing is computed over the whole task: the records are complete as they arrived."""
        return samples

    def rule_notes(self) -> dict[str, str]:
        return {}

    def rule_metrics(self, samples: Sequence[TraceSample]) -> dict[str, float | None]:
        return {
            spec.VALID_RATE.name: percent_of_ones([s.valid for s in samples]),
            spec.ACC_RULE.name: percent_of_ones([s.rule_correct for s in samples]),
            spec.TOKEN_F1.name: mean_percent([s.token_f1 for s in samples]),
        }

    def judge_metric(self, metric: str, judgments: Sequence[Judgment]) -> float | None:
        return judged.accuracy(judgments) if metric == spec.ACC.name else judged.stage_rate(judgments)

    def counts(self, samples: Sequence[TraceSample]) -> dict[str, int]:
        return {
            "valid": sum(s.valid for s in samples),
            "valid_first_attempt": sum(bool(s.generation.valid_first_attempt) for s in samples),
            "resampled": sum(s.generation.attempts > 1 for s in samples),
            "thinking_block": sum(s.generation.thinking_block for s in samples),
        }

    def wording_templates(self) -> dict[str, str]:
        """sha256 of the templates this run used: generation, the answer judge and its step judge."""
        used = dict(self.templates.generation.fingerprints())
        judge = self.templates.clinhallu_judge.fingerprints()
        step = self.run.judged_step
        prefixes = ("clinhallu_answer_", *((f"clinhallu_step_{step}_",) if step else ()))
        used.update({name: sha for name, sha in judge.items() if name.startswith(prefixes)})
        return used

    def settings(self) -> dict[str, Any]:
        chained = {"baseline_model": self.prepared.baseline_model} if self.run.chained else {}
        return {"given_steps": list(self.run.given_steps), **chained}


def answer_ask(task: str, answer: Mapping[str, Any], templates: TemplateTexts, judge_model: str) -> Ask:
    """The answer judge's ask for one `scoring.answer_judge_input` record: an invalid trace is not asked."""
    if not answer.get("valid"):
        return settled(task, answer["item_id"], spec.ACC.name, "settled", judged.INVALID_TRACE, None, judge_model)
    request = answer_request(_text(answer.get("question")), _text(answer.get("ground_truth")),
                             _text(answer.get("model_answer")), templates=templates)
    return Ask(task, answer["item_id"], spec.ACC.name, request=request, parse=parse_answer_verdict,
               read=_read_answer, failure_value=None)


def step_ask(task: str, step: Mapping[str, Any], templates: TemplateTexts, judge_model: str) -> Ask:
    """A step judge's ask for one `scoring.step_judge_input` record; settled hallucinated when there is
    nothing to judge (ValueError for a step that is not one of the three)."""
    name = step.get("step")
    if name not in spec.STAGE_METRICS:
        raise ValueError(f"item {step.get('item_id')!r}: unknown step {name!r}")
    metric = spec.STAGE_METRICS[name].name
    settlement = judged.step_settlement(step)
    if settlement is not None:
        status, reason = settlement
        return settled(task, step["item_id"], metric, status, reason, 1, judge_model)
    visual = name == "visual_recognition"
    request = step_request(
        name, _text(step.get("question")), _text(step.get("ground_truth")), _text(step.get("reference")),
        _text(step.get("candidate")), image_paths=list(step.get("image_paths") or []),
        support=None if visual else step.get("support"), templates=templates,
    )
    return Ask(task, step["item_id"], metric, request=request, parse=parse_step_verdict, read=_read_step,
               failure_value=1)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _as_record(sample: TraceSample) -> Mapping[str, Any]:
    return {
        "item_id": sample.item_id, "question": sample.question, "ground_truth": sample.ground_truth,
        "model_answer": sample.model_answer, "valid": sample.valid, "gold_steps": sample.gold_steps,
        "steps": sample.steps, "image_paths": sample.image_paths,
    }


def _read_answer(verdict: Any) -> Reading:
    return Reading(value=int(verdict.correct), reason=verdict.reasoning)


def _read_step(verdict: Any) -> Reading:
    return Reading(value=int(verdict.hallucinated), reason=verdict.reason)


__all__ = ["ClinHalluRun", "answer_ask", "step_ask"]
