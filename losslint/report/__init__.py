"""Reporters: each module formats `Result`s and nothing else.

Every output format is a module here with `render(results, errors, options) -> str`; `FORMATS` maps the
`--format` name to that module. `write_report(results, errors, out_dir, options)` (module `bundle`) writes the
report directory (report.md + PNGs, and comment.md: report.md fitted to a GitHub PR comment).
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Sequence

from ..errors import ReadError
from ..findings import Result

FORMATS = {
    "text": "text",
    "json": "json_format",
    "markdown": "markdown",
    "github": "github",
    "junit": "junit",
    "sarif": "sarif",
}


# What `--format markdown` is cut to fit (`markdown.LIMITS`): a GitHub job summary, a PR comment, nothing. Named
# here, not imported from there, so the CLI can offer the choices without importing the reporter.
MARKDOWN_LIMITS = ("summary", "comment", "none")
# Curve smoothing in the PNGs: the EMA's time constant as a share of the points drawn (`report.png`); 0 = raw only.
DEFAULT_SMOOTHING = 0.02


@dataclass(frozen=True)
class ReportOptions:
    """What every reporter is given besides the results (each reads the fields it needs)."""

    fail_on: str = "warning"  # findings at or above this severity fail the run (exit code 1)
    rule_doc_base: str = "https://github.com/losslint/losslint/blob/main/docs/rules/"
    markdown_limit: str = "summary"  # one of MARKDOWN_LIMITS; only `--format markdown` reads it
    smoothing: float = DEFAULT_SMOOTHING  # PNG curve smoothing, a share of the run (`--smoothing`)


def available_formats() -> list[str]:
    """The formats. Found, not imported: the CLI asks at start-up, and importing all six (XML for JUnit, SARIF)
    would cost every `losslint check` ~20 ms for the one format it prints. A registered module that is missing is
    an ImportError (a packaging mistake, not a format to leave out quietly)."""
    for module in FORMATS.values():
        if importlib.util.find_spec(f"{__name__}.{module}") is None:
            raise ImportError(f"reporter module {__name__}.{module} is registered in FORMATS but missing")
    return list(FORMATS)


def render(fmt: str, results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    module = importlib.import_module(f"{__name__}.{FORMATS[fmt]}")
    return module.render(results, errors, options)


def write_report(results: Sequence[Result], errors: Sequence[ReadError], out_dir, options: ReportOptions, *,
                 jobs: int = 1):
    from .bundle import write_report as _write

    return _write(results, errors, out_dir, options, jobs=jobs)
