"""Validation worse from the start: the validation loss never improved on its first value and ended higher.

What it detects: a validation loss with at least `min_points` evaluations whose later values never go more than
`improve_tol` below the first one, and whose end level is at least `min_rise` and `noise_k` noise-sigmas above
it, while the training loss fell.
Why it matters: the first checkpoint was the best; everything after it fitted the training data only. Typical
causes: a learning rate so high that fine-tuning destroys what pre-training knew, a tiny training set memorised in
one epoch, or training and validation data that do not come from the same distribution.
What to do: keep the first checkpoint; lower the learning rate, evaluate earlier and more often, add data or
regularisation, and check that validation data match training data.

Defaults:
- `min_rise = 0.05`: Prechelt's (1998) GL5 threshold: 5% above the best (here: first) value.
- `improve_tol = 0.01`, `noise_k = 3.0`, `train_rise_tol = 0.05`, `min_train_fall = 0.1`: as O101 (the two rules
  never report the same curve).
- `min_points = 3`: the first value and two later ones.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct, tail_median, train_change, train_fitted, train_rose, train_text

CODE = "O104"
NAME = "val-worse-from-start"
CATEGORY = "overfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_rise": 0.05, "improve_tol": 0.01, "noise_k": 3.0, "min_points": 3, "train_rise_tol": 0.05,
            "min_train_fall": 0.1}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    if not train_fitted(view, params["min_train_fall"]):
        return
    for series in view.eval_losses:
        if series.n < params["min_points"]:
            continue
        steps, values = series.bucketed
        first = float(values[0])
        scale = max(abs(first), 1e-12)
        if values[1:].min() < first - params["improve_tol"] * scale:
            continue
        end = tail_median(values[1:], 0.1 * len(values) / (len(values) - 1), max_points=3)
        noise = series.noise if series.noise == series.noise else 0.0
        if end - first < params["min_rise"] * scale or end - first < params["noise_k"] * noise:
            continue
        trend = train_change(view, int(steps[0]))
        if train_rose(trend, params["train_rise_tol"]):
            continue
        yield emit(__name__, params, series.metric, int(steps[0]),
                   f"{series.metric} never improved on its first value {num(first)} (step {int(steps[0])}) and ended "
                   f"{pct((end - first) / scale)} higher at {num(end)}{train_text(trend)}; "
                   f"the first checkpoint is the best; "
                   f"lower the learning rate, evaluate earlier, add data or regularisation, and check that validation "
                   f"data match training data")
