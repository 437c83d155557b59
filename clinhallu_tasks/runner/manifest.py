"""`protocol-run.json`: what a run folder was asked to do, so that a rerun resumes it or refuses.

Written into the run folder (`<output_path>/<model folder>/`) before the first generation.
A rerun with the same identity (model, model arguments with secrets masked, decoding, resampling,
limit, prompt options) resumes: saved generations are reused, missing ones are generated. A rerun
whose identity differs is refused with the differing fields named: mixing two models' or two
settings' generations in one folder would make every number in it meaningless. Asking for more
tasks than before is allowed (they are added). Changing only a secret (a rotated API key) or where
the model is served (`base_url`, a port, timeouts, concurrency: ADDRESS_ARGUMENTS) is not a
different run: secrets are masked and addresses left out before anything is compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.records import RecordError

MANIFEST_FILE = "protocol-run.json"
MANIFEST_VERSION = 1

# Model arguments that say where and how the model is reached, not which model answers:
# a server restarted on another host or port serves the same run.
ADDRESS_ARGUMENTS = frozenset({
    "base_url", "api_base", "host", "port", "url", "endpoint", "timeout", "max_retries", "retry_backoff_s",
    "num_concurrent", "httpx_trust_env", "adaptive_concurrency", "adaptive_min_concurrency",
    "adaptive_max_concurrency", "adaptive_target_latency_s", "adaptive_increase_step", "adaptive_decrease_factor",
    "adaptive_failure_threshold", "prefix_aware_queue", "prefix_hash_chars",
})


def identity_model_args(masked_model_args: str) -> str:
    """The model arguments that make the run: masked ones without the ADDRESS_ARGUMENTS."""
    kept = [piece for piece in masked_model_args.split(",")
            if piece.strip() and piece.partition("=")[0].strip() not in ADDRESS_ARGUMENTS]
    return ",".join(kept)


class RunFolderError(ClinHalluTasksError):
    """The run folder belongs to another run (model, arguments or settings)."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same run. Every value is safe to write (secrets masked)."""

    model: str  # lmms-eval --model
    model_args: str  # secrets masked, addresses left out (identity_model_args)
    gen_kwargs: str
    resample: int  # extra attempts for an invalid trace
    limit: float | None
    offset: int
    system_instruction: str | None
    apply_chat_template: bool
    seed: str


@dataclass
class RunManifest:
    identity: RunIdentity
    tasks: list[str]  # every task the folder's runs evaluated, in plan order
    versions: dict[str, str]
    sessions: list[dict[str, Any]] = field(default_factory=list)  # one per invocation: started, tasks asked
    manifest_version: int = MANIFEST_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_manifest(folder: Path) -> RunManifest | None:
    path = folder / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RecordError(path, error.lineno, None, f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise RecordError(path, None, None, "expected a JSON object")
    if data.get("manifest_version") != MANIFEST_VERSION:
        found = data.get("manifest_version")
        raise RecordError(path, None, "manifest_version", f"{found!r}, expected {MANIFEST_VERSION}")
    identity = data.get("identity")
    if not isinstance(identity, dict):
        raise RecordError(path, None, "identity", "missing or not an object")
    try:
        return RunManifest(
            identity=RunIdentity(**identity),
            tasks=list(data.get("tasks") or []),
            versions=dict(data.get("versions") or {}),
            sessions=list(data.get("sessions") or []),
        )
    except TypeError as error:
        raise RecordError(path, None, "identity", str(error)) from None


def differences(saved: RunIdentity, asked: RunIdentity) -> list[str]:
    """`field: saved -> asked` for every field that differs."""
    old, new = asdict(saved), asdict(asked)
    return [f"{name}: {old[name]!r} -> {new[name]!r}" for name in old if old[name] != new[name]]


def claim_folder(
    folder: Path, identity: RunIdentity, tasks: Iterable[str], versions: Mapping[str, str], session: Mapping[str, Any]
) -> tuple[RunManifest, bool]:
    """Write or update the folder's manifest; (manifest, resumed). RunFolderError for another run's folder."""
    saved = read_manifest(folder)
    if saved is not None and saved.identity != identity:
        changed = "\n".join(f"  {line}" for line in differences(saved.identity, identity))
        raise RunFolderError(
            f"{folder / MANIFEST_FILE}: this folder holds another run; rerunning resumes only the same "
            f"model with the same arguments. What differs (saved -> asked):\n{changed}\n"
            "Choose another --output_path, or delete the folder to start over."
        )
    known = list(saved.tasks) if saved else []
    manifest = RunManifest(
        identity=identity,
        tasks=known + [task for task in tasks if task not in known],
        versions=dict(versions),
        sessions=[*(saved.sessions if saved else []), dict(session)],
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(manifest.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return manifest, saved is not None


__all__ = [
    "ADDRESS_ARGUMENTS",
    "MANIFEST_FILE",
    "RunFolderError",
    "RunIdentity",
    "RunManifest",
    "claim_folder",
    "differences",
    "identity_model_args",
    "read_manifest",
]
