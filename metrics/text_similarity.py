"""Text similarity of an answer to its ground truth: METEOR, ROUGE-L and BERTScore F1.

Settings follow the MedHallTune protocol (PROTOCOL §2.2):
- METEOR: NLTK `single_meteor_score` on whitespace-split tokens, default parameters
  (alpha 0.9, beta 3, gamma 0.5, lower-casing, Porter stemmer), WordNet 3.0.
- ROUGE-L: F-measure of `rouge_score`'s `rougeL` with stemming.
- BERTScore: F1 with `roberta-large` at layer 17, no idf weighting, no baseline rescaling.
  The model is configurable (MEDHALLTUNE_BERTSCORE_MODEL / _NUM_LAYERS) and every result
  says which model and layer produced it, since scores of different models do not compare.

Assets are loaded once per process (WordNet before any threaded use, each BERTScore model
once per setting) and a missing asset raises MetricAssetError saying how to get it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clinhallu_tasks.errors import ClinHalluTasksError

DEFAULT_BERTSCORE_MODEL = "roberta-large"
BERTSCORE_MODEL_VARIABLE = "MEDHALLTUNE_BERTSCORE_MODEL"
BERTSCORE_LAYERS_VARIABLE = "MEDHALLTUNE_BERTSCORE_NUM_LAYERS"
BERTSCORE_BATCH_VARIABLE = "MEDHALLTUNE_BERTSCORE_BATCH_SIZE"
BERTSCORE_DEVICE_VARIABLE = "MEDHALLTUNE_BERTSCORE_DEVICE"

EXPECTED_WORDNET_VERSION = "3.0"

WORDNET_HELP = """\
METEOR needs NLTK's WordNet 3.0 corpus, which NLTK could not find{where}.
  Online:  python -m nltk.downloader wordnet        (or, in Python, nltk.download("wordnet"))
  Offline: install Debian's wordnet-base and wordnet-sense-index packages
           (apt-get install wordnet-base wordnet-sense-index), then copy them into an NLTK
           data folder with scripts/install_wordnet.sh DIR from the clinhallu-tasks sources,
           and export NLTK_DATA=DIR. On another machine: run `python -m nltk.downloader -d DIR
           wordnet` where the internet is reachable and copy DIR over.
  NLTK looks in NLTK_DATA and in: {paths}"""

BERTSCORE_HELP = """\
BERTScore could not load the model {model!r} ({error}).
  Online:  the model is downloaded from the Hugging Face Hub on first use (or ahead of time:
           hf download {hub_name}).
  Offline: on a machine with internet, run `hf download {hub_name}` and copy the Hugging Face
           cache folder (~/.cache/huggingface, or $HF_HOME) to this machine, with HF_HOME
           pointing at it and HF_HUB_OFFLINE=1; or download into a folder
           (`hf download {hub_name} --local-dir DIR`), copy DIR and set
           {model_var}=DIR and {layers_var}={layers}.
  A different model (scores are then not comparable with the benchmark's): set {model_var}
  to its Hub name or folder and {layers_var} to the layer to use."""


class MetricAssetError(ClinHalluTasksError):
    """A metric's package, corpus or model is missing; the message says how to get it."""


# ---------------------------------------------------------------- METEOR

_wordnet_lock = threading.Lock()
_wordnet_version: str | None = None
_meteor_lock = threading.Lock()


def ensure_wordnet() -> str:
    """Load WordNet fully, once, and return its version.

    NLTK loads WordNet lazily, and a first use from several threads at once can race, so
    this runs before any scoring: it builds the reader and opens every data file.
    """
    global _wordnet_version
    with _wordnet_lock:
        if _wordnet_version is not None:
            return _wordnet_version
        nltk = _require_module("nltk", "nltk")
        from nltk.corpus import wordnet

        try:
            wordnet.ensure_loaded()
            # Opens the four data files now rather than on first lookup inside a thread.
            for word, pos in (("dog", "n"), ("run", "v"), ("good", "a"), ("well", "r")):
                wordnet.synsets(word, pos=pos)
        except LookupError:
            where = f" (NLTK_DATA={os.environ['NLTK_DATA']})" if os.environ.get("NLTK_DATA") else ""
            message = WORDNET_HELP.format(where=where, paths=", ".join(nltk.data.path))
            raise MetricAssetError(message) from None
        version = str(wordnet.get_version())
        if version != EXPECTED_WORDNET_VERSION:
            logging.getLogger("clinhallu_tasks").warning(
                "WordNet %s found; the benchmark's METEOR uses WordNet %s, so scores may differ slightly",
                version,
                EXPECTED_WORDNET_VERSION,
            )
        _wordnet_version = version
        return version


def wordnet_on_disk() -> tuple[str, str] | None:
    """(folder, version) of the WordNet corpus NLTK would load, without loading it; None if NLTK finds none.

    For quick checks (`clinhallu-tasks doctor`); scoring goes through `ensure_wordnet`.
    """
    import re

    nltk = _require_module("nltk", "nltk")
    try:
        folder = nltk.data.find("corpora/wordnet")
    except LookupError:
        return None
    try:  # the version line NLTK's own reader looks for, in the adjective data file's licence header
        with nltk.data.find("corpora/wordnet/data.adj").open() as handle:
            head = handle.read(4096).decode("utf-8", "replace")
    except (LookupError, OSError):
        return None
    match = re.search(r"Word[nN]et (\d+\+?|\d+\.\d+) Copyright", head)
    return str(folder), match.group(1) if match else "unknown"


def meteor_scores(references: Sequence[str], hypotheses: Sequence[str]) -> list[float]:
    """METEOR of each hypothesis against its reference, on whitespace-split tokens."""
    _same_length(references, hypotheses)
    ensure_wordnet()
    from nltk.translate.meteor_score import single_meteor_score

    pairs = zip(references, hypotheses, strict=True)
    # NLTK's WordNet reader shares its open data files between threads (seek, then read):
    # concurrent lookups read each other's lines and fail or mis-score, even after loading.
    # METEOR is pure Python under the GIL, so serializing it costs no throughput.
    with _meteor_lock:
        return [float(single_meteor_score(ref.split(), hyp.split())) for ref, hyp in pairs]


# ---------------------------------------------------------------- ROUGE-L

_rouge_lock = threading.Lock()
_rouge_scorer: Any = None


def rouge_l_scores(references: Sequence[str], hypotheses: Sequence[str]) -> list[float]:
    """ROUGE-L F-measure of each hypothesis against its reference, with Porter stemming."""
    global _rouge_scorer
    _same_length(references, hypotheses)
    with _rouge_lock:
        if _rouge_scorer is None:
            rouge_scorer = _require_module("rouge_score.rouge_scorer", "rouge-score")
            _rouge_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scorer = _rouge_scorer
    pairs = zip(references, hypotheses, strict=True)
    # rouge_score's argument order is (target, prediction).
    return [float(scorer.score(ref, hyp)["rougeL"].fmeasure) for ref, hyp in pairs]


# ---------------------------------------------------------------- BERTScore


@dataclass(frozen=True)
class BertScoreSettings:
    """Which model scores BERTScore, and how. The defaults are the benchmark's."""

    model: str | os.PathLike[str] = DEFAULT_BERTSCORE_MODEL
    num_layers: int | None = None  # None: bert_score's tuned layer for a known name (17 for roberta-large)
    batch_size: int = 64
    device: str | None = None  # None: the GPU when there is one, else the CPU

    def __post_init__(self) -> None:
        # bert_score string-matches the name, so a pathlib.Path folder must become a str.
        object.__setattr__(self, "model", os.fspath(self.model))
        if self.num_layers is not None and self.num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {self.num_layers}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BertScoreSettings:
        """Settings from MEDHALLTUNE_BERTSCORE_{MODEL,NUM_LAYERS,BATCH_SIZE,DEVICE}."""

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        def positive_int(name: str) -> int | None:
            raw = get(name)
            if raw is None:
                return None
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {raw!r}")
            return value

        batch_size = positive_int(BERTSCORE_BATCH_VARIABLE)
        return cls(
            model=get(BERTSCORE_MODEL_VARIABLE) or DEFAULT_BERTSCORE_MODEL,
            num_layers=positive_int(BERTSCORE_LAYERS_VARIABLE),
            batch_size=batch_size if batch_size is not None else 64,
            device=get(BERTSCORE_DEVICE_VARIABLE),
        )


@dataclass(frozen=True)
class BertScoreResult:
    """Per-pair F1 and what produced it (model, layer, device, bert_score's own settings hash)."""

    f1: list[float]
    model: str
    num_layers: int
    device: str
    settings_hash: str

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "num_layers": self.num_layers,
            "idf": False,
            "rescale_with_baseline": False,
            "device": self.device,
            "bert_score": self.settings_hash,
        }


