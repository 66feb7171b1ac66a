"""Divergence: the loss climbed back above where it started and far above its minimum, or ended in NaN/inf.

What it detects, on the training loss (the validation loss when no training loss was logged):
- the curve becomes non-finite and stays so to the end after having finite values; or
- its smoothed end level is `noise_k` noise-sigmas above its smoothed minimum and either back at or above its
  starting level (`back_to_start` = 1.0 of the way from the minimum back to the start), or at least `min_ratio`
  times the minimum while the rise undoes at least `min_undone` of the descent from the start to the minimum.
Why it matters: the optimisation blew up; whatever the model learned is being destroyed, and every later step is
wasted. (A validation-only rise with a falling training loss is overfitting, O101, not this.)
What to do: lower the learning rate (often 3-10x), add gradient clipping and warm-up, check for fp16 overflow;
restart from the last good checkpoint.

Defaults:
- `back_to_start = 1.0`: all progress undone.
- `min_ratio = 1.5`: the loss ends 50% above its best and stays there: a loss spike that never recovered (the
  "loss blow-up" of large-model training logs), beyond the 10% of I308's "training loss rising".
- `min_undone = 0.1`: and the rise undoes at least a tenth of what training had gained, so a loss that sits near
  zero (0.0001 -> 0.0002) is not called diverged.
- `noise_k = 3.0`, `min_points = 5`.
- `eval_only_ratio = 10.0`: a run that logged no training loss is judged on its validation loss, and there a
  climb back to the start or to 1.5x the minimum is also what overfitting looks like (O101); without the training
  loss to tell them apart, only an order of magnitude (../shared/VERDICTS.md: "explodes by orders of magnitude")
  or a non-finite tail is divergence. (A recommender's validation-only log rising 0.93 -> 1.31 over 55 epochs,
  labelled overfitting.)
SageMaker Debugger's ExplodingTensor rule is the NaN/inf half of this; its LossNotDecreasing rule would
only call the other half "not decreasing".
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "I303"
NAME = "divergence"
CATEGORY = "instability"
DEFAULT_SEVERITY = "error"
DEFAULTS = {"back_to_start": 1.0, "min_ratio": 1.5, "min_undone": 0.1, "noise_k": 3.0, "min_points": 5,
            "eval_only_ratio": 10.0}


def _nonfinite_tail_start(series) -> int | None:
    mask = series.finite_mask
    if not len(mask) or mask[-1] or not mask.any():
        return None
    last_finite = int(np.flatnonzero(mask)[-1])
    return int(series.all_steps[last_finite + 1])


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.train_loss if view.train_loss is not None and view.train_loss.n_total else view.eval_loss
    if series is None:
        return
    tail = _nonfinite_tail_start(series)
    if tail is not None:
        yield emit(__name__, params, series.metric, tail,
                   f"{series.metric} became non-finite at step {tail} and stayed so until the end (last finite "
                   f"value {num(series.values[-1])}); lower the learning rate, clip gradients, restart from the "
                   f"last good checkpoint")
        return
    if series.n < params["min_points"]:
        return
    steps, _ = series.bucketed
    smoothed = series.smoothed
    i_min = int(smoothed.argmin())
    low, start, end = float(smoothed[i_min]), series.head_level(), series.tail_level()
    noise = series.noise if series.noise == series.noise else 0.0
    rise = end - low
    if rise <= 0 or rise < params["noise_k"] * noise:
        return
    # "Back at the start" needs a real descent first; a loss that never fell is judged by how far it rose.
    if series is view.train_loss:
        descended = start - low > params["noise_k"] * noise
        back_at_start = descended and end >= low + params["back_to_start"] * (start - low)
        blown_up = low > 0 and end >= params["min_ratio"] * low and rise >= params["min_undone"] * (start - low)
    else:
        # Validation only: a validation loss that climbs back is what overfitting looks like too (O101), and with
        # no training loss nothing tells them apart; only an order of magnitude is divergence here.
        back_at_start = False
        blown_up = low > 0 and end >= params["eval_only_ratio"] * low
    if not (back_at_start or blown_up):
        return
    where = f"above its start {num(start)}" if back_at_start else f"{num(end / low)}x its minimum, and stayed there"
    yield emit(__name__, params, series.metric, int(steps[i_min]),
               f"{series.metric} fell to {num(low)} at step {int(steps[i_min])}, then climbed to {num(end)} by step "
               f"{int(steps[-1])}, {where}: the run diverged; lower the learning rate, add gradient clipping and "
               f"warm-up, restart from the last good checkpoint")
