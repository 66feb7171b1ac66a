"""Not converged: the training loss was still falling clearly when the run ended.

What it detects: over the last `tail_fraction` of the run the training loss has a significant decreasing trend
(Mann-Kendall, p < `alpha`), its Theil-Sen fit fell by at least `min_drop` of the level over that window, and it
ends at a new low (within `new_low_tol` of its smoothed minimum: a loss recovering from a spike is not
"still improving"); the validation loss, when logged, reached its best within that same last stretch. A loss
that already fell below `converged_fraction` of its start is a fitted training set (what remains is the
learning-rate decay), not an unfinished run.
Why it matters: the run was stopped before the model got what it could from the data: more steps would still
have lowered the loss, on training and (with a validation loss still falling) on unseen data.
What to do: train longer (more epochs or steps) or, if the budget is fixed, raise the learning rate or shorten
the decay so that the curve flattens within the budget.

Defaults:
- `tail_fraction = 0.2`: the last fifth of the run, the window Keras/HF users read off as "the end of the curve".
- `min_drop = 0.15`: 15% or more lower at the end of that window than at its start: a run cut off mid-descent.
  An exponential descent that is merely slow still ends with at most ~13% per fifth (measured over 200 synthetic
  good fits of tests/synthetic_curves.py), and a decaying learning rate leaves a few percent on converged runs.
- `alpha = 0.05`: the usual significance level. `min_points = 5`: five epochs falling in a row are significant
  (Mann-Kendall p < 0.05) and a run stopped there is the typical "train longer" case.
- `new_low_tol = 0.02`: ending within 2% of the lowest smoothed level counts as a new low.
- `converged_fraction = 0.05`: a loss down to 5% of its start (a 95% fall) is not called unfinished.
"""
from __future__ import annotations

import math

from ._common import emit, num, pct

CODE = "U202"
NAME = "not-converged"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"tail_fraction": 0.2, "min_drop": 0.15, "alpha": 0.05, "min_points": 5, "new_low_tol": 0.02,
            "converged_fraction": 0.05}


def check(view, params):
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    trend = train.tail_trend(params["tail_fraction"], min_points=5)
    if trend is None:
        return
    mk, fit, steps, _ = trend
    if mk.trend != "decreasing" or mk.p_value >= params["alpha"]:
        return
    level = train.tail_level()
    drop = -fit.slope * float(steps[-1] - steps[0])
    if level <= 0 or drop < params["min_drop"] * level:
        return
    if float(train.smoothed[-1]) > float(train.smoothed.min()) * (1 + params["new_low_tol"]):
        return
    if level <= params["converged_fraction"] * train.head_level():
        return
    evals = view.eval_loss
    if evals is not None and evals.n >= 3:
        _, values = evals.bucketed
        tail_start = len(values) - max(1, int(math.ceil(len(values) * params["tail_fraction"])))
        if int(values.argmin()) < tail_start:
            return
    yield emit(__name__, params, train.metric, int(steps[-1]),
               f"{train.metric} was still falling at the end: {pct(drop / (level + drop))} lower over the last "
               f"{pct(params['tail_fraction'])} of the run (steps {int(steps[0])}..{int(steps[-1])}, now {num(level)}, "
               f"Mann-Kendall p={mk.p_value:.2g}); train longer or raise the learning rate")
