"""`--format text`: one line per finding, like a linter, then a summary line.

Run names, metric labels and messages come from the logs: every line goes through `textsafe.printable`, so a newline
or an escape sequence in a folder name shows as `\\n` or `\\x1b` and cannot start a line of its own."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..errors import ReadError
from ..findings import Result, severity_rank
from ..textsafe import printable
from . import ReportOptions


def finding_line(result: Result, finding) -> str:
    where = f" (step {finding.step})" if finding.step is not None else ""
    return printable(f"{result.run.name}: {finding.code} {finding.name}: {finding.message}{where}")


def verdict_line(result: Result) -> str:
    """`run: verdict V` and, when one is recommended, where to stop and what it saves."""
    stop = ""
    if result.early_stop is not None and result.recommended_stop_step is not None:
        stop = (f"; stop at step {result.recommended_stop_step} (best {result.best_step}),"
                f" saves {result.saved_fraction:.0%} of steps ({result.early_stop.cause()})")
    return printable(f"{result.run.name}: verdict {result.verdict}{stop}")


def summary_line(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    """The last line: runs by verdict, findings by severity, failing runs and unreadable inputs."""
    counts = Counter(f.severity for r in results for f in r.findings)
    threshold = severity_rank(options.fail_on)
    failing = sum(1 for r in results if (worst := r.worst_severity()) is not None and severity_rank(worst) >= threshold)
    verdicts = Counter(r.verdict for r in results)
    return (
        f"{len(results)} run(s) checked: "
        + ", ".join(f"{v} {n}" for n, v in sorted(verdicts.items()))
        + f"; {counts.get('error', 0)} error(s), {counts.get('warning', 0)} warning(s), {counts.get('info', 0)} info;"
        + f" {failing} run(s) at or above '{options.fail_on}'; {len(errors)} unreadable input(s)"
    )


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    lines = []
    for result in results:
        for finding in result.findings:
            lines.append(finding_line(result, finding))
        lines.append(verdict_line(result))
    for error in errors:
        lines.append(f"error: {printable(error.text)}")
    lines.append(summary_line(results, errors, options))
    return "\n".join(lines)
