"""Not converged: the training loss was still falling clearly when the run ended.

What it detects: over the last `tail_fraction` of the run the training loss has a significant decreasing trend
(Mann-Kendall, p < `alpha`) and its Theil-Sen fit fell by at least `min_drop` of the level over that window,
while the validation loss (when logged) was not rising at the end.
Why it matters: the run was stopped before the model got what it could from the data: more steps would still
have lowered the loss, on training and (with a validation loss still falling) on unseen data.
What to do: train longer (more epochs or steps) or, if the budget is fixed, raise the learning rate or shorten
the decay so that the curve flattens within the budget.

Defaults:
- `tail_fraction = 0.2`: the last fifth of the run, the window Keras/HF users read off as "the end of the curve".
- `min_drop = 0.05`: at least 5% lower at the end of that window than at its start; smaller end-of-run drift is
  what a decaying learning rate leaves on a converged run.
- `alpha = 0.05`: the usual significance level. `min_points = 5`: five epochs falling in a row are significant
  (Mann-Kendall p < 0.05) and a run stopped there is the typical "train longer" case.
- `eval_rise_tol = 0.02`: the validation loss counts as rising when its end is 2% above its minimum.
"""
from __future__ import annotations

from ._common import emit, num, pct, tail_median

CODE = "U202"
NAME = "not-converged"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"tail_fraction": 0.2, "min_drop": 0.05, "alpha": 0.05, "min_points": 5, "eval_rise_tol": 0.02}


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
    evals = view.eval_loss
    if evals is not None and evals.n >= 3:
        _, values = evals.bucketed
        end = tail_median(values, 0.1, max_points=3)
        if end > values.min() + params["eval_rise_tol"] * abs(values.min()):
            return
    yield emit(__name__, params, train.metric, int(steps[-1]),
               f"{train.metric} was still falling at the end: {pct(drop / (level + drop))} lower over the last "
               f"{pct(params['tail_fraction'])} of the run (steps {int(steps[0])}..{int(steps[-1])}, now {num(level)}, "
               f"Mann-Kendall p={mk.p_value:.2g}); train longer or raise the learning rate")
