"""Loss and task metric disagree on the best step.

What it detects: the validation loss is best at one evaluation and a validation task metric (WER, accuracy,
ROUGE, ...; direction inferred from its name) at another, more than `max_evals_apart` evaluations away, and at
the loss's best step the metric is at least `min_gap` (relative) worse than its own best.
Why it matters: a checkpoint chosen by validation loss (the default of most early-stopping callbacks) is then
not the best model by the measure that matters. Common in sequence tasks: Whisper fine-tunes keep improving WER
while the validation loss rises (the model grows over-confident).
What to do: choose checkpoints and early stopping by the task metric (HF `metric_for_best_model="wer"`,
`greater_is_better=False`; Keras/Lightning `monitor=`), or by both.

Defaults:
- `max_evals_apart = 1`: neighbouring evaluations are the same choice within noise.
- `min_gap = 0.01`: the metric at the loss's best step is at least 1% (relative) worse than its best.
- `min_points = 3`.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from ..findings import Finding
from ..view import RunView
from ._common import emit, num

CODE = "T401"
NAME = "best-step-disagreement"
CATEGORY = "task-metric"
DEFAULT_SEVERITY = "info"
DEFAULTS = {"max_evals_apart": 1, "min_gap": 0.01, "min_points": 3}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    loss = view.eval_loss
    if loss is None or loss.n < params["min_points"]:
        return
    loss_best_step = int(loss.steps[loss.best_index("min")])
    for metric in view.task_metrics:
        if metric.derived_from is not None or metric.n < params["min_points"]:
            continue
        best_i = metric.best_index(metric.direction)
        metric_best_step, best = int(metric.steps[best_i]), float(metric.values[best_i])
        apart = abs(int(np.searchsorted(loss.steps, metric_best_step))
                    - int(np.searchsorted(loss.steps, loss_best_step)))
        if apart <= params["max_evals_apart"]:
            continue
        at_loss_best = float(metric.values[int(np.abs(metric.steps - loss_best_step).argmin())])
        gap = (best - at_loss_best) if metric.direction == "max" else (at_loss_best - best)
        if gap < params["min_gap"] * max(abs(best), 1e-12):
            continue
        yield emit(__name__, params, metric.metric, metric_best_step,
                   f"{loss.metric} is best at step {loss_best_step} but {metric.metric} at step {metric_best_step} "
                   f"({num(best)} vs {num(at_loss_best)} at the loss's best step, {apart} evaluations apart); choose "
                   f"checkpoints by the metric you care about (HF metric_for_best_model)")
