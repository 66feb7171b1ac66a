"""What a rule sees: a `RunView` of one run, and one `SeriesView` per metric with its analysis cached.

Every number a rule needs (sorted finite points, the smoothed curve, the noise level, change points, spikes,
trend tests) is computed once per series, on first use, and shared by all rules; so enabling more rules costs
no recomputation. Long series are bucket-averaged to at most `MAX_POINTS` before anything quadratic or
per-window runs, so the cost per series stays linear in its length.

Rules know nothing of file formats: they ask for roles (`train_loss`, `eval_loss`, `task_metrics`,
`learning_rate`, `grad_norm`) that this module resolves from the canonical metric names of `losslint.schema`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

import numpy as np

from . import analysis
from .metrics import (
    EVAL_LOSS,
    GRAD_NORM,
    LEARNING_RATE,
    TRAIN_LOSS,
    Direction,
    is_bookkeeping,
    is_loss,
    is_perplexity,
    known_direction,
    metric_leaf,
    split_of,
)
from .schema import Run, metric_rows

MAX_POINTS = 2000
# Fewer finite loss points than this and there is no curve to judge (the no-signal verdict); 5 is the smallest
# series with a best point and the patience-3 window after it (see D004).
MIN_SIGNAL_POINTS = 5
# Error measures named as loss functions: the loss of a run that names none "loss" (RunView.loss_names).
_LOSS_FUNCTION_LEAF = re.compile(r"^(mse|rmse|mae|nll|bce|cross_?entropy|xent)$")
# A test loss or task metric at this many evaluations is a curve, the run's validation when it logs no eval metric
# (see RunView.validation_split): three is the fewest that show a minimum and a turn (O104's `min_points`).
TEST_AS_VALIDATION_MIN_POINTS = 3

def odd_window(n: int, fraction: float = 0.1, lo: int = 3, hi: int = 101) -> int:
    """An odd smoothing window of about `fraction` of n points (1: too few points to smooth)."""
    if n < 7:
        return 1
    w = int(round(n * fraction))
    w = max(lo, min(hi, w))
    return w if w % 2 else w + 1


@dataclass(frozen=True)
class Spikes:
    indices: np.ndarray  # into the finite arrays
    steps: np.ndarray
    values: np.ndarray
    baseline: np.ndarray  # the local level each spike stood above


class SeriesView:
    """One metric of one run: its points sorted by step, with every derived quantity computed at most once."""

    def __init__(self, metric: str, steps: np.ndarray, values: np.ndarray, derived_from: str | None = None):
        self.metric = metric
        # The metric this series was computed from (`eval/perplexity` = exp(`eval/loss`)), None for a logged one.
        self.derived_from = derived_from
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        # Sorted by step (stable: logged order within a step). Most logs already are, and long series are what
        # memory is spent on, so the copies below are made only where something changes.
        if len(steps) > 1 and bool((steps[1:] < steps[:-1]).any()):
            order = np.argsort(steps, kind="stable")
            steps, values = steps[order], values[order]
        # Several points at one step (a restart re-logged it): the last one logged is the one that stands.
        self.duplicate_steps = 0
        if len(steps) > 1:
            last_of_step = np.ones(len(steps), dtype=bool)
            last_of_step[:-1] = steps[1:] != steps[:-1]
            self.duplicate_steps = int(len(steps) - last_of_step.sum())
            if self.duplicate_steps:
                steps, values = steps[last_of_step], values[last_of_step]
        self.all_steps = steps
        self.all_values = values
        finite = np.isfinite(values)
        self.finite_mask = finite
        if finite.all():  # the finite points are all the points: the same arrays, not copies
            self.steps, self.values = steps, values
        else:
            self.steps = steps[finite]
            self.values = values[finite]

    # -- raw facts ---------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(len(self.values))

    @property
    def n_total(self) -> int:
        return int(len(self.all_values))

    @cached_property
    def nonfinite_steps(self) -> np.ndarray:
        return self.all_steps[~self.finite_mask]

    @property
    def direction(self) -> Direction | None:
        return known_direction(self.metric)

    @property
    def first_step(self) -> int | None:
        return int(self.all_steps[0]) if self.n_total else None

    @property
    def last_step(self) -> int | None:
        return int(self.all_steps[-1]) if self.n_total else None

    # -- bounded-size working copy -----------------------------------------------------------------------
    @cached_property
    def bucketed(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n <= MAX_POINTS:
            return self.steps, self.values
        return analysis.bucket_mean(self.steps, self.values, MAX_POINTS)

    @cached_property
    def smoothed(self) -> np.ndarray:
        """Robust level of the bucketed curve: a centered rolling median over ~10% of the points."""
        _, values = self.bucketed
        window = odd_window(len(values))
        if window <= 1:
            return values.copy()
        return analysis.rolling_median(values, window)

    @cached_property
    def smoothed_span(self) -> float:
        """Range (max - min) of the smoothed curve: the scale that measures near a level close to zero use."""
        smoothed = self.smoothed
        return float(smoothed.max() - smoothed.min()) if len(smoothed) else 0.0

    @cached_property
    def noise(self) -> float:
        """Robust white-noise sigma of the finite points (NaN with fewer than 3)."""
        if self.n < 3:
            return float("nan")
        return float(analysis.noise_sigma(self.values))

    @cached_property
    def roughness(self) -> float:
        """Spread of the bucketed points around the smoothed level, relative to that level."""
        _, values = self.bucketed
        if len(values) < 7:
            return float("nan")
        return float(analysis.roughness(values, self.smoothed))

    @cached_property
    def change_points(self):
        if self.n < 10:
            return analysis.ChangePoints()
        return analysis.ChangePointDetector(max_points=MAX_POINTS).fit(self.steps, self.values)

    # -- levels --------------------------------------------------------------------------------------------
    def head_level(self) -> float:
        """Level at the start: the first point of a short (epoch-level) curve, whose points are already averages;
        the median of the first 3 points of a long one, where neighbours are close but single values noisy."""
        _, values = self.bucketed
        if len(values) < 20:
            return float(values[0])
        return float(analysis.median(values[:3]))

    def tail_level(self, fraction: float = 0.1, min_points: int = 1) -> float:
        """Level at the end: median of the last ~10% of points (at least `min_points`)."""
        _, values = self.bucketed
        k = max(min_points, int(math.ceil(len(values) * fraction)))
        return float(analysis.median(values[-k:]))

    def best_index(self, direction: str | None = None) -> int:
        """Index (into the finite arrays) of the best raw value."""
        direction = direction or self.direction or "min"
        return int(np.argmin(self.values) if direction == "min" else np.argmax(self.values))

    def level_at(self, step: float) -> float:
        """The smoothed level interpolated at `step` (held flat outside the series)."""
        steps, _ = self.bucketed
        return float(np.interp(step, steps, self.smoothed))

    # -- trends and spikes (cached per parameter set) -----------------------------------------------------
    @cached_property
    def _trend_cache(self) -> dict:
        return {}

    def tail_trend(self, fraction: float = 0.2, min_points: int = 5):
        """Mann-Kendall test and Theil-Sen fit over the last `fraction` of the (bucketed) series, or None."""
        key = ("tail", fraction, min_points)
        if key not in self._trend_cache:
            steps, values = self.bucketed
            k = max(min_points, int(math.ceil(len(values) * fraction)))
            if len(values) < min_points:
                self._trend_cache[key] = None
            else:
                s, v = steps[-k:], values[-k:]
                self._trend_cache[key] = (analysis.mann_kendall(v), analysis.theil_sen(s.astype(float), v), s, v)
        return self._trend_cache[key]

    def spikes(self, z_threshold: float, window: int, min_rel_jump: float, min_range_fraction: float = 0.01) -> Spikes:
        """Upward jumps: points with robust z >= z_threshold that stand `min_rel_jump` above the local median and
        `min_range_fraction` of the curve's 5-95% range above it, and that rose from the point before (the first
        point has no level to jump from; a steep first descent is not a spike)."""
        key = ("spikes", z_threshold, window, min_rel_jump, min_range_fraction)
        if key not in self._trend_cache:
            steps, values = self.bucketed
            if len(values) < max(7, window // 2):
                found = np.array([], dtype=int)
                base = np.array([])
            else:
                found = np.asarray(analysis.find_spikes(values, z_threshold=z_threshold, window=window,
                                                        direction="up"), dtype=int)
                local = analysis.rolling_median(values, window if window % 2 else window + 1)
                base = local[found] if len(found) else np.array([])
                if len(found):
                    low, high = np.percentile(values, [5, 95])
                    jump = values[found] - base
                    previous = values[np.maximum(found - 1, 0)]
                    keep = ((found > 0) & (values[found] > previous)
                            & (jump >= min_rel_jump * np.maximum(np.abs(base), 1e-12))
                            & (jump >= min_range_fraction * (high - low)))
                    found, base = found[keep], base[keep]
            self._trend_cache[key] = Spikes(found, steps[found], values[found], base)
        return self._trend_cache[key]


class RunView:
    """One run as the rules see it: its series by metric (cached) and the roles rules ask for."""

    def __init__(self, run: Run, monitor: str = EVAL_LOSS):
        self.run = run
        self.monitor = monitor
        self._series: dict[str, SeriesView] = {}
        # one stable sort of the metric codes: each metric's rows, in logged order, as positions into the columns
        self._groups = dict(metric_rows(run.data))
        self._steps = run.data["step"].to_numpy() if self._groups else None
        self._values = run.data["value"].to_numpy() if self._groups else None

    @property
    def name(self) -> str:
        return self.run.name

    @cached_property
    def all_steps(self) -> np.ndarray:
        """The step of every row of the run's table, every metric's (read once per run)."""
        return self._steps if self._steps is not None else self.run.data["step"].to_numpy()

    @property
    def metadata(self) -> dict[str, Any]:
        return self.run.metadata

    @cached_property
    def metrics(self) -> list[str]:
        return list(self._groups)  # sorted by name (metric_rows)

    def series(self, metric: str) -> SeriesView | None:
        if metric not in self._series:
            rows = self._groups.get(metric)
            if rows is None or self._steps is None or self._values is None:
                return None
            self._series[metric] = SeriesView(metric, self._steps[rows], self._values[rows])
        return self._series[metric]

    def judged_metrics(self) -> list[str]:
        # Keras' `evaluation_*_vs_iterations` repeat the epoch curves on an iteration axis: judged once, as epochs.
        return [m for m in self.metrics if not is_bookkeeping(m) and not m.endswith("_vs_iterations")]

    @cached_property
    def judged_step_span(self) -> tuple[int, int] | None:
        """The first and last step of the metrics the rules judge (straight from the row positions, no series
        built): Keras' `*_vs_iterations` copies and bookkeeping counters are not the run's axis."""
        rows = [self._groups[m] for m in self.judged_metrics()]
        if not rows or self._steps is None:
            return None
        steps = self._steps[np.concatenate(rows)]
        return int(steps.min()), int(steps.max())

    # -- roles ---------------------------------------------------------------------------------------------
    @cached_property
    def validation_split(self) -> str:
        """The split the validation roles read: "eval", or "test" when the run logs no eval metric but a test loss
        or task metric (accuracy, ...) evaluated at `TEST_AS_VALIDATION_MIN_POINTS` steps or more. DETR, DeiT and
        MAE write their per-epoch evaluation as `test_loss`, `test_acc1` (on the validation set); an HF `predict()`
        on a test split logs once, and stays a test result."""
        judged = self.judged_metrics()
        if any(split_of(m) == "eval" for m in judged):
            return "eval"
        for metric in judged:
            if split_of(metric) == "test" and (metric in self.loss_names or known_direction(metric) is not None):
                view = self.series(metric)
                if view is not None and view.n >= TEST_AS_VALIDATION_MIN_POINTS:
                    return "test"
        return "eval"

    @cached_property
    def loss_names(self) -> frozenset[str]:
        """The metrics that play the loss: those named a loss, and, on a split that names none, its error measures
        named as a loss function (`Valid MSE`, `val_cross_entropy`, `train_nll`): a regression whose validation is
        logged as MSE only has a validation curve to judge like any other."""
        judged = self.judged_metrics()
        named = {m for m in judged if is_loss(m)}
        with_a_loss = {split_of(m) for m in named}
        return frozenset(named | {m for m in judged if split_of(m) not in with_a_loss
                                  and _LOSS_FUNCTION_LEAF.match(metric_leaf(m).lower())})

    @cached_property
    def loss_metrics(self) -> list[str]:
        splits = (None, "train", self.validation_split)
        return [m for m in self.judged_metrics() if m in self.loss_names and split_of(m) in splits]

    def _first_usable(self, candidates: Iterable[str]) -> SeriesView | None:
        fallback = None
        for metric in candidates:
            view = self.series(metric)
            if view is None or view.n_total == 0:
                continue
            if view.n >= 2:
                return view
            fallback = fallback or view
        return fallback

    @cached_property
    def train_loss(self) -> SeriesView | None:
        """`train/loss`, else the train-side loss with the shortest name (`train/loss_epoch`, ...)."""
        others = sorted((m for m in self.loss_metrics if split_of(m) == "train" and m != TRAIN_LOSS),
                        key=lambda m: (len(m), m))
        # A bare `loss` column of a format that names no split is the training loss too.
        bare = [m for m in self.loss_metrics if split_of(m) is None and metric_leaf(m) == "loss"]
        # A run whose only loss names no split (RL `episode/MSE Loss`) is judged as its training loss.
        unsplit = [m for m in self.loss_metrics if split_of(m) is None]
        sole = unsplit if len(unsplit) == 1 and not any(split_of(m) for m in self.loss_metrics) else []
        # A loss that names no split beside its validation twin (Lightning `self.log("classification_loss")` and
        # `self.log("val_classification_loss")`) is that loss on the training data.
        twins = sorted((m for m in unsplit if f"{self.validation_split}/{m}" in self._groups),
                       key=lambda m: (len(m), m))
        return self._first_usable([TRAIN_LOSS, *others, *bare, *twins, *sole])

    @cached_property
    def eval_losses(self) -> list[SeriesView]:
        names = [m for m in self.loss_metrics if split_of(m) == self.validation_split]
        names.sort(key=lambda m: (m != EVAL_LOSS, m != self.monitor, len(m), m))
        return [v for v in (self.series(m) for m in names) if v is not None and v.n_total]

    @cached_property
    def eval_loss(self) -> SeriesView | None:
        """The validation loss early stopping would watch: the monitor if it is a loss, `eval/loss`, else another."""
        candidates = [v.metric for v in self.eval_losses]
        if self.monitor in candidates:
            candidates.remove(self.monitor)
            candidates.insert(0, self.monitor)
        return self._first_usable(candidates)

    @cached_property
    def task_metrics(self) -> list[SeriesView]:
        """Validation metrics other than losses whose better direction is known from the name."""
        out = []
        for metric in self.judged_metrics():
            if (split_of(metric) != self.validation_split or metric in self.loss_names
                    or known_direction(metric) is None):
                continue
            view = self.series(metric)
            if view is not None and view.n_total:
                out.append(view)
        derived = self.derived_perplexity
        if derived is not None:
            out.append(derived)
        return out

    @cached_property
    def derived_perplexity(self) -> SeriesView | None:
        """exp(eval loss) as `eval/perplexity` when the run logged a loss but no perplexity (language models)."""
        if any(is_perplexity(m) and split_of(m) == self.validation_split for m in self.metrics):
            return None
        if not self.is_language_model or self.eval_loss is None or self.eval_loss.n_total == 0:
            return None
        loss = self.eval_loss
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.exp(loss.all_values)
        return SeriesView("eval/perplexity", loss.all_steps, values, derived_from=loss.metric)

    @cached_property
    def is_language_model(self) -> bool:
        """Perplexity is meaningful for token-level cross-entropy: say so only when the run tells us."""
        text = " ".join(str(v) for k, v in self.run.hparams.items()
                        if k.lower() in ("model_type", "architectures", "task", "model_name_or_path", "_name_or_path"))
        text = (text + " " + self.run.name).lower()
        return any(w in text for w in ("gpt", "llama", "causal", "lm", "language", "nanogpt", "mistral", "opt-"))

    @property
    def learning_rate(self) -> SeriesView | None:
        return self.series(LEARNING_RATE)

    @property
    def grad_norm(self) -> SeriesView | None:
        return self.series(GRAD_NORM)

    @cached_property
    def num_classes(self) -> int | None:
        for key in ("num_classes", "num_labels", "n_classes", "nb_classes", "classes", "number_of_classes"):
            for name, value in self.run.hparams.items():
                if name.lower().rsplit(".", 1)[-1].rsplit("/", 1)[-1] == key:
                    try:
                        n = int(float(value))
                    except (TypeError, ValueError):
                        continue
                    if n >= 2:
                        return n
        return None

    @property
    def has_loss(self) -> bool:
        """A loss series long enough to judge: at least `MIN_SIGNAL_POINTS` finite points."""
        return any((s := self.series(m)) is not None and s.n >= MIN_SIGNAL_POINTS for m in self.loss_metrics)
