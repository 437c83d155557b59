"""`clinhallu-tasks doctor`: what a run needs, checked in seconds, without generating anything.

Each check prints one line, OK / FAIL / WARN / INFO, and for a FAIL or WARN the command or setting
that fixes it. The exit status is 1 when any check failed: something a configured run needs is
missing or broken. WARN is for what a run can live without or fetch on its own (a BERTScore model
that will be downloaded on first use). Only `--judge` sends anything over the network to the judge.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

OK, FAIL, WARN, INFO = "OK", "FAIL", "WARN", "INFO"


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report."""

    status: str  # OK, FAIL, WARN or INFO
    what: str
    detail: str
    fix: str = ""

    def render(self) -> str:
        text = f"{self.status:<5} {self.what}: {self.detail}"
        if self.fix:
            text += "\n" + "\n".join(f"      {line}" for line in f"fix: {self.fix}".splitlines())
        return text


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


# ---------------------------------------------------------------- lmms-eval


def check_lmms_eval() -> Iterator[Finding]:
    """lmms-eval and its evaluator import, and no known-incompatible dependency is installed."""
    version = _version("lmms-eval")
    if version is None:
        yield Finding(FAIL, "lmms-eval", "not installed", "pip install clinhallu-tasks (it depends on lmms-eval)")
        return
    try:
        evaluator = importlib.import_module("lmms_eval.evaluator")
    except Exception as exc:  # any import failure is the finding
        yield Finding(FAIL, "lmms-eval", f"{version} installed, but lmms_eval.evaluator does not import: "
                      f"{_first_line(exc)}", "pip install --force-reinstall clinhallu-tasks")
        return
    yield Finding(OK, "lmms-eval", f"{version}; lmms_eval.evaluator imports")
    yield from _known_incompatibilities(evaluator)


def _known_incompatibilities(evaluator: object) -> Iterator[Finding]:
    # lmms-eval 0.7.3 imports filelock._api at the start of every evaluation; filelock 4.3 removed it,
    # so every run dies there (and lmms-eval still exits 0). pyproject.toml bounds filelock for this.
    if hasattr(evaluator, "_enable_reentrant_filelocks"):
        try:
            importlib.import_module("filelock._api")
        except ImportError:
            yield Finding(
                FAIL, "filelock",
                f"filelock {_version('filelock')} has no filelock._api, which lmms-eval {_version('lmms-eval')} "
                "imports at the start of every evaluation: every run would crash",
                "pip install 'filelock<4.3'",
            )
            return
        yield Finding(OK, "filelock", f"{_version('filelock')} (has filelock._api, which lmms-eval imports)")


def check_registration(task_names: tuple[str, ...]) -> Iterator[Finding]:
    """Our tasks reach lmms-eval's TaskManager through the entry point, and no built-in task takes a name of ours.

    Only our folder is indexed (lmms-eval's own 2,000 task files take many seconds to parse); built-in
    names are found by a plain text scan, since a built-in silently wins a clash.
    """
    try:
        importlib.import_module("lmms_eval.models")  # loads the entry points, ours among them
        from lmms_eval.tasks import TaskManager

        known = set(TaskManager(include_defaults=False).all_tasks)
    except Exception as exc:  # any failure here means `lmms-eval --tasks clinhallu` would fail too
        yield Finding(FAIL, "task registration", f"lmms-eval's TaskManager failed: {_first_line(exc)}",
                      'lmms-eval --include_path "$(clinhallu-tasks path)" ... works without the entry point')
        return
    missing = [name for name in task_names if name not in known]
    if missing:
        yield Finding(FAIL, "task registration", f"lmms-eval does not know {', '.join(missing[:5])}"
                      f"{' ...' if len(missing) > 5 else ''} ({len(missing)} of {len(task_names)})",
                      "pip install --force-reinstall --no-deps clinhallu-tasks (re-creates the entry point), or pass "
                      '--include_path "$(clinhallu-tasks path)" to lmms-eval')
        return
    clashes = _builtin_clashes(task_names)
    if clashes:
        yield Finding(FAIL, "task registration", f"lmms-eval's own tasks also define {', '.join(clashes)}, and a "
                      "built-in name wins: `--tasks` would run theirs", "report this to clinhallu-tasks")
        return
    yield Finding(OK, "task registration", f"lmms-eval knows all {len(task_names)} clinhallu/medhalltune tasks "
                  "and groups")


