"""Generalisation gap widening: validation loss pulls away from the training loss as training goes on.

What it detects: the gap `validation loss - training loss` (the training loss's smoothed level at each evaluation
step) has a significant increasing trend (Mann-Kendall, p < `alpha`), grew by at least `min_growth` of the
validation loss level, and ends at least `ratio_threshold` of the training loss.
Why it matters: a widening gap is the early sign of overfitting, often visible before the validation loss itself
turns up (O101): the model learns the training set faster than anything that generalises.
What to do: watch for O101; consider more data, augmentation, dropout or weight decay, and keep the checkpoint
with the best validation loss.

Defaults:
- `ratio_threshold = 0.1`: SageMaker Debugger's built-in Overfit rule default (`ratio_threshold=0.1`: the
  validation/training difference relative to the training loss).
- `alpha = 0.05`: the usual significance level of the Mann-Kendall trend test.
- `min_growth = 0.05`: the gap grew by at least 5% of the validation loss, so noise-level drifts are not reported.
- `min_points = 5`: as D004.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from .. import analysis
from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "O102"
NAME = "gap-widening"
CATEGORY = "overfitting"
DEFAULT_SEVERITY = "info"
DEFAULTS = {"ratio_threshold": 0.1, "alpha": 0.05, "min_growth": 0.05, "min_points": 5}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    evals, train = view.eval_loss, view.train_loss
    if evals is None or train is None or evals.n < params["min_points"] or train.n < 3:
        return
    inside = (evals.steps >= train.steps[0]) & (evals.steps <= train.steps[-1])
    steps, values = evals.steps[inside], evals.values[inside]
    if len(values) < params["min_points"]:
        return
    train_steps, _ = train.bucketed
    train_level = np.interp(steps, train_steps, train.smoothed)
    gap = values - train_level
    trend = analysis.mann_kendall(gap, alpha=params["alpha"])
    if trend.trend != "increasing" or trend.p_value >= params["alpha"]:
        return
    k = max(1, len(gap) // 5)
    start, end = float(np.median(gap[:k])), float(np.median(gap[-k:]))
    level = max(float(np.median(np.abs(values))), 1e-12)
    if end - start < params["min_growth"] * level:
        return
    if end < params["ratio_threshold"] * max(abs(float(train_level[-1])), 1e-12):
        return
    yield emit(__name__, params, evals.metric, int(steps[-1]),
               f"the gap {evals.metric} - {train.metric} widened from {num(start)} to {num(end)} (Mann-Kendall "
               f"p={trend.p_value:.2g}); the model fits the training data ever better than unseen data: an early "
               f"sign of overfitting; consider more data or regularisation")
