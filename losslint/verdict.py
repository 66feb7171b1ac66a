"""The verdict of a run, from its findings, by one precedence table (the only place verdicts are decided).

| order | verdict        | when                                                                          |
|-------|----------------|-------------------------------------------------------------------------------|
| 1     | `diverged`     | a non-finite loss (D001) at severity error, or divergence (I303)              |
| 2     | `no-signal`    | no loss series with at least 5 finite points, or stalled training (D006)      |
| 3     | `unstable`     | an instability finding (I3xx) at severity error (severe: many spikes, ...),  |
|       |                | or a non-finite loss that recovered (D001 at warning)                         |
| 4     | `overfitting`  | an overfitting finding (O1xx) at severity warning or above, or an early stop  |
|       |                | after a sustained rise of the monitored metric (trigger `rise`)               |
| 5     | `underfitting` | an underfitting finding (U2xx) at severity warning or above                   |
| 6     | `unstable`     | an instability finding (I3xx) at severity warning                             |
| 7     | `good-fit`     | none of the above (info findings never change the verdict)                    |

Why this order: a diverged run has no other meaningful diagnosis; severe instability makes the fit-related
curves unreliable; overfitting is reported before underfitting because its remedy (stop earlier) is the one
that saves compute on the run at hand; mild instability (a few spikes) is worth knowing but does not change
what the curves say about fit. Integrity (D) and task-metric (T) findings other than D001 and D006 never decide
a verdict: they qualify it. The verdict and the early stop agree (../shared/VERDICTS.md): a stop recommended
because the monitored metric rose after its best and stayed up is overfitting unless the run diverged, has no
signal or is severely unstable.
"""
from __future__ import annotations

from typing import Callable, Iterable

from .findings import Finding, severity_rank

WARNING, ERROR = severity_rank("warning"), severity_rank("error")


def _is(category: str, at_least: int) -> Callable[[Finding], bool]:
    return lambda f: f.code[:1] == category and severity_rank(f.severity) >= at_least


def _severely_unstable(f: Finding) -> bool:
    # a loss that turned NaN/inf and came back (D001 lowers its severity to warning): the most irregular loss
    return (f.code[:1] == "I" and severity_rank(f.severity) >= ERROR) or (
        f.code == "D001" and severity_rank(f.severity) == WARNING)


def _stalled(f: Finding) -> bool:
    return f.code == "D006" and severity_rank(f.severity) >= WARNING


def _diverged(f: Finding) -> bool:
    return (f.code == "D001" and severity_rank(f.severity) >= ERROR) or (
        f.code == "I303" and severity_rank(f.severity) >= WARNING)


# (verdict, predicate on one finding), in precedence order; "no-signal" is decided between 1 and 2.
PRECEDENCE: tuple[tuple[str, Callable[[Finding], bool]], ...] = (
    ("diverged", _diverged),
    ("unstable", _severely_unstable),
    ("overfitting", _is("O", WARNING)),
    ("underfitting", _is("U", WARNING)),
    ("unstable", _is("I", WARNING)),
)


def decide(findings: Iterable[Finding], has_signal: bool, stop_trigger: str | None = None) -> str:
    """The verdict for a run with these findings; `has_signal` = it has a loss series to judge; `stop_trigger` =
    why the early stop was recommended (`rise` makes the run overfitting at row 4)."""
    findings = list(findings)
    for position, (verdict, applies) in enumerate(PRECEDENCE):
        if position == 1 and (not has_signal or any(_stalled(f) for f in findings)):
            return "no-signal"
        if any(applies(f) for f in findings) or (verdict == "overfitting" and stop_trigger == "rise"):
            return verdict
    return "good-fit" if has_signal else "no-signal"


def precedence_text() -> str:
    """The table above, for `losslint rules --verdicts`."""
    doc = __doc__ or ""
    start = doc.index("| order")
    return doc[start:].strip()
