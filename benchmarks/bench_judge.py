"""Benchmark of the judge layer against a local fake judge with a fixed latency.

Prints achieved requests/s at the configured concurrency against the ideal
(concurrency / latency) and against one-at-a-time calls, then the time of a fully
cached rerun of 21,000 ClinHallu verdicts (7,000 answer, 7,000 Visual Recognition
with images, 7,000 Knowledge Recall), run against an endpoint where nothing listens
so that any request would fail.

    .venv/bin/python benchmarks/bench_judge.py [--latency 0.1] [--concurrency 32]

Not a test: numbers depend on the machine. Goals: >= 80% of ideal at concurrency 32,
cached rerun < 10 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinhallu_tasks.clinhallu import judges  # noqa: E402
from clinhallu_tasks.clinhallu.judged import judged_accuracy, stage_hallucination_rate  # noqa: E402
from clinhallu_tasks.judging import JudgeClient, JudgeConfig, cache  # noqa: E402

FILLER = (
    "The frontal chest radiograph shows a blunted left costophrenic angle with a meniscus sign, "
    "a normal cardiac silhouette and no focal consolidation in either lung. "
)


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake judge in its own process, so it does not compete with the client for the GIL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "judge_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"judge server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def answer_samples(n: int, tag: str) -> list[dict]:
    return [
        {"item_id": f"{tag}{i}", "question": f"{tag} question {i}: {FILLER}Is there an effusion?",
         "ground_truth": "yes", "model_answer": "yes" if i % 4 else "no", "valid": True}
        for i in range(n)
    ]


def config(url: str, folder: str, concurrency: int) -> JudgeConfig:
    return JudgeConfig(base_url=url, model="bench-judge", cache_path=Path(folder) / "cache.sqlite3",
                       concurrency=concurrency, max_retries=0, timeout=30.0)


def throughput(url: str, concurrency: int, n: int, tag: str) -> float:
    with tempfile.TemporaryDirectory() as folder, JudgeClient(config(url, folder, concurrency),
                                                              progress=False) as client:
        samples = answer_samples(n, tag)
        judged_accuracy(answer_samples(concurrency, "warm"), client)  # open the connections first
        start = time.perf_counter()
        score = judged_accuracy(samples, client)
        elapsed = time.perf_counter() - start
        assert score.judged == n and score.cache_hits == 0, score.summary()
    return n / elapsed


def cached_rerun(per_kind: int) -> tuple[float, int]:
    """Seconds for a fully cached rerun of 3 x per_kind verdicts, from a fresh client."""
    with tempfile.TemporaryDirectory() as folder:
        images = []
        for i in range(300):  # items share a pool of images, 1 to 3 per item, like the real data
            path = Path(folder) / f"img{i}.png"
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(20_000))
            images.append(str(path))
        acc = answer_samples(per_kind, "c")
        support = {"reference_visual_recognition": FILLER, "reference_knowledge_recall": FILLER,
                   "candidate_visual_recognition": FILLER, "candidate_knowledge_recall": FILLER}
        vr = [{"item_id": f"v{i}", "step": "visual_recognition", "question": f"q{i} {FILLER}",
               "ground_truth": "yes", "reference": FILLER * 2, "candidate": f"{i} {FILLER * 2}",
               "image_paths": images[i % 300 : i % 300 + 1 + i % 3]} for i in range(per_kind)]
        kr = [{"item_id": f"k{i}", "step": "knowledge_recall", "question": f"q{i} {FILLER}",
               "ground_truth": "yes", "reference": FILLER * 2, "candidate": f"{i} {FILLER * 2}",
               "support": support} for i in range(per_kind)]
        down = "http://127.0.0.1:9/v1"  # discard port: any request would fail the run
        settings = config(down, folder, 32)
        # Fill the cache directly with the verdicts a first run would have stored.
        with JudgeClient(settings, progress=False) as filler:
            templates = judges.load_templates()
            keys = [filler.request_key(judges.answer_request(s["question"], s["ground_truth"],
                                                             s["model_answer"], templates=templates))
                    for s in acc]
            filler.cache.put_many(((k, '{"answer_correct": 1, "answer_reasoning": "ok"}') for k in keys),
                                  model=settings.model)
            steps = [judges.step_request(s["step"], s["question"], s["ground_truth"], s["reference"],
                                         s["candidate"], image_paths=s.get("image_paths", ()),
                                         support=s.get("support"), templates=templates) for s in vr + kr]
            filler.cache.put_many(((filler.request_key(r), '{"hallucinated": 0, "reason": "ok"}')
                                   for r in steps), model=settings.model)
        cache._file_sha256.cache_clear()  # as in a new process: image hashes not yet memoised
        start = time.perf_counter()
        with JudgeClient(settings, progress=False) as client:
            scores = [judged_accuracy(acc, client), stage_hallucination_rate(vr, client),
                      stage_hallucination_rate(kr, client)]
        elapsed = time.perf_counter() - start
        hits = sum(s.cache_hits for s in scores)
        assert hits == 3 * per_kind, [s.summary() for s in scores]
    return elapsed, hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Judge-layer throughput and cached-rerun benchmark")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request (s)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1600, help="requests for the concurrent run")
    parser.add_argument("--sequential", type=int, default=30, help="requests for the one-at-a-time run")
    parser.add_argument("--cached", type=int, default=21_000, help="verdicts in the cached rerun")
    args = parser.parse_args(argv)

    proc, url = start_server(args.latency)
    try:
        concurrent = throughput(url, args.concurrency, args.requests, "p")
        sequential = throughput(url, 1, args.sequential, "s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ideal = args.concurrency / args.latency
    print(f"server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, cpus {os.cpu_count()}")
    print(f"concurrent:  {concurrent:8.1f} req/s over {args.requests} requests "
          f"= {100 * concurrent / ideal:.1f}% of ideal {ideal:.0f} req/s")
    print(f"sequential:  {sequential:8.1f} req/s over {args.sequential} requests "
          f"(ideal {1 / args.latency:.1f} req/s)")
    print(f"speed-up:    {concurrent / sequential:8.1f}x over one-at-a-time")
    elapsed, hits = cached_rerun(args.cached // 3)
    print(f"cached rerun: {hits} verdicts in {elapsed:.2f} s ({hits / elapsed:.0f} verdicts/s), 0 requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
