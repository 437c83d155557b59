"""What judging adds to a ClinHallu evaluation through the real CLI, against the ideal.

Runs the real `lmms-eval` CLI (or `clinhallu-tasks run` with `--driver run`) on `clinhallu`
(four sources x three runs) over a synthetic data root written to a temp folder (flat layout,
`--items` items per source, tiny PNGs), against two local servers on 127.0.0.1:

- the model: the demo's scripted model (traces derived from the gold traces, some invented
  sentences, some wrong answers, some traces without an [Answer] line), answering at once;
- the judge: the demo's scripted judge answering every request after a FIXED `--latency`;
  a set of requests chosen by the hash of their text first gets replies that are not a
  verdict (once or twice in a row), so the client asks again and re-ask chains of 2 and 3
  round trips occur.

Each repeat runs the same command twice: once without a judge, once with a fresh verdict
cache. It prints the judge calls the server counted, the ideal time (round trips x latency /
concurrency, or the longest re-ask chain if that is longer), the wall time the judge added
(judged run minus unjudged run, each timed from the model's last reply to the end of the
process, so that start-up and generation noise cancel; the whole-run difference is printed
too), the ratio ideal/added (goal >= 0.8), and the server's utilisation over the judging span
(first request in to last reply out). `--timeline` adds when each task's judge requests came
in and how many were in flight, second by second.

    .venv/bin/python benchmarks/bench_cli_judging.py [--items 48] [--latency 0.2] [--concurrency 32]
        [--driver lmms|run] [--processes 1] [--repeats 1] [--timeline]

Not a test: the numbers depend on the machine. The issue's baseline: 1,106 calls added 23.7 s,
0.29 of the ideal.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (the fake judge server, the offline environment)

from clinhallu_tasks.clinhallu.items import SOURCES, ClinHalluItem  # noqa: E402
from clinhallu_tasks.clinhallu.loading import GOLD_FILE, load_source, sample_files  # noqa: E402
from clinhallu_tasks.demo.chat_server import ChatServer, message_text  # noqa: E402
from clinhallu_tasks.demo.scripted_judge import ScriptedJudge, section  # noqa: E402
from clinhallu_tasks.demo.scripted_model import ScriptedModel  # noqa: E402
from tests.support.judge_server import FakeJudgeServer  # noqa: E402
from tests.support.lmms_cli import offline_env  # noqa: E402

GROUP = "clinhallu"
MODEL = "bench-vlm"
JUDGE = "bench-judge"
NOT_A_VERDICT = "Let me look at this step once more before I decide."
# Runs judged by each step (the answer judge serves every run).
RUN_OF_STEP = {"visual_recognition": "baseline", "knowledge_recall": "replace_vr", "reasoning": "replace_vr_kr"}


# ---------------------------------------------------------------- the synthetic data root


def _png(path: Path, seed: int) -> None:
    """A 16x16 grey PNG whose bytes differ per image (so image hashes differ)."""
    image = Image.new("L", (16, 16), seed % 256)
    image.putpixel((seed % 16, (seed // 16) % 16), (seed * 7 + 128) % 256)
    image.save(path)


def write_data_root(root: Path, per_source: int) -> None:
    """`per_source` items for each of the four sources in the flat layout, made from the embedded sample.

    Item k of a source copies sample record k mod 12 with a unique id, question and gold steps
    (the scripted model and judge find an item by its question, the run by the gold steps shown).
    """
    records = [json.loads(line) for line in sample_files().gold_file.read_text().splitlines() if line.strip()]
    image_seed = 0
    for source in SOURCES:
        folder = root / source.key
        (folder / "images").mkdir(parents=True)
        lines = []
        for k in range(per_source):
            record = json.loads(json.dumps(records[k % len(records)]))
            case = f"{source.name}-{k:03d}"
            record["source_id"] = case
            record["question"] = f"Case {case}: {record['question']}"
            for step in ("visual_recognition", "knowledge_recall", "reasoning"):
                record["gold_cot"][step]["text"] += f" This holds for case {case}."
            names = []
            for n in range(len(record["images"])):
                name = f"{case}_{n}.png"
                _png(folder / "images" / name, image_seed)
                image_seed += 1
                names.append(name)
            record["images"] = names
            lines.append(json.dumps(record))
        (folder / GOLD_FILE).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- the scripted servers


class BenchModel(ScriptedModel):
    """The demo's scripted model, with about one trace in 16 missing its [Answer] line (invalid).

    `last_reply` (monotonic seconds) marks the end of generation: what follows is scoring and judging.
    """

    def __init__(self, items: Sequence[ClinHalluItem]) -> None:
        super().__init__(items)
        self.plans = {key: dataclasses.replace(plan, broken=plan.broken or plan.seed % 16 == 0)
                      for key, plan in self.plans.items()}
        self.last_reply = 0.0

    def respond(self, body: dict[str, Any]) -> str:
        reply = super().respond(body)
        self.last_reply = time.monotonic()  # replies finishing together differ by microseconds: last write wins
        return reply


@dataclass(frozen=True)
class Ask:
    """One request as the judge server saw it."""

    start: float  # monotonic seconds at arrival
    end: float  # when the reply was written
    group: str  # "<source>/<run or acc>"
    attempt: int  # 1 for the first ask of this request, 2 and 3 for re-asks
    verdict: bool  # False: the reply was not a verdict (the client asks again)


class LatencyJudge:
    """The demo's scripted judge behind a fixed latency, with planned non-verdict replies and a log.

    Requests are told apart by their messages (every text and image). Of the distinct requests,
    those whose hash falls in the first `twice` percent get two non-verdict replies before a
    verdict (a chain of 3 round trips), the next `once` percent one (a chain of 2).
    """

    def __init__(self, items: Sequence[ClinHalluItem], latency: float, once: int = 7, twice: int = 3) -> None:
        self.judge = ScriptedJudge(items)
        self.items = {item.question: item for item in items}
        self.latency = latency
        self.once, self.twice = once, twice
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.asks: list[Ask] = []

    def _bad_replies(self, key: str) -> int:
        bucket = int(key[:8], 16) % 100
        return 2 if bucket < self.twice else 1 if bucket < self.twice + self.once else 0

    def _item(self, user: str) -> ClinHalluItem | None:
        question = section(user, "question") or ""
        found = [item for text, item in self.items.items() if text in question]
        return max(found, key=lambda item: len(item.question)) if found else None

    def _group(self, user: str) -> str:
        item = self._item(user)
        source = item.source if item is not None else "?"
        if section(user, "model_answer") is not None:
            return f"{source}/acc"
        reference = section(user, "reference_step") or ""
        for step, run in RUN_OF_STEP.items():
            if item is not None and item.gold.step(step) == reference:
                return f"{source}/{run}"
        return f"{source}/step?"

    def respond(self, body: dict[str, Any]) -> str:
        start = time.monotonic()
        user = message_text(body, role="user")
        key = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        with self._lock:
            self._seen[key] += 1
            attempt = self._seen[key]
        verdict = attempt > self._bad_replies(key)
        time.sleep(self.latency)
        reply = self.judge.respond(body) if verdict else NOT_A_VERDICT
        with self._lock:
            self.asks.append(Ask(start, time.monotonic(), self._group(user), attempt, verdict))
        return reply

    def chains(self) -> Counter[int]:
        """How many distinct requests took 1, 2, 3 ... round trips."""
        with self._lock:
            return Counter(self._seen.values())


# ---------------------------------------------------------------- one run of the CLI


@dataclass(frozen=True)
class RunResult:
    seconds: float
    returncode: int
    output: str
    started: float  # monotonic, for the timeline
    generated: float  # monotonic: the model's last reply
    metrics: dict[str, dict[str, Any]]

    @property
    def after_generation(self) -> float:
        """Seconds from the model's last reply to the end of the process: scoring, judging, records."""
        return self.started + self.seconds - self.generated


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(driver: str, processes: int, model_url: str, output: Path) -> list[str]:
    model_args = f"model_version={MODEL},base_url={model_url},num_concurrent=16"
    common = ["--model", "openai_compatible", "--model_args", model_args, "--tasks", GROUP,
              "--output_path", str(output), "--batch_size", "1"]
    if driver == "run":
        return [sys.executable, "-c", "import sys; from clinhallu_tasks.cli import main; sys.exit(main())",
                "run", *common, "--resample", "0"]
    lmms = ["-m", "lmms_eval", *common, "--log_samples", "--verbosity", "WARNING"]
    if processes == 1:
        return [sys.executable, *lmms]
    # On a machine without GPUs only --multi_gpu starts several processes (tests/e2e/test_distributed.py).
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), *lmms]


