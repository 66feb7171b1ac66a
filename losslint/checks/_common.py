"""Small helpers shared by the rule modules: building a Finding and writing numbers in messages."""
from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import Any, Mapping, NamedTuple

from ..findings import Finding
from . import CATEGORIES


def emit(module_name: str, params: Mapping[str, Any], metric: str | None, step: int | None, message: str,
         severity: str | None = None) -> Finding:
    """A finding of the rule module `module_name` with the configured severity (or one the rule escalated to)."""
    rule: ModuleType = sys.modules[module_name]
    return Finding(code=rule.CODE, name=rule.NAME, severity=severity or params.get("severity", rule.DEFAULT_SEVERITY),
                   metric=metric, step=None if step is None else int(step), message=message,
                   category=CATEGORIES[rule.CODE[0]])


def num(x: float) -> str:
    """A number as a person would write it in a message: 4 significant digits, nan/inf spelled out."""
    if x is None:
        return "n/a"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


# k * Var(median of k standard normal draws), k = 1..10 (simulated, 2M draws each; an even k averages the middle
# two). The large-k value pi/2 = 1.571 overstates small medians: by 57% for k=2 and 17% for k=3.
_SMALL_MEDIAN_VARIANCE = (1.0, 1.0, 1.344, 1.194, 1.432, 1.292, 1.474, 1.349, 1.493, 1.381)


def median_variance_factor(k: int) -> float:
    """Var(median of k noisy points) / sigma^2: exact (simulated) for k <= 10, pi / (2k) beyond."""
    k = max(int(k), 1)
    return _SMALL_MEDIAN_VARIANCE[k - 1] / k if k <= len(_SMALL_MEDIAN_VARIANCE) else math.pi / (2 * k)


def difference_sigma(noise: float, k_a: int, k_b: int) -> float:
    """Noise sigma of the difference of two medians of k_a and k_b noisy points (see `median_variance_factor`);
    0 when the noise is unknown."""
    if not noise == noise:
        return 0.0
    return float(noise) * math.sqrt(median_variance_factor(k_a) + median_variance_factor(k_b))


def tail_median(values, fraction: float = 0.1, max_points: int | None = None) -> float:
    """Median of the last ~fraction of `values` (at least one point, at most `max_points`)."""
    import numpy as np

    k = max(1, int(math.ceil(len(values) * fraction)))
    if max_points is not None:
        k = min(k, max_points)
    return float(np.median(values[-k:]))


class TrainChange(NamedTuple):
    """How the training loss moved from a reference step to the end of the run."""
    metric: str
    before: float  # smoothed level at the reference step
    after: float  # level at the end
    span: float  # range (max - min) of the smoothed curve: the scale a rise is judged on near zero


# A rise of the training loss is judged against its level, but never against less than this share of the curve's
# range: a loss memorised down to 3e-4 that ends at 5e-4 "rose 67%" by its level, and nothing on its curve.
TRAIN_RISE_RANGE_SHARE = 0.05


def train_rose(trend: TrainChange | None, tol: float) -> bool:
    """Whether the training loss ended more than `tol` above its level at the reference step, relative to that level
    or, near zero, to `TRAIN_RISE_RANGE_SHARE` of the curve's range (whichever is larger)."""
    if trend is None:
        return False
    scale = max(abs(trend.before), TRAIN_RISE_RANGE_SHARE * trend.span)
    return trend.after > trend.before + tol * scale


# A training loss that moved less than this share of its level (or of TRAIN_RISE_RANGE_SHARE of its range) "stayed
# about level" in a message: 1.389 -> 1.388 did not "keep falling".
TRAIN_LEVEL_SHARE = 0.01


def train_text(trend: TrainChange | None) -> str:
    """How the training loss moved meanwhile, for a message."""
    if trend is None:
        return " (no training loss logged to compare)"
    scale = max(abs(trend.before), TRAIN_RISE_RANGE_SHARE * trend.span)
    how = "kept falling" if trend.after < trend.before - TRAIN_LEVEL_SHARE * scale else "stayed about level"
    return f" while {trend.metric} {how} ({num(trend.before)} -> {num(trend.after)})"


# "Below the validation loss": the training loss ends under this share of it (U201's `gap_ratio`).
FITTED_GAP_RATIO = 0.9


def train_fitted(view, min_fall: float) -> bool:
    """Whether the model fitted its training data at all: the training loss ended at least `min_fall` (relative)
    below where it started, or below the validation loss (a set memorised before its first log starts at its
    floor). True when that cannot be told (no training loss with 3 points, a start at or below 0): the
    overfitting rules then judge the validation curve alone."""
    train = view.train_loss
    if train is None or train.n < 3:
        return True
    start, end = train.head_level(), train.tail_level()
    if not start > 0 or end <= (1.0 - min_fall) * start:
        return True
    evals = view.eval_loss
    return bool(evals is not None and evals.n >= 3 and end < FITTED_GAP_RATIO * evals.tail_level())


def train_change(view, from_step: int) -> TrainChange | None:
    """How the training loss moved from `from_step` to the end, or None without a train loss."""
    train = view.train_loss
    if train is None or train.n < 3:
        return None
    return TrainChange(train.metric, train.level_at(from_step), train.tail_level(), train.smoothed_span)
