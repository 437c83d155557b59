"""Benchmark of the judge layer against a local fake judge with a fixed latency.

Prints achieved requests/s at the configured concurrency against the ideal
(concurrency / latency) and against one-at-a-time calls; then the speed-up of two
replicas over one, each replica able to generate `--capacity` requests at once (so
one replica, not the client, is the bottleneck: ideal capacity / latency per replica);
then the time of a fully cached rerun of 21,000 ClinHallu verdicts (7,000 answer,
7,000 Visual Recognition with images, 7,000 Knowledge Recall), run against an
endpoint where nothing listens so that any request would fail.

    .venv/bin/python benchmarks/bench_judge.py [--latency 0.1] [--concurrency 32] [--capacity 8]

Not a test: numbers depend on the machine. Goals: >= 80% of ideal at concurrency 32,
two replicas >= 1.8x one, cached rerun < 10 s.
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
from clinhallu_tasks.judging import JudgeClient, JudgeConfig, JudgeRequest, cache  # noqa: E402
from clinhallu_tasks.judging.templates import TemplateTexts  # noqa: E402

FILLER = (
    "The frontal chest radiograph shows a blunted left costophrenic angle with a meniscus sign, "
    "a normal cardiac silhouette and no focal consolidation in either lung. "
)


def start_server(latency: float, capacity: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """A fake judge in its own process, so it does not compete with the client for the GIL.

    With `capacity`, a replica that generates at most that many requests at once.
    """
    script = ["tests/judging/fake_endpoint.py", "--capacity", str(capacity)] if capacity else \
        ["tests/support/judge_server.py"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / script[0]), *script[1:], "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"judge server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def answer_requests(n: int, tag: str, templates: TemplateTexts) -> list[JudgeRequest]:
    """ClinHallu answer-judge requests, one in four with a wrong answer."""
    return [judges.answer_request(f"{tag} question {i}: {FILLER}Is there an effusion?", "yes",
                                  "yes" if i % 4 else "no", templates=templates) for i in range(n)]


def config(url: str, folder: str, concurrency: int) -> JudgeConfig:
    return JudgeConfig(base_url=url, model="bench-judge", cache_path=Path(folder) / "cache.sqlite3",
                       concurrency=concurrency, max_retries=0, timeout=30.0)


def throughput(url: str, concurrency: int, n: int, tag: str) -> float:
    templates = judges.load_templates()
    with tempfile.TemporaryDirectory() as folder, JudgeClient(config(url, folder, concurrency),
                                                              progress=False) as client:
        requests = answer_requests(n, tag, templates)
        # Open the connections first.
        client.judge_many(answer_requests(concurrency, "warm", templates), judges.parse_answer_verdict)
        start = time.perf_counter()
        outcomes = client.judge_many(requests, judges.parse_answer_verdict, label="timed")
        elapsed = time.perf_counter() - start
        assert all(o.ok for o in outcomes) and client.stats("timed").cache_hits == 0, client.stats("timed")
    return n / elapsed


def parse_echo(text: str) -> str:
    return text


def replica_throughput(urls: list[str], concurrency: int, n: int, tag: str) -> float:
    """Requests/s against one or more replicas (the client balances them)."""
    with tempfile.TemporaryDirectory() as folder, JudgeClient(config(",".join(urls), folder, concurrency),
                                                              progress=False) as client:
        requests = [JudgeRequest(messages=[{"role": "user", "content": f"{tag} {i} {FILLER}"}]) for i in range(n)]
        client.judge_many(requests[:concurrency], parse_echo, label="warm")  # open the connections first
        start = time.perf_counter()
        outcomes = client.judge_many(requests[concurrency:], parse_echo, label="timed")
        elapsed = time.perf_counter() - start
        assert all(o.ok for o in outcomes)
        stats = client.stats("timed")
        assert stats.calls == n - concurrency and stats.prompt_tokens > 0, stats
    return (n - concurrency) / elapsed


def cached_rerun(per_kind: int) -> tuple[float, int]:
    """Seconds for a fully cached rerun of 3 x per_kind verdicts, from a fresh client."""
    with tempfile.TemporaryDirectory() as folder:
        images = []
        for i in range(300):  # items share a pool of images, 1 to 3 per item, like the real data
            path = Path(folder) / f"img{i}.png"
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(20_000))
            images.append(str(path))
        templates = judges.load_templates()
        support = {"reference_visual_recognition": FILLER, "reference_knowledge_recall": FILLER,
                   "candidate_visual_recognition": FILLER, "candidate_knowledge_recall": FILLER}
        answers = answer_requests(per_kind, "c", templates)
        steps = [judges.step_request("visual_recognition", f"q{i} {FILLER}", "yes", FILLER * 2, f"{i} {FILLER * 2}",
                                     image_paths=images[i % 300 : i % 300 + 1 + i % 3], templates=templates)
                 for i in range(per_kind)]
        steps += [judges.step_request("knowledge_recall", f"q{i} {FILLER}", "yes", FILLER * 2, f"{i} {FILLER * 2}",
                                      support=support, templates=templates) for i in range(per_kind)]
        down = "http://127.0.0.1:9/v1"  # discard port: any request would fail the run
        settings = config(down, folder, 32)
        # Fill the cache directly with the verdicts a first run would have stored.
        with JudgeClient(settings, progress=False) as filler:
            filler.cache.put_many(((filler.request_key(r), '{"answer_correct": 1, "answer_reasoning": "ok"}')
                                   for r in answers), model=settings.model)
            filler.cache.put_many(((filler.request_key(r), '{"hallucinated": 0, "reason": "ok"}') for r in steps),
                                  model=settings.model)
        cache._file_sha256.cache_clear()  # as in a new process: image hashes not yet memoised
        start = time.perf_counter()
        with JudgeClient(settings, progress=False) as client:
            outcomes = client.judge_many(answers, judges.parse_answer_verdict, label="rerun")
            outcomes += client.judge_many(steps, judges.parse_step_verdict, label="rerun")
            stats = client.stats("rerun")
        elapsed = time.perf_counter() - start
        assert all(o.ok for o in outcomes) and stats.cache_hits == 3 * per_kind and stats.calls == 0, stats
    return elapsed, stats.cache_hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Judge-layer throughput and cached-rerun benchmark")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request (s)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1600, help="requests for the concurrent run")
    parser.add_argument("--sequential", type=int, default=30, help="requests for the one-at-a-time run")
    parser.add_argument("--cached", type=int, default=21_000, help="verdicts in the cached rerun")
    parser.add_argument("--capacity", type=int, default=8, help="requests one replica generates at once")
    parser.add_argument("--replica-requests", type=int, default=800, help="requests for the replica runs")
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
    replicas = [start_server(args.latency, args.capacity) for _ in range(2)]
    try:
        urls = [url for _, url in replicas]
        one = replica_throughput(urls[:1], args.concurrency, args.replica_requests, "r1")
        two = replica_throughput(urls, args.concurrency, args.replica_requests, "r2")
    finally:
        for proc, _ in replicas:
            proc.terminate()
            proc.wait(timeout=10)
    per_replica = args.capacity / args.latency
    print(f"1 replica:   {one:8.1f} req/s = {100 * one / per_replica:.1f}% of its ideal {per_replica:.0f} req/s "
          f"(capacity {args.capacity})")
    print(f"2 replicas:  {two:8.1f} req/s = {100 * two / (2 * per_replica):.1f}% of ideal {2 * per_replica:.0f} "
          f"req/s; speed-up {two / one:.2f}x (ideal 2x)")
    elapsed, hits = cached_rerun(args.cached // 3)
    print(f"cached rerun: {hits} verdicts in {elapsed:.2f} s ({hits / elapsed:.0f} verdicts/s), 0 requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
