"""losslint: an offline linter for training runs.

Python API:
    losslint.load(path) -> Runs                a list of `Run`, every run under path in one schema; `.errors`
    losslint.check(path, config=None) -> Report  a list of `Result` (findings, verdict, early stop) per run;
                                                `.results` and `.errors` (the inputs that could not be read)

A path that does not exist raises `FileNotFoundError`; an input that exists but cannot be read is a `ReadError` in
`.errors`, and the other runs are still read.
"""

from .errors import ConfigError, ReadError
from .findings import Finding, Report, Result, Runs
from .schema import Run

__version__ = "0.2.0.dev0"
__all__ = ["load", "check", "Run", "Runs", "Result", "Report", "Finding", "ReadError", "ConfigError", "__version__"]


def _existing(path):
    """The paths, as a list; `FileNotFoundError` for the first local path that does not exist (a typo is not "no
    runs"). An object-store URL (`s3://...`) is left to discovery: a missing bucket or prefix is a `ReadError`."""
    import os

    from .discover import fs

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    for one in paths:
        if not fs.is_url(one) and not os.path.lexists(fs.as_path(one)):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(one))
    return paths


def load(path) -> Runs:
    """Read every run under `path` (a path or a list of paths). Returns a list of `Run` whose `.errors` holds the
    inputs that could not be read; raises `FileNotFoundError` for a path that does not exist."""
    from .discover import load as _load

    runs, errors = _load(_existing(path))
    return Runs(runs, errors)


def check(path, config=None, jobs: int = 1) -> Report:
    """Check every run under `path` with `config` (None: the configuration found upward from the working
    directory; or a `losslint.toml`/`pyproject.toml` path, or a dict). Returns a `Report`: a list of `Result` with
    `.results` and `.errors`; raises `FileNotFoundError` for a path that does not exist."""
    from .engine import check_paths

    results, errors = check_paths(_existing(path), config, jobs=jobs)
    return Report(results, errors)
