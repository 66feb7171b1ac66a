"""Instability after a learning-rate rise: the loss spiked or jumped up right after the learning rate went up.

What it detects: each stretch where `train/learning_rate` increases (warm-up, a warm restart, a manual change)
is followed, within `lag_fraction` of the run's steps after the stretch ends, by a training-loss spike (as I302,
with this rule's `z_threshold`/`window`/`min_rel_jump`) or by a rise of the smoothed training loss of at least
`min_rise` above its lowest level since the rise began.
Why it matters: it names the cause of the instability: the peak learning rate is too high for this model and
batch size.
What to do: lower the peak learning rate, lengthen warm-up, or soften the restart; clip gradients.

Defaults:
- `lag_fraction = 0.05`: 5% of the run after the rise ends; instabilities caused by the rise show within a few
  hundred steps, much shorter than a typical run.
- `min_rise = 0.2`: the smoothed loss 20% above its lowest level since the start of the rise;
  `min_range_share = 0.1`: and by 10% of the smoothed curve's whole range, as I306's. A warm-up that spans the
  steep first descent sees bumps of 20-40% on a local level that is a few percent of where the loss started (a
  detectron2 run from scratch: 86 at its first log, a 2.4 -> 3.3 bump at iteration 300 under warm-up, 1% of its
  range), which ../shared/VERDICTS.md's "the first logged loss of a run" is not instability; a Whisper LoRA whose
  loss doubled (0.13 -> 0.31) as the learning rate rose moved by a fifth of its range.
- `z_threshold = 6.0`, `window = 10`, `min_rel_jump = 0.5`: as I302.
- `min_points = 20`: as I302.
- `min_lr_rise = 0.1`: the learning rate must grow by 10% over the stretch to count (float noise does not).
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct

CODE = "I305"
NAME = "lr-instability"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"lag_fraction": 0.05, "min_rise": 0.2, "z_threshold": 6.0, "window": 10, "min_rel_jump": 0.5,
            "min_lr_rise": 0.1, "min_points": 20, "min_range_share": 0.1}


def rises(steps: np.ndarray, values: np.ndarray, min_rel: float) -> list[tuple[int, int, float, float]]:
    """(start step, end step, lr before, lr after) for each stretch of consecutive increases."""
    up = np.diff(values) > 0
    out, i = [], 0
    while i < len(up):
        if not up[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(up) and up[j + 1]:
            j += 1
        before, after = float(values[i]), float(values[j + 1])
        if after > before * (1 + min_rel) or (before <= 0 < after):
            out.append((int(steps[i]), int(steps[j + 1]), before, after))
        i = j + 1
    return out


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    lr, train = view.learning_rate, view.train_loss
    if lr is None or train is None or lr.n < 3 or train.n < params["min_points"]:
        return
    episodes = rises(lr.steps, lr.values, params["min_lr_rise"])
    if not episodes:
        return
    span = max(int(train.steps[-1] - train.steps[0]), 1)
    lag = params["lag_fraction"] * span
    spikes = train.spikes(params["z_threshold"], params["window"], params["min_rel_jump"])
    steps, _ = train.bucketed
    span_of_curve = float(np.nanmax(train.smoothed) - np.nanmin(train.smoothed))
    hits = []
    for start, end, before, after in episodes:
        window_end = end + lag
        in_window = spikes.steps[(spikes.steps >= start) & (spikes.steps <= window_end)]
        if len(in_window):
            hits.append((start, end, before, after, f"a {train.metric} spike at step {int(in_window[0])}",
                         int(in_window[0])))
            continue
        inside = np.flatnonzero((steps >= start) & (steps <= window_end))
        if len(inside) >= 2:
            level = train.smoothed[inside]
            low_so_far = np.minimum.accumulate(level)
            with np.errstate(divide="ignore", invalid="ignore"):
                climb = np.where(low_so_far > 0, level / low_so_far - 1, 0.0)
            k = int(np.argmax(climb))
            if climb[k] >= params["min_rise"] and level[k] - low_so_far[k] >= params["min_range_share"] * span_of_curve:
                hits.append((start, end, before, after,
                             f"{train.metric} rising {pct(climb[k])} from {num(low_so_far[k])} to {num(level[k])} "
                             f"by step "
                             f"{int(steps[inside[k]])}", int(steps[inside[k]])))
    if not hits:
        return
    start, end, before, after, what, at = hits[0]
    more = f" ({len(hits)} such rises)" if len(hits) > 1 else ""
    yield emit(__name__, params, train.metric, at,
               f"the learning rate rose from {num(before)} to {num(after)} (steps {start}..{end}), followed by "
               f"{what}{more}; lower the peak learning rate, lengthen warm-up, clip gradients")
