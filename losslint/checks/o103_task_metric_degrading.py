"""Task metric degrading: a validation metric got worse after its best value while the training loss fell.

What it detects: for each validation task metric whose better direction is known from its name (accuracy, F1,
ROUGE, BLEU, exact match, AUC higher; WER, CER, perplexity, error lower), the value at the end of the run is at
least `min_drop` (relative to the best value) and `noise_k` noise-sigmas worse than its best, with at least
`min_evals_after` evaluations after the best one, while the training loss went on falling.
Why it matters: the task metric is what the model is for; losing it while the training loss improves is
overfitting measured in the unit that matters.
What to do: stop at the best evaluation of the metric (HF `metric_for_best_model` + `load_best_model_at_end`),
add data or regularisation.

Defaults:
- `min_drop = 0.05`: 5% worse than the best value (relative), about the spread of accuracy between evaluations of
  a few thousand examples (binomial standard error 0.5-1%, times the 3-sigma margin with headroom).
- `noise_k = 3.0`, `min_points = 5`, `min_evals_after = 2`, `train_rise_tol = 0.05`, `min_train_fall = 0.1`: as
  O101.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct, tail_median, train_change, train_fitted, train_rose, train_text

CODE = "O103"
NAME = "task-metric-degrading"
CATEGORY = "overfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_drop": 0.05, "noise_k": 3.0, "min_points": 5, "min_evals_after": 2, "train_rise_tol": 0.05,
            "min_train_fall": 0.1}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    if not train_fitted(view, params["min_train_fall"]):
        return
    for series in view.task_metrics:
        if series.derived_from is not None or series.n < params["min_points"]:
            continue
        direction = series.direction
        steps, values = series.steps, series.values
        i_best = series.best_index(direction)
        after = values[i_best + 1:]
        if len(after) < params["min_evals_after"]:
            continue
        best = float(values[i_best])
        end = tail_median(after, 0.1 * len(values) / len(after), max_points=3)
        worse = (best - end) if direction == "max" else (end - best)
        noise = series.noise if series.noise == series.noise else 0.0
        if worse < params["min_drop"] * max(abs(best), 1e-12) or worse < params["noise_k"] * noise:
            continue
        step_best = int(steps[i_best])
        trend = train_change(view, step_best)
        if train_rose(trend, params["train_rise_tol"]):
            continue
        yield emit(__name__, params, series.metric, step_best,
                   f"{series.metric} was best ({num(best)}) at step {step_best}, then got "
                   f"{pct(worse / max(abs(best), 1e-12))} "
                   f"worse ({num(end)} by step {int(steps[-1])}){train_text(trend)}; keep the checkpoint of step "
                   f"{step_best} (select "
                   f"checkpoints by this metric); add data or regularisation")