def _summaries(output: Path) -> dict[str, dict[str, Any]]:
    """Every task's metrics from our summary records."""
    return {path.name.removesuffix(".summary.json"): json.loads(path.read_text())["metrics"]
            for path in sorted(output.glob("*/*.summary.json"))}


def run_cli(driver: str, processes: int, folder: Path, name: str, model: BenchModel, model_url: str,
            env: dict[str, str]) -> RunResult:
    output = folder / name
    model.last_reply = 0.0
    started = time.monotonic()
    done = subprocess.run(_command(driver, processes, model_url, output), env=env, cwd=folder, capture_output=True,
                          text=True, timeout=3600)
    seconds = time.monotonic() - started
    return RunResult(seconds, done.returncode, done.stdout + done.stderr, started, model.last_reply,
                     _summaries(output))


def _check(result: RunResult, what: str) -> None:
    if result.returncode != 0 or not result.metrics:
        raise SystemExit(f"{what} failed (exit {result.returncode}, {len(result.metrics)} summaries):\n"
                         f"{result.output[-6000:]}")


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measure:
    calls: int
    distinct: int
    chains: dict[int, int]
    ideal: float
    added: float  # after generation: judged run minus run without a judge
    added_wall: float  # whole process: judged run minus run without a judge (startup noise included)
    span: float  # first judge request in to last reply out
    tail: float  # last reply out to the end of the process
    lead: float  # the model's last reply to the first judge request
    utilisation: float
    max_in_flight: int
    judged_seconds: float
    plain_seconds: float


