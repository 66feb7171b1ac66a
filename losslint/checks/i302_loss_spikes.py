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
- `severe_count = 5`: five or more spikes are reported at `severe_severity` ("error").
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "I302"
NAME = "loss-spikes"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"window": 10, "z_threshold": 6.0, "min_rel_jump": 0.5, "min_range_fraction": 0.01, "min_points": 20,
            "severe_count": 5, "severe_severity": "error"}


def describe_spikes(series, found, what: str) -> str:
    k = int((found.values - found.baseline).argmax())
    ratio = found.values[k] / found.baseline[k] if found.baseline[k] > 0 else float("nan")
    return (f"{len(found.indices)} spike(s) in {series.metric}{what}, largest {num(found.values[k])} at step "
            f"{int(found.steps[k])} ({num(ratio)}x the local level {num(found.baseline[k])})")


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.train_loss if view.train_loss is not None and view.train_loss.n >= params["min_points"] \
        else view.eval_loss
    if series is None or series.n < params["min_points"]:
        return
    found = series.spikes(params["z_threshold"], params["window"], params["min_rel_jump"], params["min_range_fraction"])
    if not len(found.indices):
        return
    severity = params["severe_severity"] if len(found.indices) >= params["severe_count"] else None
    yield emit(__name__, params, series.metric, int(found.steps[0]),
               describe_spikes(series, found, "") + "; lower the learning rate or lengthen warm-up, use a larger "
               "batch, clip gradients", severity=severity)
