"""Step regression: the step counter went backwards or repeated (a resumed or restarted run).

What it detects: step regressions the reader recorded while reading (`run.metadata["step_regressions"]`: a
resumed TensorBoard run re-logging steps it had already written, Keras `CSVLogger(append=True)` restarting its
epoch counter) and, within one metric, several values logged at the same step.
Why it matters: overlapping steps mean two histories of one run are mixed; curves zig-zag, smoothing and change
points see phantom jumps, and the best step may belong to the discarded history. losslint keeps the last value
logged at each step (TensorBoard's own purge rule), which is right for a resume from a checkpoint and wrong for
two unrelated runs written to one directory.
What to do: write each run to its own directory (or a fresh `version_N`), resume with the step counter restored
(HF `resume_from_checkpoint`, Keras `initial_epoch`), or delete the stale events.
When the reader proved that every overlap is one run resuming itself (`same_run_resume` in the record: a W&B run
resumed under its own run id, whose later session rewinds and overwrites, as W&B shows it), the finding is only
info: the splice is the intended one, and a CI gate should not fail on a run that crashed and was resumed.

Defaults:
- `min_count = 1`: one regression is enough to tell the user their history is spliced.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..metrics import BOOKKEEPING
from ..view import RunView
from ._common import emit

CODE = "D002"
NAME = "step-regression"
CATEGORY = "integrity"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_count": 1}


def _recorded(metadata) -> tuple[int, int | None, bool]:
    """(count, first step, whether every record is a proven same-run resume) from whatever shape the reader
    recorded."""
    recorded = metadata.get("step_regressions")
    if not recorded:
        return 0, None, False
    if isinstance(recorded, (int, float)):
        return int(recorded), None, False
    # Regressions of bookkeeping tags (`train/epoch` re-logged with the final eval) are not two histories.
    items = [r for r in recorded if not (isinstance(r, dict) and BOOKKEEPING.search(str(r.get("tag", "")).lower()))]
    if not items:
        return 0, None, False
    resumed = all(isinstance(r, dict) and r.get("same_run_resume") is True for r in items)
    first = items[0]
    if isinstance(first, dict):
        for key in ("step", "to_step", "at_step", "to", "new_step"):
            if isinstance(first.get(key), (int, float)):
                return len(items), int(first[key]), resumed
        return len(items), None, resumed
    if isinstance(first, (list, tuple)) and first and isinstance(first[-1], (int, float)):
        return len(items), int(first[-1]), False
    if isinstance(first, (int, float)):
        return len(items), int(first), False
    return len(items), None, False


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    count, first, resumed = _recorded(view.metadata)
    if count >= params["min_count"] and resumed:
        where = f" from step {first}" if first is not None else ""
        yield emit(__name__, params, None, first,
                   f"resumed run: a later session re-logged {count} metric(s){where}; the later session's values "
                   f"are used, as the run's own history shows them", severity="info")
        return
    if count >= params["min_count"]:
        where = f", first back to step {first}" if first is not None else ""
        yield emit(__name__, params, None, first,
                   f"the step counter went backwards {count} time(s){where} (a resumed or appended run); the last "
                   f"value logged at each step is used; write each run to its own directory")
        return
    duplicated = [(s.duplicate_steps, m) for m in view.judged_metrics() if (s := view.series(m)) is not None]
    duplicated = [(n, m) for n, m in duplicated if n]
    if sum(n for n, _ in duplicated) >= params["min_count"]:
        n, metric = max(duplicated)
        yield emit(__name__, params, metric, None,
                   f"{n} step(s) of {metric} were logged more than once ({len(duplicated)} metric(s) affected); the "
                   f"last value logged at each step is used; a resumed run re-logged steps it had already written")
