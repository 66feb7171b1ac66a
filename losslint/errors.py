"""The one error type for bad input. Its text is the one line a user sees: `path[:line]: message`."""
from __future__ import annotations

import os
from pathlib import Path

DEBUG_ENV = "LOSSLINT_DEBUG"


def reraise_if_debugging() -> None:
    """Call inside an `except` block that turns a failure into a note or a one-line error (so that one bad file
    or one rule's bug does not hide the rest): with `LOSSLINT_DEBUG` set, the failure is re-raised instead, with
    its traceback."""
    if os.environ.get(DEBUG_ENV):
        raise  # the exception the caller is handling


class ReadError(Exception):
    """A file that cannot be read as a training log. Readers raise only this for bad input."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, offset: int | None = None):
        self.path = str(path)
        self.message = message
        self.line = line
        self.offset = offset
        super().__init__(self.text)

    @property
    def location(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.offset is not None:
            return f"{self.path}@{self.offset}"
        return self.path

    @property
    def text(self) -> str:
        return f"{self.location}: {self.message}"

    def as_dict(self) -> dict:
        where = (f"line {self.line}: " if self.line is not None
                 else f"offset {self.offset}: " if self.offset is not None else "")
        return {"path": self.path, "message": where + self.message}


class ConfigError(Exception):
    """A configuration file or option that cannot be used (exit code 2)."""
