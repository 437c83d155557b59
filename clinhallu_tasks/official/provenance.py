"""Which prompt wording a run used: ours, the official one imported by `import-prompts`, or custom.

- "package": no template is overridden;
- "official": the overridden templates are exactly the files an `import-prompts` manifest in
  the override folder lists for this kind (generation or judge), each with the recorded sha256;
- "custom": anything else (an edited imported file, a hand-written one, a mix).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from clinhallu_tasks.clinhallu import judges as clinhallu_judges
from clinhallu_tasks.clinhallu import prompts
from clinhallu_tasks.judging.templates import TemplateSet, TemplateTexts, load
from clinhallu_tasks.medhalltune import judge as medhalltune_judge
from clinhallu_tasks.official.importer import MANIFEST_FORMAT, MANIFEST_PREFIX

Kind = Literal["generation", "judge"]

_SETS: Mapping[Kind, tuple[str, tuple[TemplateSet, ...]]] = {
    "generation": (prompts.ENV_PROMPT_TEMPLATES, (prompts.TEMPLATE_SET,)),
    "judge": (clinhallu_judges.ENV_TEMPLATES, (clinhallu_judges.TEMPLATE_SET, medhalltune_judge.TEMPLATE_SET)),
}


def wording_provenance(kind: Kind, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`{"wording": "official"|"package"|"custom", "templates": {file: sha256}}` for the `kind`
    templates in effect; with "official", also `"sources"`: the repository and commit of each
    import whose files are in use."""
    variable, sets = _SETS[kind]
    override = environ.get(variable, "").strip() or None
    loaded: list[TemplateTexts] = [load(template_set, override) for template_set in sets]
    fingerprints: dict[str, str] = {}
    overridden: set[str] = set()
    for templates in loaded:
        fingerprints.update(templates.fingerprints())
        overridden |= templates.overridden
    record: dict[str, Any] = {"wording": "package", "templates": fingerprints}
    if not overridden:
        return record
    imported, sources = _imported(Path(override).expanduser(), kind, set(fingerprints))  # type: ignore[arg-type]
    official = bool(imported) and set(imported) == overridden and all(
        fingerprints[name] == sha for name, sha in imported.items()
    )
    record["wording"] = "official" if official else "custom"
    if official:
        record["sources"] = sources
    return record


def template_provenance(environ: Mapping[str, str] = os.environ) -> dict[str, dict[str, Any]]:
    """`{"generation": wording_provenance("generation"), "judge": wording_provenance("judge")}`."""
    return {kind: wording_provenance(kind, environ) for kind in ("generation", "judge")}


def _imported(folder: Path, kind: Kind, names: set[str]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Files of this kind that the folder's import manifests list (name -> sha256), and the imports."""
    files: dict[str, str] = {}
    sources: list[dict[str, Any]] = []
    for manifest_path in sorted(folder.glob(f"{MANIFEST_PREFIX}*.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # unreadable: its files then count as custom
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            continue
        listed = {
            name: entry["sha256"]
            for name, entry in (manifest.get("files") or {}).items()
            if isinstance(entry, dict) and entry.get("kind") == kind and name in names and "sha256" in entry
        }
        if listed:
            files.update(listed)
            sources.append({"repository": manifest.get("repository"), "commit": manifest.get("commit")})
    return files, sources