_bertscore_lock = threading.Lock()
_score_lock = threading.Lock()
_bertscorers: dict[tuple[str, int, str], Any] = {}


def resolve_num_layers(settings: BertScoreSettings) -> int:
    """The layer BERTScore reads: the setting, else bert_score's tuned default for the model name."""
    if settings.num_layers is not None:
        return settings.num_layers
    utils = _require_module("bert_score.utils", "bert-score")
    layers = utils.model2layers.get(settings.model)
    if layers is None:
        raise ValueError(
            f"BERTScore model {settings.model!r} has no known default layer: set "
            f"{BERTSCORE_LAYERS_VARIABLE} (or num_layers) to the layer to use"
        )
    return int(layers)


def get_bertscorer(settings: BertScoreSettings | None = None) -> Any:
    """The process-wide `bert_score.BERTScorer` for these settings, loaded on first use."""
    settings = settings or BertScoreSettings()
    num_layers = resolve_num_layers(settings)
    device = settings.device or _default_device()
    key = (settings.model, num_layers, device)
    with _bertscore_lock:
        scorer = _bertscorers.get(key)
        if scorer is None:
            bert_score = _require_module("bert_score", "bert-score")
            try:
                scorer = bert_score.BERTScorer(
                    model_type=settings.model,
                    num_layers=num_layers,
                    idf=False,
                    rescale_with_baseline=False,
                    device=device,
                    batch_size=settings.batch_size,
                )
            except (OSError, ValueError) as exc:
                # transformers reports a model it cannot fetch or find as OSError/ValueError.
                raise MetricAssetError(_bertscore_help(settings, num_layers, exc)) from exc
            _restore_prefix_space(scorer, settings)
            _bertscorers[key] = scorer
        return scorer


