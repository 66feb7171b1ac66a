"""Loss spikes: isolated upward jumps of the loss far outside its local noise.

What it detects: points of the training loss (or, without one, the validation loss) whose robust z-score against
a centered rolling median and MAD over `window` points is at least `z_threshold`, and which stand at least
`min_rel_jump` above that local median.
Why it matters: spikes are the optimiser stepping off a cliff: a bad batch, a learning rate at the edge of
stability, fp16 overflow. Large ones can undo progress or turn into divergence (I303).
What to do: lower the learning rate or lengthen warm-up, raise the batch size, clip gradients; find the batches
(Lightning's `SpikeDetection` callback records and can skip them).

Defaults:
- `window = 10`, as Lightning's `SpikeDetection(window=10)` running window.
- `z_threshold = 6.0`: a 6-sigma robust outlier; on Gaussian noise that is about one false alarm in 10^9 points,
  so clean curves of a million points stay clean.
- `min_rel_jump = 0.5`: 50% above the local level. Lightning's `SpikeDetection` default `rtol=2.0` flags a loss
  above 3x its running mean; half of that would still be missed on curves whose level is far from zero, so a
  smaller relative bar is paired with the z-score.
- `min_range_fraction = 0.01`: and 1% of the curve's 5-95% range above it, so that a loss quantised near zero
  (0.0001 -> 0.0002) is not a "spike".
- `min_points = 20`: two windows of points, so the rolling median has something to stand on.
- `min_count = 3`, `large_share = 0.5`, `near_zero_share = 0.05`: the finding is a warning when at least three
  spikes are *large*: each jumps by half the range of the smoothed curve or more, and, where the local level is
  near zero (under 5% of that range), by the whole range (back above where training started). Otherwise it is an
  info note. Judged against the curve's range, not its local level, because a level near zero makes any batch a
  "727x spike" (../shared/VERDICTS.md: ordinary per-batch noise and a single modest spike are not `unstable`).
  Measured: the fixture run with a corrupted batch every 32 steps has 11 spikes of 1.9-4.0x its range, every
  synthetic "spiky" run (25 seeds) at least 3 of 0.5x or more; a CodeBERT fine-tune memorised to a loss of 3e-4
  has 20 one-batch spikes, none of the whole range (0.93x at most) from its near-zero level, and TrOCR and four
  other healthy fine-tunes one spike each.
- `severe_count = 5`, `severe_severity = "warning"`: before 0.3 five spikes were an error, which made a run
  `unstable` ahead of overfitting; spikes that recover at once do not change the course of training. Set
  `severe_severity = "error"` to restore it; I307 reports excursions that do change the course.

Messages give the jump as a share of the curve's range when the local level is near zero (under 5% of the range),
where a ratio to the level ("727x") says nothing.

Passing: a loss falling 2.3 -> 0.4 with one batch at 3x its level. Failing: 12 batches at 3-8x the level.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct

CODE = "I302"
NAME = "loss-spikes"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"window": 10, "z_threshold": 6.0, "min_rel_jump": 0.5, "min_range_fraction": 0.01, "min_points": 20,
            "min_count": 3, "large_share": 0.5, "near_zero_share": 0.05, "severe_count": 5,
            "severe_severity": "warning"}


def describe_spikes(series, found, what: str) -> str:
    k = int((found.values - found.baseline).argmax())
    span = series.smoothed_span
    base = float(found.baseline[k])
    if base > 0.05 * span and base > 0:
        size = f"{num(found.values[k] / base)}x the local level {num(base)}"
    else:  # near zero a ratio to the level says nothing; the curve's own range does
        jump = pct((found.values[k] - base) / span) if span > 0 else "n/a"
        size = f"from a local level of {num(base)}, a jump of {jump} of the curve's range"
    return (f"{len(found.indices)} spike(s) in {series.metric}{what}, largest {num(found.values[k])} at step "
            f"{int(found.steps[k])} ({size})")


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.train_loss if view.train_loss is not None and view.train_loss.n >= params["min_points"] \
        else view.eval_loss
    if series is None or series.n < params["min_points"]:
        return
    found = series.spikes(params["z_threshold"], params["window"], params["min_rel_jump"], params["min_range_fraction"])
    if not len(found.indices):
        return
    span = series.smoothed_span
    near_zero = found.baseline < params["near_zero_share"] * span
    bar = params["large_share"] * span * np.where(near_zero, 2.0, 1.0)
    large = int(((found.values - found.baseline) >= bar).sum())
    severity = ("info" if large < params["min_count"] else params["severe_severity"] if large >= params["severe_count"]
                else None)
    yield emit(__name__, params, series.metric, int(found.steps[0]),
               describe_spikes(series, found, "") + "; lower the learning rate or lengthen warm-up, use a larger "
               "batch, clip gradients", severity=severity)