def _builtin_clashes(task_names: tuple[str, ...]) -> list[str]:
    import lmms_eval.tasks

    wanted = set(task_names)
    found = set()
    for path in Path(lmms_eval.tasks.__file__).parent.rglob("*.yaml"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in ("task", "group") and value.strip().strip("'\"") in wanted:
                found.add(value.strip().strip("'\""))
    return sorted(found)


# ---------------------------------------------------------------- data


def check_data_roots(environ: Mapping[str, str]) -> Iterator[Finding]:
    """Each data root that is set passes `clinhallu-tasks check`."""
    from clinhallu_tasks.check import check_clinhallu_root, check_medhalltune_root
    from clinhallu_tasks.clinhallu.loading import DATA_DIR_VARIABLE as CLINHALLU_VARIABLE
    from clinhallu_tasks.medhalltune.loading import DATA_DIR_VARIABLE as MEDHALLTUNE_VARIABLE

    for variable, check, label in (
        (CLINHALLU_VARIABLE, check_clinhallu_root, "clinhallu_sample"),
        (MEDHALLTUNE_VARIABLE, check_medhalltune_root, "medhalltune_sample"),
    ):
        value = environ.get(variable, "").strip()
        if not value:
            yield Finding(INFO, variable, f"not set: only the embedded sample ({label}) can run")
            continue
        root = Path(value).expanduser()
        if not root.is_dir():
            yield Finding(FAIL, variable, f"{value}: no such directory", f"export {variable}=<the data root>")
            continue
        lines: list[str] = []
        problems = check(root, max_listed=3, say=lines.append)
        summary = next((line.strip() for line in lines if "Total:" in line), f"{root}")
        if problems:
            yield Finding(FAIL, variable, f"{root}: {problems} problem(s). {summary}",
                          f"clinhallu-tasks check{' --medhalltune ' + str(root) if 'MEDHALL' in variable else ''} "
                          "lists every one")
        else:
            yield Finding(OK, variable, f"{root} passes `clinhallu-tasks check`. {summary}".rstrip(". "))


# ---------------------------------------------------------------- metric assets


def check_wordnet() -> Iterator[Finding]:
    """WordNet for METEOR (MedHallTune)."""
    from clinhallu_tasks.metrics.text_similarity import EXPECTED_WORDNET_VERSION, wordnet_on_disk

    found = wordnet_on_disk()
    if found is None:
        yield Finding(FAIL, "WordNet (METEOR, MedHallTune)", "NLTK cannot find the WordNet corpus",
                      "python -m nltk.downloader wordnet\n"
                      "offline: apt-get install wordnet-base wordnet-sense-index, then "
                      "scripts/install_wordnet.sh DIR (in the clinhallu-tasks sources) and export NLTK_DATA=DIR")
        return
    folder, version = found
    if version != EXPECTED_WORDNET_VERSION:
        yield Finding(WARN, "WordNet (METEOR, MedHallTune)", f"WordNet {version} in {folder}; the benchmark's "
                      f"METEOR used {EXPECTED_WORDNET_VERSION}, so scores may differ slightly",
                      "python -m nltk.downloader wordnet")
        return
    yield Finding(OK, "WordNet (METEOR, MedHallTune)", f"WordNet {version} in {folder}")


def check_bertscore_model(environ: Mapping[str, str], hub_probe: Callable[[str], bool]) -> Iterator[Finding]:
    """The BERTScore model is on this machine, or can be fetched on first use."""
    from clinhallu_tasks.metrics.text_similarity import BERTSCORE_MODEL_VARIABLE, BertScoreSettings

    what = "BERTScore model (MedHallTune)"
    try:
        settings = BertScoreSettings.from_env(environ)
    except ValueError as exc:
        yield Finding(FAIL, what, str(exc), "fix the MEDHALLTUNE_BERTSCORE_* variable it names")
        return
    model = str(settings.model)
    folder = Path(model).expanduser()
    if folder.is_absolute() or folder.exists():
        if (folder / "config.json").is_file() and any(folder.glob("*.safetensors")) | any(folder.glob("*.bin")):
            yield Finding(OK, what, f"local folder {folder}")
        else:
            yield Finding(FAIL, what, f"{BERTSCORE_MODEL_VARIABLE}={model}: no model (config.json and weights) there",
                          f"point {BERTSCORE_MODEL_VARIABLE} at a folder saved with save_pretrained, or unset it")
        return
    if _in_hf_cache(model):
        yield Finding(OK, what, f"{model} is in the Hugging Face cache")
        return
    offline = environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0", "false", "False")
    if not offline and hub_probe(model):
        yield Finding(WARN, what, f"{model} is not downloaded yet; the first MedHallTune run downloads it",
                      f"hf download {model}   (now, ahead of the run)")
        return
    reason = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub is not reachable from here"
    yield Finding(FAIL, what, f"{model} is not in the Hugging Face cache and {reason}",
                  f"on a machine with internet: hf download {model}; copy the cache (HF_HOME) here, or download to a "
                  f"folder and set {BERTSCORE_MODEL_VARIABLE}=<folder>")


def _in_hf_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    if not isinstance(try_to_load_from_cache(model, "config.json"), str):
        return False
    return any(isinstance(try_to_load_from_cache(model, name), str)
               for name in ("model.safetensors", "pytorch_model.bin"))


def hub_reachable(model: str, timeout: float = 5.0) -> bool:
    """Whether the Hugging Face Hub answers for `model` within `timeout` seconds."""
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        return httpx.head(f"{endpoint}/{model}/resolve/main/config.json", timeout=timeout,
                          follow_redirects=True).status_code == 200
    except httpx.HTTPError:
        return False


# ---------------------------------------------------------------- judge


def check_judge(environ: Mapping[str, str], probe: bool) -> Iterator[Finding]:
    """The judge settings parse; with `probe`, the endpoint answers one verdict-shaped request."""
    from clinhallu_tasks.judging import JudgeConfig, JudgeConfigError

    try:
        config = JudgeConfig.from_env(environ)
    except JudgeConfigError as exc:
        yield Finding(FAIL, "judge", f"bad setting: {exc}", "fix the variable it names")
        return
    if config is None:
        yield Finding(INFO, "judge", "not configured: judge metrics will be None (set CLINHALLU_JUDGE_BASE_URL "
                      "and CLINHALLU_JUDGE_MODEL to enable them)")
        return
    if not probe:
        yield Finding(INFO, "judge", f"{config.model} at {config.base_url} (not contacted: `clinhallu-tasks doctor "
                      "--judge` sends one request)")
        return
    yield _probe_judge(config)


def _probe_judge(config) -> Finding:
    from dataclasses import replace

    from clinhallu_tasks.clinhallu.judges import answer_request, parse_answer_verdict
    from clinhallu_tasks.judging import JudgeClient, JudgeUnavailableError

    request = answer_request("Is the sky blue on a clear day?", "yes", "yes")
    with tempfile.TemporaryDirectory() as scratch:
        # A private cache: the probe must ask the endpoint, and must not leave a verdict behind.
        probe_config = replace(config, cache_path=Path(scratch) / "probe.sqlite3", max_retries=1, format_retries=0)
        started = time.monotonic()
        try:
            with JudgeClient(probe_config, progress=False) as client:
                [outcome] = client.judge_many([request], parse_answer_verdict, desc="doctor")
        except JudgeUnavailableError as exc:
            reason = str(exc).split(" is unavailable: ", 1)[-1].split(". ", 1)[0]
            return Finding(FAIL, "judge", f"{config.model} at {config.base_url} is unreachable: {reason}",
                           "check CLINHALLU_JUDGE_BASE_URL (an OpenAI-compatible .../v1 base), the server, and "
                           "CLINHALLU_JUDGE_API_KEY")
    elapsed = time.monotonic() - started
    if not outcome.ok:
        return Finding(FAIL, "judge", f"{config.model} at {config.base_url} answered, but not with a verdict: "
                       f"{outcome.error}", "check CLINHALLU_JUDGE_MODEL; a chat model that follows instructions is "
                       "needed (the official judge is Qwen3.5-27B)")
    return Finding(OK, "judge", f"{config.model} at {config.base_url} answered a verdict in {elapsed:.1f} s")


# ---------------------------------------------------------------- hardware and backends


def check_backends() -> Iterator[Finding]:
    """torch, GPU, vLLM and decord presence (informational, but decord missing is a WARN)."""
    try:
        import torch

        cuda = torch.cuda.is_available()
        gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else ""
        yield Finding(INFO, "torch", f"{torch.__version__}; " + (f"GPU: {gpus}" if cuda else "no GPU (CPU only)"))
    except Exception as exc:  # a broken torch is worth knowing, not fatal for an API-model run
        yield Finding(WARN, "torch", f"does not import: {_first_line(exc)}", "pip install --force-reinstall torch")
    vllm = _version("vllm")
    yield Finding(INFO, "vLLM", vllm if vllm else "not installed (only needed for --model vllm: "
                  "pip install 'clinhallu-tasks[vllm]')")
    vlmeval = next(((dist, v) for dist in ("ms-vlmeval", "nvidia-vlmeval") if (v := _version(dist))), None)
    yield Finding(INFO, "VLMEvalKit", f"{vlmeval[0]} {vlmeval[1]} (clinhallu-vlmeval runs it)" if vlmeval
                  else "not installed (only needed for clinhallu-vlmeval: pip install 'clinhallu-tasks[vlmeval]')")
    if importlib.util.find_spec("decord") is None:
        yield Finding(WARN, "decord", "not installed: lmms-eval's llava_hf and Qwen-VL backends (and the demo's tiny "
                      "model) import it", "pip install decord (wheels exist for x86-64; elsewhere try eva-decord)")
    else:
        yield Finding(OK, "decord", f"{_version('decord')} (lmms-eval's llava_hf and Qwen-VL backends import it)")


# ---------------------------------------------------------------- the whole report


def our_task_names() -> tuple[str, ...]:
    """Every task and group name our YAML folder declares."""
    import yaml

    from clinhallu_tasks.registration import task_dir

    names = []
    for path in sorted(task_dir().rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.startswith(("task:", "group:")) and not line.rstrip().endswith(":"):
                names.append(yaml.safe_load(line).popitem()[1])
    return tuple(dict.fromkeys(names))


def run_doctor(
    *,
    probe_judge: bool = False,
    environ: Mapping[str, str] | None = None,
    say: Callable[[str], None] = print,
    hub_probe: Callable[[str], bool] = hub_reachable,
) -> int:
    """Print every finding; 1 when any check failed, else 0."""
    from clinhallu_tasks import __version__

    env = os.environ if environ is None else environ
    say(f"clinhallu-tasks {__version__} doctor")
    checks: list[Callable[[], Iterator[Finding]]] = [
        check_lmms_eval,
        lambda: check_registration(our_task_names()),
        lambda: check_data_roots(env),
        check_wordnet,
        lambda: check_bertscore_model(env, hub_probe),
        lambda: check_judge(env, probe_judge),
        check_backends,
    ]
    failed = 0
    for check in checks:
        for finding in check():
            say(finding.render())
            failed += finding.status == FAIL
    say(f"{failed} problem(s) found: a run that needs them would fail." if failed else "No problems found.")
    return 1 if failed else 0