def bertscore_f1(
    references: Sequence[str], candidates: Sequence[str], settings: BertScoreSettings | None = None
) -> BertScoreResult:
    """BERTScore F1 of each candidate against its reference (F1 does not depend on the order)."""
    _same_length(references, candidates)
    settings = settings or BertScoreSettings()
    scorer = get_bertscorer(settings)
    # bert_score gives a pair with an empty side F1 0 (its scores come out NaN and are zeroed),
    # but under transformers 5 it crashes on empty text instead; score such pairs 0 here.
    pairs = enumerate(zip(references, candidates, strict=True))
    scored = [i for i, (ref, cand) in pairs if ref.strip() and cand.strip()]
    scores = [0.0] * len(references)
    if scored:
        # One model, possibly shared by threads: score one batch set at a time.
        with _score_lock:
            _, _, f1 = scorer.score(
                [candidates[i] for i in scored],
                [references[i] for i in scored],
                batch_size=settings.batch_size,
            )
        for i, value in zip(scored, f1.tolist(), strict=True):
            scores[i] = float(value)
    return BertScoreResult(
        f1=scores,
        model=settings.model,
        num_layers=scorer.num_layers,
        device=str(scorer.device),
        settings_hash=str(scorer.hash),
    )


def check_text_metric_assets(settings: BertScoreSettings | None = None) -> None:
    """Raise MetricAssetError now if METEOR, ROUGE-L or BERTScore could not run later.

    Meant for before a long generation run. WordNet is loaded (it is needed anyway); for
    BERTScore only the model's configuration is looked up, not its weights.
    """
    settings = settings or BertScoreSettings()
    ensure_wordnet()
    _require_module("rouge_score.rouge_scorer", "rouge-score")
    _require_module("bert_score", "bert-score")
    try:
        num_layers = resolve_num_layers(settings)
    except ValueError as exc:
        raise MetricAssetError(str(exc)) from None
    with _bertscore_lock:
        if any(key[0] == settings.model and key[1] == num_layers for key in _bertscorers):
            return
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(settings.model)
    except (OSError, ValueError) as exc:
        raise MetricAssetError(_bertscore_help(settings, num_layers, exc)) from exc


# ---------------------------------------------------------------- helpers


def mean(values: Sequence[float]) -> float | None:
    """Plain mean; None for no values (never NaN)."""
    return sum(values) / len(values) if values else None


def _same_length(a: Sequence[str], b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"got {len(a)} references but {len(b)} texts to score")


def _restore_prefix_space(scorer: Any, settings: BertScoreSettings) -> None:
    """Make a byte-level BPE tokenizer (RoBERTa, GPT-2) encode the first word as mid-sentence.

    bert_score asks for this per call (`encode(..., add_prefix_space=True)`), which the slow
    tokenizers of transformers 4 honoured, so the benchmark's roberta-large scores were
    computed that way. transformers 5 ignores the per-call flag; the tokenizer has to be
    built with it instead, or every sentence's first token changes and so do the scores.
    """
    tokenizer = scorer._tokenizer  # bert_score keeps it here; there is no public setter
    probe = "hello"
    try:
        plain = tokenizer.encode(probe, add_special_tokens=False)
        flag_ignored = tokenizer.encode(probe, add_special_tokens=False, add_prefix_space=True) == plain
        space_matters = tokenizer.encode(" " + probe, add_special_tokens=False) != plain
    except TypeError:  # a tokenizer that rejects the flag outright is not one bert_score passes it to
        return
    from transformers import GPT2Tokenizer, RobertaTokenizer

    if not (isinstance(tokenizer, (GPT2Tokenizer, RobertaTokenizer)) and flag_ignored and space_matters):
        return
    from transformers import AutoTokenizer

    scorer._tokenizer = AutoTokenizer.from_pretrained(settings.model, add_prefix_space=True)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _require_module(name: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise MetricAssetError(
            f"the Python package {package!r} is missing: pip install 'clinhallu-tasks[medhalltune]' "
            f"(or pip install {package})"
        ) from None


def _bertscore_help(settings: BertScoreSettings, num_layers: int, exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    # A folder cannot be downloaded by name: point at the benchmark's model instead.
    is_folder = os.path.isabs(settings.model) or os.path.exists(settings.model)
    hub_name = DEFAULT_BERTSCORE_MODEL if is_folder else settings.model
    layers = resolve_num_layers(BertScoreSettings(model=hub_name)) if is_folder else num_layers
    return BERTSCORE_HELP.format(
        model=settings.model,
        error=first_line,
        hub_name=hub_name,
        model_var=BERTSCORE_MODEL_VARIABLE,
        layers_var=BERTSCORE_LAYERS_VARIABLE,
        layers=layers,
    )
