"""Errors a user sees when their data or configuration is wrong.

Each names what to fix: the file, the line (or record) and the field.
"""

from __future__ import annotations

from pathlib import Path


class ClinHalluTasksError(Exception):
    """Base class for errors this package raises on purpose."""


class SettingsError(ClinHalluTasksError):
    """An environment variable with a value that cannot be used; the message names the variable."""


class BaselineError(ClinHalluTasksError):
    """A replacement run's baseline folder is missing, another model's, or lacks items."""


class DataRootError(ClinHalluTasksError):
    """A data root, source folder or required file is missing."""


class DataError(ClinHalluTasksError):
    """A record in a data file is malformed."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        where = str(self.path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class DataProblems(DataError):
    """Several malformed records, reported together; `problems` holds each one.

    Its path, line and field are the first problem's, so code that handles one DataError handles this.
    """

    MAX_LISTED = 20

    def __init__(self, problems: list[DataError]) -> None:
        if not problems:
            raise ValueError("DataProblems needs at least one problem")
        self.problems = list(problems)
        first = problems[0]
        shown = "\n".join(f"  {p}" for p in problems[: self.MAX_LISTED])
        more = len(problems) - self.MAX_LISTED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        Exception.__init__(self, f"{len(problems)} problem(s) in the data:\n{shown}{tail}")
        self.path, self.line, self.field = first.path, first.line, first.field
