"""Validation loss rising: it fell to a minimum, then rose clearly while the training loss did not.

What it detects: a validation loss that improved, reached its minimum, and at the end of the run sits at least
`min_rise` (relative) and `noise_k` noise-sigmas above that minimum, with at least `min_evals_after` evaluations
after the minimum, while the training loss kept falling or stayed flat (at most `train_rise_tol` higher at the end
than at the minimum), in a run whose training loss fell at all (`min_train_fall`). The onset is the step of the
minimum (of the smoothed curve, so one lucky evaluation does not move it); the first change point after it
(ruptures) is named when there is one.
Why it matters: this is the textbook picture of overfitting: the model keeps fitting the training set and gets
worse on unseen data. Every step after the minimum costs compute and yields worse checkpoints.
What to do: stop at the minimum (early stopping, keep the best checkpoint: HF `load_best_model_at_end=True`), get
more training data, add regularisation (dropout, weight decay, data augmentation) or use a smaller model.

Defaults:
- `min_rise = 0.05`: 5% above the minimum, Prechelt's (1998) GL5 criterion (generalisation loss above 5%), the
  best-performing of his GL stopping thresholds.
- `noise_k = 3.0`: the rise must exceed 3 sigmas of the difference between the end level (median of the last
  10% of evaluations, at least 3) and the smoothed minimum (3-sigma rule). The noise is the robust sigma of the
  curve's second differences: first differences absorb the trend, and on a short U-shape (12-17 evaluations)
  the descent and the rise inflated them to 12-17x the true noise, hiding rises of 55-69%; a second difference
  cancels a linear trend and the MAD's centring the constant curvature of a U. At least 3 end points, because
  the median of 2 is their mean and moved half-way to a single bad last evaluation (a false alarm on an
  18-evaluation run).
- `min_points = 5`, `min_evals_after = 2`: the minimum and two evaluations after it: HF
  `EarlyStoppingCallback`'s smallest useful patience is 1-3 evaluations.
- `train_rise_tol = 0.05`: the training loss may stay flat (a memorised training set) but not rise more than 5%
  meanwhile; a training loss that rises too is instability (I308, I303), not overfitting.
- `min_train_fall = 0.1`: the model must have fitted its training data: the training loss ended at least 10%
  below where it started, or below 90% of the validation loss (a set memorised before the first log). A model
  cannot overfit data it has not fitted: a training loss within 10% of its start and as high as the validation
  loss learned nothing, and a validation curve or task metric that wanders meanwhile is noise around an underfit
  model (U201), not overfitting. In the two labelled real-world corpora every run labelled overfitting ends its
  training loss at 60% of its start or lower; a QuALITY reader whose losses sat at ln(4) throughout ends at 100%.
- `improve_tol = 0.01`: the curve must first have improved by 1% on its first value, else O104 applies.
- `severe_rise = 0.5`: a rise of 50% or more is reported at `severe_severity` ("error").
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

import numpy as np

from .. import analysis
from ..findings import Finding
from ..view import RunView, odd_window
from ._common import difference_sigma, emit, num, pct, train_change, train_fitted, train_rose, train_text

CODE = "O101"
NAME = "val-loss-rising"
CATEGORY = "overfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_rise": 0.05, "noise_k": 3.0, "min_points": 5, "min_evals_after": 2, "improve_tol": 0.01,
            "train_rise_tol": 0.05, "min_train_fall": 0.1, "severe_rise": 0.5, "severe_severity": "error"}


_MIN_END_POINTS = 3


def _curve_noise(series) -> float:
    """Robust noise sigma from second differences (see `noise_k`); NaN with fewer than 4 points."""
    return float(analysis.noise_sigma(series.values, order=2))


def rise_after_minimum(series, params) -> dict | None:
    """The rise of a min-is-better curve after its minimum, when it is large enough to report."""
    if series.n < params["min_points"]:
        return None
    steps, values = series.bucketed
    # The smoothed curve says where the bottom is; the lowest evaluation near it names the step.
    i_smooth = int(series.smoothed.argmin())
    reach = odd_window(len(values)) // 2
    lo = max(0, i_smooth - reach)
    i_min = lo + int(values[lo:i_smooth + reach + 1].argmin())
    after = values[i_min + 1:]
    if len(after) < params["min_evals_after"]:
        return None
    best, first = float(series.smoothed[i_smooth]), float(values[0])
    if not best < first - params["improve_tol"] * abs(first):
        return None
    # At least 3 end points (one of them may be the minimum itself on a short tail): one bad last evaluation
    # cannot move a median of 3.
    k_end = min(len(values) - i_min, max(_MIN_END_POINTS, math.ceil(0.1 * len(values))))
    end = float(np.median(values[-k_end:]))
    rise = end - best
    scale = max(abs(best), 1e-12)
    sigma = difference_sigma(_curve_noise(series), k_end, odd_window(len(values)))
    if rise < params["min_rise"] * scale or rise < params["noise_k"] * sigma:
        return None
    return {"i_min": i_min, "step_min": int(steps[i_min]), "best": float(values[i_min]), "end": end,
            "rel": rise / scale, "last_step": int(steps[-1])}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    if not train_fitted(view, params["min_train_fall"]):
        return
    for series in view.eval_losses:
        found = rise_after_minimum(series, params)
        if found is None:
            continue
        trend = train_change(view, found["step_min"])
        if train_rose(trend, params["train_rise_tol"]):
            continue
        perplexity = ""
        if view.derived_perplexity is not None and series is view.eval_loss:
            # language models are read in perplexity; exp(loss) when the run did not log it
            perplexity = f" (perplexity {num(math.exp(found['best']))} -> {num(math.exp(found['end']))})"
        onset = [s for s in series.change_points.steps if s > found["step_min"]]
        onset_text = f"; the rise is detected from step {onset[0]}" if onset else ""
        severity = params["severe_severity"] if found["rel"] >= params["severe_rise"] else None
        yield emit(__name__, params, series.metric, found["step_min"],
                   f"{series.metric} reached its minimum {num(found['best'])} at step {found['step_min']}, then rose "
                   f"{pct(found['rel'])} to {num(found['end'])}{perplexity} by step {found['last_step']}"
                   f"{train_text(trend)}{onset_text}; "
                   f"keep the checkpoint of step {found['step_min']} (early stopping with restore-best), get more data "
                   f"or add "
                   f"regularisation (dropout, weight decay, augmentation)", severity=severity)
