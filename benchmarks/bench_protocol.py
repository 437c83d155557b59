"""Throughput of the ClinHallu protocol core on one CPU core: parse + validate + score.

Builds a realistic synthetic set of model outputs (the four sources' question types,
step lengths of real traces, the layouts models emit: plain, bold, heading marks, list
numbers, think blocks, replace-run joins, and about 12% invalid traces), then times
`parse_trace` (which validates) followed by `match_answer` on each valid trace, as a
task's process_results does. Goal: at least 20,000 traces/s. Prints; asserts nothing.

    .venv/bin/python benchmarks/bench_protocol.py [--traces 5000] [--repeat 5] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass

from clinhallu_tasks.clinhallu.trace import join_trace, parse_trace
from clinhallu_tasks.metrics.answer_match import match_answer

_VOCABULARY = (
    "opacity consolidation lobe left right upper lower mass nodule margin spiculated effusion "
    "pleural cardiac silhouette enlarged normal mediastinum hilar lymph node air bronchogram "
    "density contrast enhancement lesion cortex medulla nuclei cytoplasm eosinophilic stroma "
    "gland infiltrate necrosis fibrosis vessel wall thickening axial coronal sagittal view "
    "T1 T2 weighted hyperintense hypointense the a of with and in on is are shows appears "
    "consistent suggests typical feature finding criteria associated characteristic"
)
WORDS = tuple(_VOCABULARY.split())
OPTION_TEXTS = ("Pneumonia", "Pulmonary edema", "Lung cancer", "Normal chest", "Pleural effusion")


@dataclass(frozen=True)
class Case:
    text: str
    question_type: str
    ground_truth: str
    options: tuple[str, ...]
    answer_letter: str | None


def _prose(rng: random.Random, lo: int, hi: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    sentences, i = [], 0
    while i < len(words):
        n = rng.randint(8, 18)
        sentences.append(" ".join(words[i : i + n]).capitalize() + ".")
        i += n
    # Real steps are paragraphs, sometimes bullet lists.
    if rng.random() < 0.3:
        return "\n".join(f"- {s}" for s in sentences)
    return " ".join(sentences)


def _headers(rng: random.Random) -> tuple[str, str, str, str]:
    style = rng.random()
    if style < 0.60:
        return ("[Visual Recognition]", "[Knowledge Recall]", "[Reasoning]", "[Answer]")
    if style < 0.75:
        return ("**[Visual Recognition]**", "**[Knowledge Recall]**", "**[Reasoning]**", "**[Answer]:**")
    if style < 0.85:
        return ("## [Visual Recognition]", "## [Knowledge Recall]", "## [Reasoning]", "[Answer]")
    if style < 0.92:
        return ("1. [Visual Recognition]:", "2. [Knowledge Recall]:", "3. [Reasoning]:", "[Answer]:")
    return ("[visual recognition]", "[knowledge  recall]", "[reasoning]", "[answer]")


def _item(rng: random.Random) -> tuple[str, str, tuple[str, ...], str | None, str]:
    """(question_type, ground_truth, options, answer_letter, a model answer)."""
    kind = rng.random()
    if kind < 0.45:  # VQA-RAD / PathVQA yes/no
        gold = rng.choice(("yes", "no"))
        said = rng.choice((gold, gold.capitalize() + ".", "no" if gold == "yes" else "yes", f"{gold}, clearly"))
        return "yes_no", gold, (), None, said
    if kind < 0.65:  # open
        gold = rng.choice(("fat", "left lower lobe", "adenocarcinoma", "ct", "axial"))
        said = rng.choice((gold, gold.title(), "right upper lobe", f"**{gold}**"))
        return "open_ended", gold, (), None, said
    n = rng.randint(4, 5)
    options = tuple(f"{'ABCDE'[i]}. {OPTION_TEXTS[i]}" for i in range(n))
    gi = rng.randrange(n)
    pick = gi if rng.random() < 0.6 else rng.randrange(n)
    said = rng.choice((options[pick], "ABCDE"[pick], f"({'ABCDE'[pick]})", OPTION_TEXTS[pick]))
    return "multiple_choice", options[gi], options, "ABCDE"[gi], said


def build_cases(n: int, seed: int = 7) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        qtype, gold, options, letter, said = _item(rng)
        vr, kr, rs = _prose(rng, 40, 120), _prose(rng, 40, 120), _prose(rng, 50, 180)
        h_vr, h_kr, h_rs, h_an = _headers(rng)
        roll = rng.random()
        if roll < 0.25:  # replace run: gold steps joined with the model's continuation
            text = join_trace({"visual_recognition": vr}, f"{h_kr}\n{kr}\n\n{h_rs}\n{rs}\n\n{h_an} {said}")
        else:
            text = f"{h_vr}\n{vr}\n\n{h_kr}\n{kr}\n\n{h_rs}\n{rs}\n\n{h_an} {said}"
            if roll < 0.33:
                text = f"<think>\n{_prose(rng, 60, 200)}\n</think>\n\n{text}"
            elif roll < 0.40:
                text = "Here is my step-by-step analysis.\n\n" + text
            elif roll < 0.45:
                text = text.replace(h_kr, "Knowledge:")  # missing step
            elif roll < 0.49:
                text = text[: text.rindex(h_an)]  # no answer
            elif roll < 0.52:
                text = "<think>\n" + text  # unclosed think
            elif roll < 0.55:
                text = text.replace(vr, "Chest film.")  # short step
        cases.append(Case(text, qtype, gold, options, letter))
    return cases


def run_once(cases: list[Case]) -> tuple[float, int, int]:
    valid = correct = 0
    start = time.perf_counter()
    for c in cases:
        trace = parse_trace(c.text)
        if trace.valid:
            valid += 1
            correct += match_answer(
                trace.answer,
                question_type=c.question_type,
                ground_truth=c.ground_truth,
                options=c.options,
                answer_letter=c.answer_letter,
            )
    return time.perf_counter() - start, valid, correct


def time_parts(cases: list[Case], repeat: int) -> tuple[float, float]:
    """Best-of-`repeat` seconds for parsing alone and for matching alone."""
    parse_best = match_best = float("inf")
    answers = [(parse_trace(c.text).answer or "x", c) for c in cases]
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in cases:
            parse_trace(c.text)
        t1 = time.perf_counter()
        for answer, c in answers:
            match_answer(
                answer,
                question_type=c.question_type,
                ground_truth=c.ground_truth,
                options=c.options,
                answer_letter=c.answer_letter,
            )
        t2 = time.perf_counter()
        parse_best, match_best = min(parse_best, t1 - t0), min(match_best, t2 - t1)
    return parse_best, match_best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the first allowed)")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        where = f"pinned to CPU {cpu}"
    else:
        where = "not pinned (no sched_setaffinity here)"

    cases = build_cases(args.traces)
    sizes = sorted(len(c.text) for c in cases)
    print(f"{len(cases)} synthetic traces, {where}")
    print(f"trace length: median {sizes[len(sizes) // 2]} chars, max {sizes[-1]} chars")

    run_once(cases)  # warm-up: regex caches, option tables
    times = []
    for _ in range(args.repeat):
        seconds, valid, correct = run_once(cases)
        times.append(seconds)
    best, median = min(times), statistics.median(times)
    print(f"valid {valid}/{len(cases)} ({100 * valid / len(cases):.1f}%), rule-correct {correct}/{valid}")
    print(
        f"parse+validate+score: {len(cases) / best:,.0f} traces/s best, "
        f"{len(cases) / median:,.0f} traces/s median of {args.repeat} "
        f"({1e6 * best / len(cases):.1f} us/trace)"
    )
    parse_s, match_s = time_parts(cases, args.repeat)
    print(
        f"  parse+validate alone: {len(cases) / parse_s:,.0f} traces/s; "
        f"match_answer alone: {len(cases) / match_s:,.0f} answers/s"
    )
    print("goal: >= 20,000 traces/s:", "met" if len(cases) / median >= 20_000 else "NOT met")


if __name__ == "__main__":
    main()
