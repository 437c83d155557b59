"""Read string constants and message layouts from a benchmark's Python source without running it.

The official prompts are module-level string constants. They are read with `ast`: a constant
may be a string literal (implicit concatenation included), another constant of the same
module, or a `+` of those, which is what Python would compute. Anything else (a call, an
f-string, a `%` or `.format` result) is refused, because reading it would mean running code.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clinhallu_tasks.errors import ClinHalluTasksError


class OfficialPromptError(ClinHalluTasksError):
    """The checkout does not hold what the import reads; the message names the file and the constant."""


@dataclass(frozen=True)
class SourceFile:
    """One parsed Python file of the checkout."""

    path: Path
    tree: ast.Module

    def assignments(self) -> dict[str, ast.expr]:
        """Module-level `NAME = value` (and `NAME: type = value`), the last one winning as at run time."""
        found: dict[str, ast.expr] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                found[node.target.id] = node.value
        return found

    def function(self, name: str) -> ast.FunctionDef:
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node  # type: ignore[return-value]
        raise OfficialPromptError(f"{self.path}: function {name} not found")


def parse_source(path: Path) -> SourceFile:
    """Parse `path`; an error names the file when it is missing or not Python."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OfficialPromptError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OfficialPromptError(f"{path}: cannot read: {exc}") from None
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise OfficialPromptError(f"{path}, line {exc.lineno}: not valid Python: {exc.msg}") from None
    return SourceFile(path=path, tree=tree)


def string_constant(source: SourceFile, name: str) -> str:
    """The value of the module-level string constant `name`."""
    assignments = source.assignments()
    if name not in assignments:
        raise OfficialPromptError(f"{source.path}: constant {name} not found")
    return _evaluate(source, name, assignments[name], assignments, (name,))


def string_constants(source: SourceFile, names: tuple[str, ...]) -> dict[str, str]:
    return {name: string_constant(source, name) for name in names}


def _evaluate(
    source: SourceFile, name: str, node: ast.expr, assignments: Mapping[str, ast.expr], chain: tuple[str, ...]
) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in chain:
            raise OfficialPromptError(f"{source.path}, line {node.lineno}: constant {name} refers to itself")
        if node.id not in assignments:
            raise OfficialPromptError(
                f"{source.path}, line {node.lineno}: constant {name} is built from {node.id}, "
                "which is not a string constant of this file"
            )
        return _evaluate(source, name, assignments[node.id], assignments, (*chain, node.id))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _evaluate(source, name, node.left, assignments, chain) + _evaluate(
            source, name, node.right, assignments, chain
        )
    raise OfficialPromptError(
        f"{source.path}, line {node.lineno}: constant {name} is not a plain string "
        f"(found {type(node).__name__}: {ast.unparse(node)[:60]!r})"
    )


def fstring_template(
    source: SourceFile,
    where: str,
    node: ast.expr,
    names: Mapping[str, str],
    constants: Mapping[str, str],
) -> list[tuple[str, str | None]]:
    """An f-string (or a plain string) as pieces: `(literal, None)` or `("", placeholder)`.

    A `{name}` field becomes the placeholder `names[name]`, a module constant's text is inlined;
    any other field (an expression, a format spec, a conversion) is refused.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, None)]
    if not isinstance(node, ast.JoinedStr):
        raise OfficialPromptError(
            f"{source.path}, line {node.lineno}: {where} is not a string (found {type(node).__name__})"
        )
    pieces: list[tuple[str, str | None]] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            pieces.append((value.value, None))
            continue
        field = value.value if isinstance(value, ast.FormattedValue) else value
        plain = isinstance(value, ast.FormattedValue) and value.conversion == -1 and value.format_spec is None
        if not (plain and isinstance(field, ast.Name)):
            raise OfficialPromptError(
                f"{source.path}, line {value.lineno}: {where} has a field that is not a plain name "
                f"({ast.unparse(value)[:60]!r})"
            )
        if field.id in names:
            pieces.append(("", names[field.id]))
        elif field.id in constants:
            pieces.append((constants[field.id], None))
        else:
            raise OfficialPromptError(
                f"{source.path}, line {value.lineno}: {where} uses {field.id}, which the import does not know"
            )
    return pieces


def git_commit(checkout: Path) -> str | None:
    """The commit checked out in `checkout`, read from `.git` without running git; None when unreadable."""
    git = checkout / ".git"
    try:
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            pointer = git.read_text(encoding="utf-8").strip()
            if not pointer.startswith("gitdir:"):
                return None
            git = (checkout / pointer.removeprefix("gitdir:").strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head if _is_sha(head) else None
        ref = head.removeprefix("ref:").strip()
        for base in (git, _common_dir(git)):
            loose = base / ref
            if loose.is_file():
                sha = loose.read_text(encoding="utf-8").strip()
                return sha if _is_sha(sha) else None
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref and _is_sha(parts[0]):
                        return parts[0]
    except OSError:
        return None
    return None


def _common_dir(git: Path) -> Path:
    common = git / "commondir"
    if common.is_file():
        return (git / common.read_text(encoding="utf-8").strip()).resolve()
    return git


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)
