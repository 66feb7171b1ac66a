"""Plateau at a high level: the losses stopped improving while still close to where they started (or to chance).

What it detects: the training loss (and the validation loss, when logged) has stopped improving over the last
`tail_fraction` of the run (no significant Mann-Kendall fall, or a Theil-Sen fall over that window not surely
`flat_tol` of the level or more) and its end level is still at least `high_ratio` of its starting level, or, for a classifier whose number
of classes is known from the hyper-parameters (`num_classes`, `num_labels`), at least `chance_fraction` of the
cross-entropy of a uniform guess, ln(num_classes).
Why it matters: the model has stopped learning without having learned much: too little capacity, a learning rate
too low (or decayed too early), or a bug such as frozen layers or shuffled labels.
What to do: raise the learning rate, train a bigger model, check that all layers train and that inputs and labels
match; train longer only if the curve is not flat.

Defaults:
- `high_ratio = 0.7`: the loss fell less than 30% from its start. A classifier starts near chance, ln(C); ending
  within 30% of that, in perplexity terms, leaves it less than C^0.3 times better than guessing. (SageMaker
  Debugger's LossNotDecreasing flags a loss that stops improving at all; this rule asks, in addition, that the
  level be high.)
- `chance_fraction = 0.8`: at or above 80% of ln(num_classes), the loss of a uniform guess, when the number of
  classes is known.
- `tail_fraction = 0.25`, `alpha = 0.05`, `flat_tol = 0.02`: stopped = no significant fall in the last quarter, or
  a fall over it that is not surely 2% or more: the Theil-Sen slope's 95% confidence interval must imply at least
  2% (its point estimate is not enough: on the synthetic plateaus, whose true fall over the last quarter is
  0.4-0.9%, noise put it at 2.5-3.0% in 6 of 100 runs).
- `min_points = 10`.
"""  # noqa: E501 - printed as written by `losslint rules`
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "U201"
NAME = "plateau-high"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"high_ratio": 0.7, "chance_fraction": 0.8, "tail_fraction": 0.25, "alpha": 0.05, "flat_tol": 0.02,
            "min_points": 10}


def _plateau(series, params) -> tuple[float, float] | None:
    """(start level, end level) when the series ends flat at a high level, else None."""
    trend = series.tail_trend(params["tail_fraction"], min_points=5)
    if trend is None:
        return None
    mk, fit, steps, _ = trend
    start, end = series.head_level(), series.tail_level()
    if start <= 0 or end <= 0:
        return None
    # Stopped improving: no significant fall over the window, or a fall too small to matter (a drift up is
    # "not improving" too; U203 judges a real rise).
    # The fall must be material with confidence: the slope's whole confidence interval (its least steep end,
    # hi_slope) must imply a fall of at least `flat_tol`. A point estimate of 2.5-3% over a noisy window can come
    # from a true fall of under 1%.
    surely_fallen = -fit.hi_slope * float(steps[-1] - steps[0])
    still_falling = (mk.trend == "decreasing" and mk.p_value < params["alpha"]
                     and surely_fallen >= params["flat_tol"] * end)
    if still_falling:
        return None
    return start, end


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series_list = [s for s in (view.train_loss, view.eval_loss) if s is not None and s.n >= params["min_points"]]
    if not series_list:
        return
    chance = math.log(view.num_classes) if view.num_classes else None
    parts = []
    for series in series_list:
        found = _plateau(series, params)
        if found is None:
            return
        start, end = found
        near_chance = chance is not None and end >= params["chance_fraction"] * chance
        if not (end >= params["high_ratio"] * start or near_chance):
            return
        text = f"{series.metric} flat at {num(end)} (started at {num(start)}"
        text += f", chance level ln({view.num_classes})={num(chance)})" if chance is not None else ")"
        parts.append(text)
    main = series_list[0]
    yield emit(__name__, params, main.metric, int(main.steps[-1]),
               "; ".join(parts) + ": the model stopped learning at a high loss (underfitting); raise the learning "
               "rate, use a bigger model, check that every layer trains and labels match inputs")
