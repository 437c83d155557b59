"""Every command the README and docs/ show is accepted by the program it calls.

Each fenced ```bash block is split into commands; each command goes through the real argument
parser of its program (ours, lmms-eval's, VLMEvalKit's), and the names it uses (task names,
lmms-eval model backends, scripts, modules, extras) must exist. Running the commands themselves
needs models, GPUs and data CI lacks; the demo and the set-up/test commands run in CI anyway.
A program this test does not know fails it, so a new kind of command gets a check here.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Shell words that are part of a documented line but not arguments to check.
PLACEHOLDER_PATH = "/tmp/clinhallu-task-yaml"


@dataclass(frozen=True)
class Command:
    document: Path
    line: int
    words: list[str]

    def __str__(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}: {shlex.join(self.words)}"


def _blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) of each ```bash block."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if current is None and line.strip() in ("```bash", "```sh", "```console"):
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current)))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _commands(path: Path) -> list[Command]:
    commands = []
    for start, text in _blocks(path):
        logical, first = "", None
        for offset, raw in enumerate(text.splitlines()):
            if first is None:
                first = start + offset
            line = raw.rstrip()
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            logical += line
            commands.extend(_split(path, first, logical))
            logical, first = "", None
    return commands


def _split(path: Path, line: int, text: str) -> list[Command]:
    text = re.sub(r"\$\((?:\.venv/bin/)?clinhallu-tasks path\)", PLACEHOLDER_PATH, text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, words = [], []
    for token in lexer:
        if token and set(token) <= set(";&|"):
            if words:
                commands.append(Command(path, line, words))
            words = []
        else:
            words.append(token)
    if words:
        commands.append(Command(path, line, words))
    for command in commands:  # leading VAR=value assignments are the environment, not the program
        while command.words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command.words[0]):
            command.words.pop(0)
    return [c for c in commands if c.words]


ALL_COMMANDS = [command for document in DOCUMENTS for command in _commands(document)]


def _parse(parser, argv: list[str], command: Command) -> object:
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        pytest.fail(f"{command}\n  rejected by its argument parser (exit {exit_.code})")


def _task_names() -> set[str]:
    names = {path.stem for path in (REPO / "task_yaml").rglob("*.yaml")}
    for path in (REPO / "task_yaml").rglob("*.yaml"):
        names.update(re.findall(r"^group:\s*(\S+)", path.read_text(encoding="utf-8"), flags=re.M))
    return names


def _check_tasks(tasks: str | None, command: Command) -> None:
    for task in (tasks or "").split(","):
        if task.startswith(("clinhallu", "medhalltune")):
            assert task in _task_names(), f"{command}\n  names task {task!r}, which does not exist"


def _check_model(name: str, command: Command) -> None:
    from lmms_eval.models import list_available_models

    known = set(list_available_models(include_aliases=True))
    assert name in known, f"{command}\n  lmms-eval has no model backend {name!r}"


def check_lmms_eval(argv: list[str], command: Command, monkeypatch) -> None:
    if argv and argv[0] == "tasks":
        from lmms_eval.cli.dispatch import _build_parser

        _parse(_build_parser(), argv, command)
        return
    if argv and argv[0] == "eval":
        argv = argv[1:]
    from lmms_eval.__main__ import parse_eval_args

    monkeypatch.setattr(sys, "argv", ["lmms-eval", *argv])
    try:
        _, args = parse_eval_args()
    except SystemExit as exit_:
        pytest.fail(f"{command}\n  rejected by lmms-eval's argument parser (exit {exit_.code})")
    _check_model(args.model, command)
    _check_tasks(args.tasks, command)


def check_clinhallu_tasks(argv: list[str], command: Command, monkeypatch) -> None:
    from clinhallu_tasks.cli import build_parser

    args = _parse(build_parser(), argv, command)
    if getattr(args, "model", None):
        _check_model(args.model, command)
    _check_tasks(getattr(args, "tasks", None), command)


def check_vlmeval(argv: list[str], command: Command, monkeypatch) -> None:
    if importlib.util.find_spec("vlmeval") is None:
        pytest.skip("vlmeval is not installed (CI installs it)")
    import vlmeval.run

    from clinhallu_tasks.vlmevalkit.judge import withhold_judge_key
    from clinhallu_tasks.vlmevalkit.names import DATASETS_BY_NAME

    # What VLMEvalKit's run loop parses once `clinhallu-vlmeval` has taken the judge key out.
    arguments, _ = withhold_judge_key(argv)
    monkeypatch.setattr(sys, "argv", ["clinhallu-vlmeval", *arguments])
    try:
        args = vlmeval.run.parse_args()
    except SystemExit as exit_:
        pytest.fail(f"{command}\n  rejected by VLMEvalKit's argument parser (exit {exit_.code})")
    for name in args.data or []:
        assert name in DATASETS_BY_NAME, f"{command}\n  no dataset {name!r} of ours"


def check_python(argv: list[str], command: Command, monkeypatch) -> None:
    assert argv[:1] == ["-m"], f"{command}\n  only `python -m <module>` commands are documented"
    module = argv[1]
    if module == "lmms_eval":
        check_lmms_eval(argv[2:], command, monkeypatch)
    elif module == "clinhallu_tasks.cli":
        check_clinhallu_tasks(argv[2:], command, monkeypatch)
    elif module == "pytest":
        markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
        for index, word in enumerate(argv[2:], start=2):
            if word == "-m":
                used = set(re.findall(r"[a-z_]+", argv[index + 1])) - {"not", "and", "or"}
                declared = {m.split(":")[0] for m in markers}
                assert used <= declared, f"{command}\n  unknown pytest marker(s) {used - declared}"
    else:
        assert importlib.util.find_spec(module) is not None, f"{command}\n  no module {module!r}"


def check_script(argv: list[str], command: Command, monkeypatch) -> None:
    script = argv[0]
    assert (REPO / script).is_file(), f"{command}\n  no script {script}"


def check_pip(argv: list[str], command: Command, monkeypatch) -> None:
    assert argv[0] == "install", f"{command}\n  only `pip install` is documented"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for word in argv[1:]:
        match = re.fullmatch(r"(?:clinhallu-tasks|\.|-e \.)\[([a-z,_-]+)\]", word)
        if match:
            for extra in match[1].split(","):
                assert extra in extras, f"{command}\n  no extra [{extra}] in pyproject.toml"


def check_accelerate(argv: list[str], command: Command, monkeypatch) -> None:
    assert argv[0] == "launch", f"{command}\n  only `accelerate launch` is documented"
    index = argv.index("-m")
    assert argv[index + 1] == "lmms_eval", f"{command}\n  launches {argv[index + 1]!r}"
    check_lmms_eval(argv[index + 2 :], command, monkeypatch)


def check_git(argv: list[str], command: Command) -> None:
    # Only clones of the official repositories, for `clinhallu-tasks import-prompts`.
    assert argv[0] == "clone" and argv[1].startswith("https://github.com/"), f"{command}\n  unexpected git command"


PROGRAMS = {
    "lmms-eval": check_lmms_eval,
    "clinhallu-tasks": check_clinhallu_tasks,
    "clinhallu-vlmeval": check_vlmeval,
    "python": check_python,
    "python3": check_python,
    "bash": lambda argv, command, mp: check_script(argv, command, mp),
    "pip": check_pip,
    "accelerate": check_accelerate,
    "git": lambda argv, command, mp: check_git(argv, command),
    "export": lambda argv, command, mp: None,  # environment set-up lines
    "cd": lambda argv, command, mp: None,
}


def _program(word: str) -> str:
    return word.removeprefix(".venv/bin/").removeprefix("./")


def test_the_documents_show_commands():
    assert len(ALL_COMMANDS) > 10  # the extraction itself works
    programs = {_program(c.words[0]) for c in ALL_COMMANDS}
    assert {"clinhallu-tasks", "lmms-eval"} <= programs


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=str)
def test_documented_command_is_accepted(command: Command, monkeypatch):
    program = _program(command.words[0])
    assert program in PROGRAMS, f"{command}\n  no check for program {program!r}: add one to {__file__}"
    assert "..." not in command.words, f"{command}\n  write a runnable command, not a '...' placeholder"
    PROGRAMS[program](command.words[1:], command, monkeypatch)
