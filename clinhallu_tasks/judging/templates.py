"""Judge prompt templates: packaged text files, each replaceable by a same-named file in a folder.

A `TemplateSet` describes one judge's templates: the packaged folder, the file names and the
placeholders each file may use (and must use), and the prefix its file names share. `load`
reads them, letting a file of the same name in an override folder win over the packaged one.
The override folder may be shared by several template sets, so files without the set's prefix
are none of its business; a file with the prefix that is not one of the set's names is most
likely a misspelt name, and is reported instead of silently ignored.

Placeholders are written `{name}`; other text in braces (a JSON example, `{ x }`) is left alone.
Every template is checked when read, and the error names the file. Fingerprints (sha256) of the
effective texts record which prompts were in use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class TemplateSet:
    """What one judge's templates are and how to report trouble with them."""

    label: str  # whose templates these are, for messages ("<label> judge templates are named ...")
    packaged_dir: Path
    placeholders: Mapping[str, frozenset[str]]  # file name -> placeholders it may use, in reading order
    stray_prefix: str  # unknown files in the override folder starting with this are reported
    variable: str  # the environment variable that names the override folder, for messages
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)  # file name -> must contain
    error: type[Exception] = ValueError  # raised for an unusable folder or template
    kind: str = "judge"  # what the templates prompt, for messages ("judge template ...", "generation template ...")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.placeholders)


@dataclass(frozen=True)
class LoadedTemplates:
    """The effective template texts of one set, and which file each was read from."""

    texts: Mapping[str, str]  # file name -> text, in the set's order
    paths: Mapping[str, Path]  # file name -> the file it was read from
    overridden: frozenset[str]  # names read from the override folder

    def fingerprints(self) -> dict[str, str]:
        return text_fingerprints(self.texts)


def load(spec: TemplateSet, override_dir: str | os.PathLike[str] | None = None) -> LoadedTemplates:
    """Read every template of `spec`, a same-named file in `override_dir` (when given) winning."""
    override = Path(override_dir).expanduser() if override_dir is not None else None
    if override is not None and not override.is_dir():
        raise spec.error(f"{spec.variable}={override}: no such directory.")
    if override is not None:
        strays = sorted(p.name for p in override.glob(f"{spec.stray_prefix}*") if p.name not in spec.placeholders)
        if strays:
            logger.warning("%s: ignoring %s (%s %s templates are named %s)",
                           spec.variable, strays, spec.label, spec.kind, list(spec.names))
    texts: dict[str, str] = {}
    paths: dict[str, Path] = {}
    overridden: set[str] = set()
    for name in spec.names:
        path = spec.packaged_dir / name
        if override is not None and (override / name).is_file():
            path = override / name
            overridden.add(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise spec.error(f"cannot read {spec.kind} template {path}: {exc}") from None
        check_placeholders(spec, name, text, path)
        texts[name] = text
        paths[name] = path
    return LoadedTemplates(texts=texts, paths=paths, overridden=frozenset(overridden))


def check_placeholders(spec: TemplateSet, name: str, text: str, path: Path | str) -> None:
    """Refuse placeholders the file may not use, or a missing one it must use; the error names `path`."""
    used = set(PLACEHOLDER.findall(text))
    allowed = spec.placeholders[name]
    unknown = used - allowed
    if unknown:
        raise spec.error(
            f"{spec.kind} template {path}: unknown placeholder(s) {_braced(unknown)}; "
            f"allowed here: {_braced(allowed) or 'none'}"
        )
    absent = spec.required.get(name, frozenset()) - used
    if absent:
        raise spec.error(f"{spec.kind} template {path}: must contain {_braced(absent)}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute `{name}` placeholders in one pass: inserted text is never scanned for more of them.

    A placeholder without a value is left as written.
    """
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def text_fingerprints(texts: Mapping[str, str]) -> dict[str, str]:
    """`{name: sha256 of the text}`."""
    return {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in texts.items()}


def combined_fingerprint(texts: Mapping[str, str]) -> str:
    """One sha256 over every (name, text) pair in the mapping's order; changes when any is edited."""
    digest = hashlib.sha256()
    for name, text in texts.items():
        digest.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _braced(names: frozenset[str] | set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))
