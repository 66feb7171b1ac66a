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
        from .textsafe import unicode_clean

        # a file name that is not UTF-8 (lone surrogates) is shown with replacement marks, in every output
        self.path = unicode_clean(str(path))
        self.message = unicode_clean(str(message))
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


class PartialReadError(ReadError):
    """A file whose first part was read before a fault: the error is reported (exit 2), and `runs`, what was read
    before it, are still checked."""

    def __init__(self, path: str | Path, message: str, runs: list, line: int | None = None,
                 offset: int | None = None):
        super().__init__(path, message, line=line, offset=offset)
        self.runs = runs


def describe(exc: BaseException) -> str:
    """One meaningful line for an exception that escaped a reader: what is wrong with the file, then the raw
    exception in brackets for a bug report (never a traceback)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    raw = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if len(raw) > 160:
        raw = raw[:157] + "..."
    if isinstance(exc, RecursionError):
        return "nested too deeply to parse (recursion limit)"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or raw}"
    if isinstance(exc, MemoryError):
        return "too large to read into memory"
    if isinstance(exc, UnicodeError):
        return f"not valid text in the expected encoding ({raw})"
    if isinstance(exc, OverflowError):
        return f"a number out of range ({raw})"
    if isinstance(exc, (IndexError, KeyError, AttributeError, TypeError, ValueError)):
        return f"content not laid out as this format expects ({raw})"
    return f"unexpected failure while reading ({raw})"


class ConfigError(Exception):
    """A configuration file or option that cannot be used (exit code 2)."""
