"""Errors a user sees when their data or configuration is wrong.

Each names what to fix: the file, the line (or record) and the field.
"""

from __future__ import annotations

from pathlib import Path


class ClinHalluTasksError(Exception):
    """Base class for errors this package raises on purpose."""


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
