"""`--format github`: GitHub Actions workflow commands, one annotation per finding and per unreadable input.

`::error file=F,title=T::message` shows on the run summary and, when F is in the checked-out repository, on the
file in a pull request's diff. Escaping follows GitHub's toolkit (`@actions/core`, `command.ts`): data escapes
`%`, `\\r`, `\\n`; property values also escape `:` and `,`, which would otherwise end the value. Before that, each
message and value has its control characters shown as escapes (`textsafe.printable`; names and labels come from the
logs): a newline in a run name reads `\\n` in the annotation, and no escape sequence reaches the log.
"""
from __future__ import annotations

from typing import Sequence

from ..errors import ReadError
from ..findings import Result
from ..textsafe import printable
from . import ReportOptions
from .locations import finding_position, first_source, relative_posix
from .text import render as text_summary

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **properties: object) -> str:
    props = ",".join(f"{key}={escape_property(printable(str(value)))}" for key, value in properties.items()
                     if value is not None)
    return f"::{level}{' ' + props if props else ''}::{escape_data(printable(message))}"


def finding_command(result: Result, finding) -> str:
    return command(LEVELS.get(finding.severity, "warning"),
                   f"{result.run.name}: {finding.message}{finding_position(finding)}",
                   file=first_source(result),
                   title=f"losslint {finding.code} {finding.name}")


def stop_command(result: Result) -> str:
    return command("notice", f"{result.run.name}: verdict {result.verdict}; stopping at step "
                             f"{result.recommended_stop_step} (best {result.best_step}) would have saved "
                             f"{result.saved_fraction:.0%} of the steps",
                   file=first_source(result), title="losslint early stop")


def error_command(error: ReadError) -> str:
    return command("error", error.message, file=relative_posix(error.path), line=error.line,
                   title="losslint: unreadable input")


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    lines = [finding_command(r, f) for r in results for f in r.findings]
    lines += [stop_command(r) for r in results if r.recommended_stop_step is not None]
    lines += [error_command(e) for e in errors]
    # the plain summary goes last: it is what the log shows when the annotations are folded away
    lines.append(text_summary(results, errors, options).splitlines()[-1])
    return "\n".join(lines)
