"""Where a run lives on disk, as CI annotations and SARIF want it: a POSIX path relative to the working directory."""
from __future__ import annotations

import os
from pathlib import Path

from ..findings import Result


def relative_posix(path: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """`path` relative to `base` (default: the working directory) with `/` separators; a path outside `base`
    keeps its absolute form rather than a `../..` chain that a CI annotation could not resolve anyway."""
    p = Path(path)
    base_path = Path(base) if base is not None else Path.cwd()
    try:
        rel = p.resolve().relative_to(base_path.resolve())
    except (ValueError, OSError):
        return p.as_posix()
    return rel.as_posix()


def first_source(result: Result, base: str | os.PathLike | None = None) -> str | None:
    sources = [s for s in result.run.sources if s]
    return relative_posix(sources[0], base) if sources else None


def finding_position(finding, show_metric=str) -> str:
    """` (metric eval/loss, step 48)`, what a finding points at, or "" when it names neither; `show_metric`
    formats the metric name for the output (the Markdown reporter escapes it)."""
    where = []
    if finding.metric:
        where.append(f"metric {show_metric(finding.metric)}")
    if finding.step is not None:
        where.append(f"step {int(finding.step)}")
    return f" ({', '.join(where)})" if where else ""
