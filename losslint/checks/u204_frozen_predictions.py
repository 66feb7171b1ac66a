"""Frozen predictions: the validation accuracy never changed while the validation loss did.

What it detects: a whole-set validation classification metric (`accuracy`, `acc`, `f1`, `precision`, `recall`,
optionally `_macro`/`_micro`/`_weighted`; not a per-class or per-entity one) whose finite values are all equal
(to within `rtol`) over at least `min_points` evaluations, below its ceiling (1, or 100 when logged in percent),
while the validation loss of the same run moved by at least `min_loss_change` of its level.
Why it matters: a loss computed from outputs that change, with an accuracy that does not, means the predicted
class of every validation example stayed the same at every evaluation: the classifier answers one class for
every input (its accuracy is the majority rate: 0.9375 on a spam set of 6% spam) or a fixed guess (exactly 0.2
on five classes). ../shared/VERDICTS.md calls a model stuck at chance or at the majority rate `underfitting`,
however its loss moves; a metric bug would leave the loss untouched too, which this rule does not judge (D005
reports every dead metric).
What to do: check that the inputs reach the model (a frozen or disconnected backbone, all-zero features), the
class balance (weight the loss or resample when one class dominates), the learning rate (too low to leave the
majority prior, or so high the logits saturate), and that the labels match the inputs.

Defaults:
- `min_points = 5`: as D005 (fewer evaluations can agree by chance on a small validation set).
- `rtol = 1e-6`: equal up to float32 rounding of the logged value, as D005.
- `min_loss_change = 0.01`: the validation loss spans at least 1% of its level, so its outputs did change; a loss
  as dead as the accuracy is a logger or a frozen model (D005, D006), not this.

Passing: eval/accuracy 0.71, 0.74, 0.74, 0.75, 0.78 while eval/loss falls; eval/accuracy 1.0 at every
evaluation (a solved task). Failing: eval/accuracy 0.9374629 at all 88 epochs while eval/loss moves 0.133-0.23
(a Quora spam classifier that always answers "not spam").
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..metrics import metric_leaf
from ..view import RunView
from ._common import emit, num

CODE = "U204"
NAME = "frozen-predictions"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_points": 5, "rtol": 1e-6, "min_loss_change": 0.01}

_WHOLE_SET = re.compile(r"^(acc|accuracy|balanced_accuracy|f1|precision|recall)(_(macro|micro|weighted))?$")


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    loss = view.eval_loss
    if loss is None or loss.n < params["min_points"]:
        return
    level = float(np.median(np.abs(loss.values)))
    if not float(loss.values.max() - loss.values.min()) >= params["min_loss_change"] * max(level, 1e-12):
        return
    for series in view.task_metrics:
        if (series.derived_from is not None or series.n < params["min_points"] or series.direction != "max"
                or not _WHOLE_SET.match(metric_leaf(series.metric).lower())):
            continue
        values = series.values
        value = float(values[0])
        if float(values.max() - values.min()) > params["rtol"] * max(abs(value), 1e-12):
            continue
        ceiling = 100.0 if value > 1.0 else 1.0
        if value >= ceiling * (1 - params["rtol"]):
            continue
        yield emit(__name__, params, series.metric, int(series.steps[0]),
                   f"{series.metric} was {num(value)} at every one of {series.n} evaluations (steps "
                   f"{int(series.steps[0])}..{int(series.steps[-1])}) while {loss.metric} moved "
                   f"{num(float(loss.values.min()))}..{num(float(loss.values.max()))}: the predicted class of "
                   f"every validation example never changed (one class for every input, the majority rate or "
                   f"chance) (underfitting); check that the inputs reach the model, the class balance and the "
                   f"learning rate")
