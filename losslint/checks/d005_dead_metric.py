"""Dead metric: a loss or task metric that never changes (e.g. accuracy stuck at 0).

What it detects: a loss or a validation metric with a known direction whose finite values are all equal (to
within `rtol` of their size) over at least `min_points` points.
Why it matters: a constant accuracy or loss means the number is not computed from the model's outputs (a
metric bug, labels in the wrong format, a frozen or disconnected model, predictions of a single class), and every
judgement built on it is void.
What to do: check the metric code and the label format (one-hot vs index, logits vs probabilities), that the
optimiser holds the model's parameters, and that the learning rate is not 0.

Defaults:
- `min_points = 5`: fewer points can be equal by chance (an accuracy over a tiny eval set).
- `rtol = 1e-6`: equal up to float32 rounding of the logged value.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "D005"
NAME = "dead-metric"
CATEGORY = "integrity"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_points": 5, "rtol": 1e-6}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    candidates = [view.series(m) for m in view.loss_metrics]
    candidates += [t for t in view.task_metrics if t.derived_from is None]
    for series in candidates:
        if series is None or series.n < params["min_points"]:
            continue
        values = series.values
        span = float(values.max() - values.min())
        if span <= params["rtol"] * max(float(np.abs(values).max()), 1e-12):
            yield emit(__name__, params, series.metric, int(series.steps[0]),
                       f"{series.metric} is constant at {num(values[0])} over all {series.n} points (steps "
                       f"{int(series.steps[0])}..{int(series.steps[-1])}); the metric is not computed from the "
                       f"model's outputs or the model is not learning; check the metric code, the labels and the "
                       f"optimiser")
