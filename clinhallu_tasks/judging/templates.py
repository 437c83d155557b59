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

`fill` is also where inserted text is kept in its place: a template may put tags around a value
(`<model_answer>{answer}</model_answer>`), and a value that contains one of those tags must not
be able to close its block and pose as instructions (`template_tags`, `defuse`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A tag as a template writes it around inserted text: `<model_answer>`, `</model_answer>`.
TAG = re.compile(r"<\s*/?\s*([A-Za-z_][\w.-]*)\s*>")
PACKAGED = "packaged"  # the source of a template read from the package, not an override folder


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
class TemplateTexts:
    """The effective templates of one set by file name, and where each was read from."""

    texts: Mapping[str, str]  # file name -> text as read (final newline included), in the set's order
    sources: Mapping[str, str]  # file name -> PACKAGED or the override file's path

    @property
    def overridden(self) -> frozenset[str]:
        """The names read from the override folder."""
        return frozenset(name for name, source in self.sources.items() if source != PACKAGED)

    def text(self, name: str) -> str:
        """The template as used: the file's text less one final newline (a file usually ends with one)."""
        text = self.texts[name]
        return text[:-1] if text.endswith("\n") else text

    def fingerprints(self) -> dict[str, str]:
        """`{file name: sha256 of the effective text}`, for provenance."""
        return text_fingerprints(self.texts)


def load(spec: TemplateSet, override_dir: str | os.PathLike[str] | None = None) -> TemplateTexts:
    """Read every template of `spec`, a same-named file in `override_dir` (when given) winning.

    The folder is the caller's to name (from `Settings`); nothing here reads the environment.
    """
    override = Path(override_dir).expanduser() if override_dir is not None else None
    if override is not None and not override.is_dir():
        raise spec.error(f"{spec.variable}={override}: no such directory.")
    if override is not None:
        strays = sorted(p.name for p in override.glob(f"{spec.stray_prefix}*") if p.name not in spec.placeholders)
        if strays:
            logger.warning("%s: ignoring %s (%s %s templates are named %s)",
                           spec.variable, strays, spec.label, spec.kind, list(spec.names))
    texts: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in spec.names:
        path, source = spec.packaged_dir / name, PACKAGED
        if override is not None and (override / name).is_file():
            path = override / name
            source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise spec.error(f"cannot read {spec.kind} template {path}: {exc}") from None
        check_placeholders(spec, name, text, path)
        texts[name] = text
        sources[name] = source
    return TemplateTexts(texts=texts, sources=sources)


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


def template_tags(*templates: str) -> frozenset[str]:
    """The names (lower case) of the tags the templates write, opening or closing."""
    return frozenset(name.lower() for template in templates for name in TAG.findall(template))


def defuse(text: str, tags: Collection[str]) -> str:
    """`text` with the `<` of each of `tags` in it (opening or closing, any case or spacing) written `&lt;`.

    Of the two ways to defuse a tag (`&lt;/model_answer>` or `[/model_answer]`) this one changes a
    single character, so the judge reads what the model wrote, and it needs no closing `>` to know a
    tag: `</model_answer` at a line's end and `< / model_answer >` are caught as well. Text without
    any of the tags, and all text when there are none (the imported official templates), is unchanged.
    """
    if not tags or "<" not in text:
        return text
    names = "|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True))
    return re.sub(rf"<(?=\s*/?\s*(?:{names})(?!\w))", "&lt;", text, flags=re.IGNORECASE)


def fill(
    template: str,
    values: Mapping[str, str],
    *,
    defuse_tags: Collection[str] = (),
    verbatim: Mapping[str, str] | None = None,
) -> str:
    """Substitute `{name}` placeholders in one pass: inserted text is never scanned for more of them.

    Each of `values` is first defused against `defuse_tags` (see `defuse`; usually the template's
    own `template_tags`). `verbatim` values are inserted as they are: text our own templates made
    (already filled and defused), not data. A placeholder without a value is left as written.
    """
    inserted = {name: defuse(value, defuse_tags) for name, value in values.items()}
    inserted.update(verbatim or {})
    return PLACEHOLDER.sub(lambda m: inserted.get(m.group(1), m.group(0)), template)


def text_fingerprints(texts: Mapping[str, str]) -> dict[str, str]:
    """`{name: sha256 of the text}`."""
    return {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in texts.items()}


def _braced(names: frozenset[str] | set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))