def ideal_seconds(calls: int, longest_chain: int, latency: float, concurrency: int) -> float:
    """The shortest the judging can take: every slot busy, or the longest re-ask chain if longer."""
    return max(calls * latency / concurrency, longest_chain * latency)


def measure(judge: LatencyJudge, server: FakeJudgeServer, judged: RunResult, plain: RunResult, latency: float,
            concurrency: int) -> Measure:
    asks = judge.asks
    chains = judge.chains()
    first, last = min(a.start for a in asks), max(a.end for a in asks)
    span = last - first
    busy = sum(a.end - a.start for a in asks)
    return Measure(
        calls=len(asks), distinct=sum(chains.values()), chains=dict(sorted(chains.items())),
        ideal=ideal_seconds(len(asks), max(chains), latency, concurrency),
        added=judged.after_generation - plain.after_generation, added_wall=judged.seconds - plain.seconds,
        span=span,
        tail=judged.started + judged.seconds - last, lead=first - judged.generated,
        utilisation=busy / (concurrency * span), max_in_flight=server.max_in_flight,
        judged_seconds=judged.seconds, plain_seconds=plain.seconds,
    )


def print_timeline(asks: Sequence[Ask], started: float, concurrency: int, step: float = 1.0) -> None:
    """Per group: when its requests came in; then requests in flight, second by second."""
    origin = min(a.start for a in asks)
    print(f"  timeline (s after the first judge request, {origin - started:.1f} s into the run):")
    groups: dict[str, list[Ask]] = defaultdict(list)
    for ask in asks:
        groups[ask.group].append(ask)
    for group in sorted(groups, key=lambda g: min(a.start for a in groups[g])):
        items = groups[group]
        reasks = sum(a.attempt > 1 for a in items)
        print(f"    {group:<28} {len(items):4d} requests ({reasks:3d} re-asks)  "
              f"in {min(a.start for a in items) - origin:6.2f} .. {max(a.start for a in items) - origin:6.2f}  "
              f"last out {max(a.end for a in items) - origin:6.2f}")
    end = max(a.end for a in asks) - origin
    print(f"  in flight (mean over each {step:g} s; {concurrency} would fill every slot):")
    t = 0.0
    while t < end:
        overlap = sum(max(0.0, min(a.end - origin, t + step) - max(a.start - origin, t)) for a in asks)
        arrivals = sum(t <= a.start - origin < t + step for a in asks)
        print(f"    {t:6.1f} s  {overlap / step:5.1f} in flight  {arrivals:4d} arrived  "
              f"{'#' * round(overlap / step)}")
        t += step


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48, help="items per source (default 48)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the judge takes per request")
    parser.add_argument("--concurrency", type=int, default=32, help="CLINHALLU_JUDGE_CONCURRENCY")
    parser.add_argument("--driver", choices=("lmms", "run"), default="lmms",
                        help="lmms: `lmms-eval --tasks clinhallu`; run: `clinhallu-tasks run --resample 0`")
    parser.add_argument("--processes", type=int, default=1,
                        help="lmms driver: launch lmms-eval in N processes (accelerate launch --multi_gpu, on CPU)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeline", action="store_true", help="print when each task's judge requests came in")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the runs here, not in a temp folder (a new one: `run` resumes in an old one)")
    args = parser.parse_args(argv)
    if args.driver == "run" and args.processes != 1:
        parser.error("--processes applies to the lmms driver only")

    with tempfile.TemporaryDirectory(prefix="bench_cli_judging_") as temp:
        folder = args.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        root = folder / "data"
        if not root.exists():
            write_data_root(root, args.items)
        items = [item for source in SOURCES for item in load_source(source.name, root)]
        model = BenchModel(items)
        measures = []
        with ChatServer(model.respond) as model_server:
            for repeat in range(args.repeats):
                base = offline_env(folder, CLINHALLU_DATA_DIR=str(root), OPENAI_API_KEY="not-a-secret",
                                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                launch = (args.driver, args.processes, folder)
                plain = run_cli(*launch, f"plain{repeat}", model, model_server.base_url, base)
                _check(plain, "the run without a judge")
                judge = LatencyJudge(items, args.latency)
                with FakeJudgeServer(judge.respond, keep_records=False) as judge_server:
                    env = {**base, "CLINHALLU_JUDGE_BASE_URL": judge_server.base_url,
                           "CLINHALLU_JUDGE_MODEL": JUDGE,
                           "CLINHALLU_JUDGE_CACHE": str(folder / f"cache{repeat}.sqlite3"),
                           "CLINHALLU_JUDGE_CONCURRENCY": str(args.concurrency)}
                    judged = run_cli(*launch, f"judged{repeat}", model, model_server.base_url, env)
                _check(judged, "the judged run")
                if not judge.asks:
                    raise SystemExit(f"the judged run sent no judge request:\n{judged.output[-6000:]}")
                missing = sorted(task for task, metrics in judged.metrics.items()
                                 if metrics.get("clinhallu_acc") is None)
                if missing:
                    print(f"  warning: clinhallu_acc is None in {', '.join(missing)}")
                m = measure(judge, judge_server, judged, plain, args.latency, args.concurrency)
                measures.append(m)
                print(f"repeat {repeat + 1}/{args.repeats} ({args.driver}, {args.processes} process(es), "
                      f"{len(judged.metrics)} tasks, "
                      f"{args.items} items per source): judged run {m.judged_seconds:.1f} s "
                      f"({judged.after_generation:.1f} s after generation), without judge {m.plain_seconds:.1f} s "
                      f"({plain.after_generation:.1f} s after generation); whole-run difference {m.added_wall:.1f} s")
                print(f"  calls {m.calls} ({m.distinct} distinct requests; round trips per request "
                      f"{m.chains}), max in flight {m.max_in_flight}")
                ratio = m.ideal / m.added if m.added > 0 else float("inf")
                print(f"  ideal {m.ideal:.2f} s | added {m.added:.2f} s | ratio ideal/added {ratio:.2f} | "
                      f"judging span {m.span:.2f} s "
                      f"(ideal/span {m.ideal / m.span:.2f}) | server utilisation {m.utilisation:.2f}")
                lead = f"{m.lead:.2f} s after" if m.lead >= 0 else f"{-m.lead:.2f} s before"
                print(f"  the judged run: first judge request {lead} the model's last reply, "
                      f"process end {m.tail:.2f} s after the judge's last reply")
                if args.timeline:
                    print_timeline(judge.asks, judged.started, args.concurrency)
    if len(measures) > 1:
        added = statistics.median(m.added for m in measures)
        ideal = statistics.median(m.ideal for m in measures)
        span = statistics.median(m.span for m in measures)
        ratio = ideal / added if added > 0 else float("inf")
        print(f"median of {len(measures)}: calls {statistics.median(m.calls for m in measures):.0f}, ideal "
              f"{ideal:.2f} s, added {added:.2f} s, ratio ideal/added {ratio:.2f}, judging span {span:.2f} s, "
              f"utilisation {statistics.median(m.utilisation for m in measures):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
