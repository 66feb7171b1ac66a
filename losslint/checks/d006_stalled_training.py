"""Stalled training: nothing in the run moves any more, so there is nothing to judge (the no-signal verdict).

What it detects, any of:
- every loss series of at least `min_points` points is constant (equal to within `rtol` of its size): a training
  loss of exactly 0 and a validation loss identical at every evaluation;
- the training loss (in a log of validation only, the validation loss) repeats itself: over its last
  `tail_fraction` of points at least `repeat_share` of the points equal the point before them (to within `rtol`),
  and no validation loss moves over that stretch: the weights stopped changing, so each batch gives the value it
  gave before (a validation loss that still moves says the weights do, whatever the training loss logs);
- the learning rate never exceeds `min_lr` over the logged run: an optimiser step moves a weight by about the
  learning rate (Adam, and SGD on unit gradients), so at 1e-7 ten thousand steps move it by 1e-3 at most, and
  whatever the curves do is noise.
Why it matters: a run like this tells nothing about fit: calling it a good fit (or underfitting) would pass or fail
a run on the jitter of a frozen model. Typical causes: a learning rate schedule that decayed to ~0 (or a resumed
run whose scheduler restarted at its end), frozen parameters, a loss that is not connected to the parameters, a
dataloader that repeats one batch.
What to do: check the learning rate schedule, that the optimiser holds the parameters you train
(`requires_grad`), and that the loss is computed from the model's outputs.

Defaults:
- `min_points = 5`: as D005 (fewer points can be equal by chance).
- `rtol = 1e-7`: "identical to 7 digits" (../shared/VERDICTS.md, no-signal), the precision float32 logs keep.
- `tail_fraction = 0.3`, `repeat_share = 0.9`: nine in ten of the last 30% of points repeat their predecessor; a
  healthy loss never repeats itself to 7 digits (per-batch losses differ from batch to batch), so the share is
  only there to allow a few duplicated log lines.
- `min_lr = 1e-7`: below every peak learning rate in the real-world corpora (the smallest is 1e-6, a deliberately
  too-small fixture) and equal to what schedules decay to at their very end (a Mask2Former tail segment logged
  from 9.9e-9 down to 6e-12 is the labelled example).

Passing: a loss that falls 2.3 -> 0.4 with a learning rate of 1e-4. Failing: a training loss of exactly 0 at every
step with a validation loss of 0.6931 at every evaluation; or a loss jittering around 3.6 while the learning rate
is 1e-8.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "D006"
NAME = "stalled-training"
CATEGORY = "integrity"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_points": 5, "rtol": 1e-7, "tail_fraction": 0.3, "repeat_share": 0.9, "min_lr": 1e-7}


def _repeats(values: np.ndarray, rtol: float) -> np.ndarray:
    """Whether each point equals the one before it, to within `rtol` of its size."""
    previous, current = values[:-1], values[1:]
    return np.abs(current - previous) <= rtol * np.maximum(np.abs(current), 1e-300)


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    losses = [s for s in (view.series(m) for m in view.loss_metrics) if s is not None and s.n >= params["min_points"]]
    if not losses:
        return
    rtol = float(params["rtol"])
    if all(_repeats(s.values, rtol).all() for s in losses):
        names = ", ".join(f"{s.metric} = {num(s.values[0])}" for s in losses)
        yield emit(__name__, params, losses[0].metric, int(losses[0].steps[0]),
                   f"every loss is constant ({names}): nothing is being learned, so the run has no curve to judge; "
                   f"check that the loss is computed from the model's outputs and that the optimiser holds the "
                   f"parameters")
        return
    # the training loss, or in a log of validation only, the validation loss: the curve that stands for the run
    train = view.train_loss if view.train_loss is not None else view.eval_loss
    if train is not None and train.n >= max(params["min_points"], 10):
        tail = train.values[-max(params["min_points"], int(round(train.n * params["tail_fraction"]))):]
        share = float(_repeats(tail, rtol).mean())
        since = int(train.steps[-len(tail)])
        evals_move = any(not _repeats(s.values[s.steps >= since], rtol).all() for s in view.eval_losses
                         if s.n and s is not train)
        if share >= params["repeat_share"] and not evals_move:
            yield emit(__name__, params, train.metric, int(train.steps[-len(tail)]),
                       f"{train.metric} repeats the same values from step {int(train.steps[-len(tail)])} on "
                       f"({share:.0%} of its last {len(tail)} points equal the one before): the weights stopped "
                       f"changing; check the learning rate schedule and that the parameters are trained")
            return
    lr = view.learning_rate
    if lr is not None and lr.n >= 1 and float(np.max(lr.values)) < params["min_lr"]:
        yield emit(__name__, params, lr.metric, int(lr.steps[0]),
                   f"the learning rate never exceeds {num(float(np.max(lr.values)))} (steps {int(lr.steps[0])}.."
                   f"{int(lr.steps[-1])}): the weights barely move, so the curves only jitter around one level and "
                   f"say nothing about fit; check the learning rate schedule (a resumed run may restart at its end)")

