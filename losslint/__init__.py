"""losslint: an offline linter for training runs.

Python API:
    losslint.load(path) -> list[Run]          every run under path, in one schema
    losslint.check(path, config=None) -> list[Result]
"""
from __future__ import annotations

import os
from typing import Sequence

from .errors import ConfigError, ReadError
from .findings import Finding, Result
from .schema import Run

__version__ = "0.2.0.dev0"
__all__ = ["load", "check", "Run", "Result", "Finding", "ReadError", "ConfigError", "__version__"]


def load(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Run]:
    """Read every run under `path`; unreadable files are skipped (see `discover.load` for the errors)."""
    from .discover import load as _load

    runs, _errors = _load(path)
    return runs


def check(path: str | os.PathLike | Sequence[str | os.PathLike], config=None) -> list[Result]:
    """Check every run under `path` with `config` (None: the configuration found upward from the
    working directory)."""
    from .engine import check_paths

    results, _errors = check_paths(path, config)
    return results
