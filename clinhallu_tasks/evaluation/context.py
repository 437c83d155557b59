"""One evaluation's settings, templates and judge client, made once and shared by its tasks.

An `EvaluationContext` is what lives for one evaluation (one `lmms-eval` invocation, one
`simple_evaluate` call, one VLMEvalKit run) and no longer: the judge client, its cache and
what became of the judge. A judge outage therefore ends with the evaluation; the next one
asks again. Nothing here is module state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from clinhallu_tasks.clinhallu import judges as clinhallu_judges
from clinhallu_tasks.clinhallu.prompts import load_prompt_templates
from clinhallu_tasks.errors import ClinHalluTasksError, SettingsError
from clinhallu_tasks.judging import JudgeClient, JudgeOutcome, JudgeRequest
from clinhallu_tasks.judging.templates import TemplateTexts
from clinhallu_tasks.medhalltune import judge as medhalltune_judge
from clinhallu_tasks.records import JudgeInfo
from clinhallu_tasks.settings import JUDGE_TEMPLATES, PROMPT_TEMPLATES, Settings

logger = logging.getLogger("clinhallu_tasks")

T = TypeVar("T")

NO_JUDGE_NOTE = (
    "no judge configured: set CLINHALLU_JUDGE_BASE_URL and CLINHALLU_JUDGE_MODEL "
    "(and CLINHALLU_JUDGE_API_KEY if the endpoint needs one)"
)


@dataclass(frozen=True)
class Templates:
    """Every prompt template this evaluation uses, read once when it starts.

    The records fingerprint exactly these texts: what was sent, not what is installed later.
    `*_wording` says "package", "official" (an `import-prompts` folder, unedited) or "custom".
    """

    generation: TemplateTexts
    clinhallu_judge: TemplateTexts
    medhalltune_judge: TemplateTexts
    generation_wording: str
    judge_wording: str


def _wording(kind: str, variable: str, folder: Path | None) -> str:
    if folder is None:
        return "package"
    from clinhallu_tasks.official.provenance import wording_provenance

    return str(wording_provenance(kind, {variable: str(folder)})["wording"])  # type: ignore[arg-type]


def load_evaluation_templates(settings: Settings) -> Templates:
    """Read and check every template now; an unusable one is a SettingsError naming the file."""
    # The folders come from the settings alone (None: the packaged wording); no loader reads the environment.
    try:
        generation = load_prompt_templates(settings.prompt_templates_dir)
        clinhallu = clinhallu_judges.load_templates(settings.judge_templates_dir)
        medhalltune = medhalltune_judge.load_templates(settings.judge_templates_dir)
    except ClinHalluTasksError:
        raise
    except (ValueError, OSError) as error:  # the ClinHallu judge templates raise ValueError
        raise SettingsError(str(error)) from None
    return Templates(
        generation=generation,
        clinhallu_judge=clinhallu,
        medhalltune_judge=medhalltune,
        generation_wording=_wording("generation", PROMPT_TEMPLATES, settings.prompt_templates_dir),
        judge_wording=_wording("judge", JUDGE_TEMPLATES, settings.judge_templates_dir),
    )


class EvaluationContext:
    """Settings, templates and the judge client of one evaluation.

    `output_folder` and `model` may be unknown when the evaluation starts (lmms-eval names
    them only when it aggregates); `TaskEvaluation.finish` then takes them.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        output_folder: Path | None = None,
        model: str = "",
        framework: str = "",
        generation_settings: Mapping[str, Any] | None = None,
        client: JudgeClient | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.settings = settings
        self.output_folder = Path(output_folder) if output_folder is not None else None
        self.model = model
        self.framework = framework
        self.generation_settings: dict[str, Any] = dict(generation_settings or {})
        self.templates = templates if templates is not None else load_evaluation_templates(settings)
        self._lock = threading.Lock()
        self._outage: str | None = None
        self._closed = False
        if client is None and settings.judge is not None:
            try:
                client = JudgeClient(settings.judge, progress=False)
            except (OSError, ValueError) as error:  # the verdict cache cannot be opened
                raise SettingsError(f"judge cache {settings.judge.cache_path}: {error}") from None
        self._client = client

    @classmethod
    def from_env(
        cls,
        output_folder: Path | None = None,
        model: str = "",
        framework: str = "",
        settings: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> EvaluationContext:
        """Read and check every setting once (judge, templates, data roots): errors before any generation.

        `settings` are the generation settings to record (decoding, resampling); `environ`
        defaults to the process environment.
        """
        return cls(
            Settings.from_env(environ),
            output_folder=output_folder,
            model=model,
            framework=framework,
            generation_settings=settings,
        )

    # ------------------------------------------------------------ judge

    @property
    def judge_client(self) -> JudgeClient | None:
        return self._client

    def submit(
        self, request: JudgeRequest, parse: Callable[[str], T], label: str
    ) -> Future[JudgeOutcome[T]]:
        """Send one judge request now; the future raises JudgeUnavailableError after an outage."""
        if self._client is None:
            raise RuntimeError("no judge configured")
        return self._client.submit(request, parse, label=label)

    def record_outage(self, message: str) -> bool:
        """Remember the first outage of this evaluation; True for the first report of it."""
        with self._lock:
            first = self._outage is None
            if first:
                self._outage = message
            return first

    @property
    def outage(self) -> str | None:
        with self._lock:
            return self._outage

    def judge_info(self) -> JudgeInfo:
        """The judge this evaluation was configured with and, if it failed, why (never the key)."""
        config = self.settings.judge
        if config is None:
            return JudgeInfo(configured=False, failure=None)
        settings: dict[str, Any] = {
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "thinking": config.thinking,
            "structured_output": config.structured_output,
            "format_retries": config.format_retries,
            "extra_body_keys": sorted(config.extra_body),  # the values may be private
        }
        if self._client is not None:
            capabilities = self._client.capabilities()
            settings["thinking_switch_sent"] = capabilities["thinking_switch"]
            settings["structured_output_sent"] = capabilities["structured_output"]
        return JudgeInfo(
            configured=True,
            model=config.model,
            endpoints=len(config.base_urls),
            settings=settings,
            failure=self.outage,
        )

    def close(self) -> None:
        """Release the judge client (idempotent). Verdicts are already in the cache."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._client is not None:
            self._client.close()


__all__ = ["NO_JUDGE_NOTE", "EvaluationContext", "Templates", "load_evaluation_templates"]
