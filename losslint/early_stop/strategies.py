"""Where a run should have stopped: the default (smoothing + noise) strategy and the classic baselines.

The default strategy, in one paragraph: smooth the monitored metric with a centered rolling median (~1/15 of the
run, at least 5 evaluations; no lag, one or two freak evaluations ignored), take its minimum, and estimate the noise
robustly (second differences, residuals about the smoothed curve, the tail after the minimum; the largest wins).
A stop is due only when, after that minimum, a trailing median of the raw evaluations rises more than
3 noise sigmas (and 0.5%) above the smoothed minimum and never falls back below half of that until the end, the end
of the run is that far above as well, and a tail of 8+ evaluations ranks as rising (Mann-Kendall, 5%); or when the
metric turns non-finite (NaN/inf) and stays so to the end. Otherwise the run may have converged: the stop then goes
to the first evaluation where the smoothed curve came within `converged_tolerance` (1%) of its best level, provided
the rest of the run did not fall further by more than that (median of the rest's first third minus its last third)
and at least a tenth of the evaluations lie after it. A run still improving by more than the tolerance at its end,
or whose convergence came in its last tenth, gets no stop.

Where the stop goes once it is due: at the smoothed minimum (the later of it and the evaluation to keep, both
within noise of the minimum level), not where the rise became evident. losslint reads the whole curve after the
fact, so once the rise is established the minimum is where training should have stopped; waiting for the evidence
is what an online callback has to do, and on the benchmark that wait cost 0.08-0.10 relative regret on U-shapes and
left blow-ups 2-5 evaluations deep (median 4x the best value) before the stop. A run that breaks (non-finite to the
end) gets its stop at the smoothed best of the finite part before the break, never at or after the first
non-finite evaluation; an isolated NaN followed by finite values is not a break. The evaluation where the rise
became evident is kept in `StopDecision.evident_index`. Measured with benchmarks/quality.py (50 synthetic runs
per label, seed0=0): U-shapes regret 0.005 with 54% of the steps saved (was 0.103 / 40%; HF patience 3: 0.061 /
51%), finite blow-ups 0.002 / 43% (was 9.86 / 30%), and all 33 runs whose metric turns NaN stopped before it (was
16); good fits still got no stop then. The convergence stop (added after that measurement, on top of it) saves
compute on runs that flattened long before their end (see benchmarks/results for the measured trade-off):
stopping where the curve came within 1% of its best costs at most that 1%, while the patience callbacks' savings on
the same runs cost 5-60% (HF patience 1 stops synthetic good fits at 64% of their length, 142% worse than their best).

Indices are positions in the `values` array of the monitored metric's evaluations (one entry per evaluation,
in logged order). The patience baselines replay each library's callback exactly, including how it treats a
NaN evaluation (the one place where non-finite values are not simply ignored), so "what HF
EarlyStoppingCallback(patience=3) would have done" is literally that.

References
- transformers `EarlyStoppingCallback.check_metric_value` (trainer_callback.py): improvement iff
  ``operator(metric, best) and abs(metric - best) > threshold``; counter reset on improvement, else +1; stop when
  counter >= patience. `state.best_metric` is updated by the Trainer *after* the callback ran, by a plain
  ``operator(metric, best)`` with no threshold (Trainer._determine_best_metric).
- keras `EarlyStopping` (keras/src/callbacks/early_stopping.py): ``wait += 1`` first; improvement iff
  ``monitor_op(current - min_delta, best)`` with min_delta negated in "min" mode; stop when
  ``wait >= patience and epoch > 0``.
- Lightning `EarlyStopping` (src/lightning/pytorch/callbacks/early_stopping.py): stops at once on a non-finite
  value (check_finite=True); improvement iff ``monitor_op(current - min_delta, best)`` (min_delta negated for
  "min"); else ``wait_count += 1`` and stop when ``wait_count >= patience``.
- L. Prechelt, "Early Stopping - But When?", in Neural Networks: Tricks of the Trade, LNCS 1524, Springer 1998,
  pp. 55-69: GL_alpha, PQ_alpha (training strips of k=5 epochs) and UP_s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, Literal, Protocol

import numpy as np

from ..analysis.noise import noise_sigma
from ..analysis.smoothing import median, rolling_median, trailing_median
from ..analysis.trend import mann_kendall
from ..findings import Trigger


@dataclass(frozen=True)
class StopDecision:
    best_index: int | None  # best evaluation ("default": best one near the smoothed minimum); None: no finite value
    stop_index: int | None  # None: no early stop recommended
    strategy: str
    reason: str = ""  # one sentence on why (for messages)
    # "default" only: where the curve reached its smoothed minimum (the later of that and best_index), i.e. where
    # training should have stopped once a stop is due; and the evaluation where a sustained rise became evident.
    rest_index: int | None = None
    evident_index: int | None = None
    # What made the stop due: "rise" (a sustained rise after the best), "non-finite" (the metric broke for good),
    # "converged" (the rest of the run improved it by less than the tolerance); None without a stop.
    trigger: Trigger | None = None
    # "default" only, when no rise or break made a stop due: why the rise test did not fire (a convergence stop's
    # `reason` speaks of the convergence instead)
    no_rise: str = ""


def _check_direction(direction: str) -> None:
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")


# --------------------------------------------------------------------------------------------- patience baselines

def patience_stop(values: np.ndarray, patience: int, *, min_delta: float = 0.0, mode: str = "hf",
                  direction: str = "min") -> int | None:
    """Index of the evaluation after which a patience callback stops training (None: it never stops).

    mode: "hf" (transformers EarlyStoppingCallback, `min_delta` is early_stopping_threshold), "keras" (keras
    EarlyStopping), "lightning" (Lightning EarlyStopping, stops on a non-finite value too) or "relative"
    (Lightning-style counting, improvement iff better than best by more than `min_delta * |best|`).
    """
    _check_direction(direction)
    x = np.asarray(values, dtype=np.float64)
    if mode == "hf":
        return _hf_stop(x, patience, min_delta, direction)
    if mode == "keras":
        return _keras_stop(x, patience, min_delta, direction)
    if mode == "lightning":
        return _lightning_stop(x, patience, min_delta, direction)
    if mode == "relative":
        return _relative_stop(x, patience, min_delta, direction)
    raise ValueError(f"mode must be 'hf', 'keras', 'lightning' or 'relative', got {mode!r}")


def _hf_stop(x: np.ndarray, patience: int, threshold: float, direction: str) -> int | None:
    better = np.greater if direction == "max" else np.less
    best: float | None = None
    counter = 0
    for i, value in enumerate(x.tolist()):
        if best is None or (better(value, best) and abs(value - best) > threshold):
            counter = 0
        else:
            counter += 1
        if counter >= patience:
            return i
        # The Trainer updates best_metric after the callback, with no threshold.
        if best is None:
            best = float("-inf") if direction == "max" else float("inf")
        if better(value, best):
            best = value
    return None


def _keras_stop(x: np.ndarray, patience: int, min_delta: float, direction: str) -> int | None:
    better = np.greater if direction == "max" else np.less
    delta = abs(min_delta) if direction == "max" else -abs(min_delta)
    best = float("-inf") if direction == "max" else float("inf")
    wait = 0
    for epoch, value in enumerate(x.tolist()):
        wait += 1
        if better(value - delta, best):
            best = value
            wait = 0
            continue
        if wait >= patience and epoch > 0:
            return epoch
    return None


def _lightning_stop(x: np.ndarray, patience: int, min_delta: float, direction: str) -> int | None:
    better = np.greater if direction == "max" else np.less
    delta = abs(min_delta) if direction == "max" else -abs(min_delta)
    best = float("-inf") if direction == "max" else float("inf")
    wait = 0
    for i, value in enumerate(x.tolist()):
        if not np.isfinite(value):
            return i
        if better(value - delta, best):
            best = value
            wait = 0
        else:
            wait += 1
            if wait >= patience:
                return i
    return None


def _relative_stop(x: np.ndarray, patience: int, rel_delta: float, direction: str) -> int | None:
    sign = 1.0 if direction == "max" else -1.0
    best = float("-inf") if direction == "max" else float("inf")
    wait = 0
    for i, value in enumerate(x.tolist()):
        improved = np.isfinite(value) and (
            not np.isfinite(best) or sign * (value - best) > abs(rel_delta) * abs(best))
        if improved:
            best = value
            wait = 0
        else:
            wait += 1
            if wait >= patience:
                return i
    return None


# --------------------------------------------------------------------------------------------- Prechelt (1998)

def _as_error(values: np.ndarray, direction: str) -> np.ndarray | None:
    """Prechelt's criteria need a positive error. A "max" score in [0, 1] becomes 1 - score, one in [0, 100]
    becomes 100 - score; any other "max" metric has no error form (None)."""
    x = np.asarray(values, dtype=np.float64)
    if direction == "min":
        return x
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return x
    if finite.min() >= 0.0 and finite.max() <= 1.0:
        return 1.0 - x
    if finite.min() >= 0.0 and finite.max() <= 100.0:
        return 100.0 - x
    return None


def _generalization_loss(errors: np.ndarray) -> np.ndarray:
    """GL(t) = 100 * (E_va(t) / E_opt(t) - 1), E_opt(t) the lowest finite error so far; NaN where undefined."""
    filled = np.where(np.isfinite(errors), errors, np.inf)
    e_opt = np.minimum.accumulate(filled) if filled.size else filled
    with np.errstate(divide="ignore", invalid="ignore"):
        gl = 100.0 * (errors / e_opt - 1.0)
    gl[~np.isfinite(errors) | ~np.isfinite(e_opt) | (e_opt <= 0.0)] = np.nan
    return gl


def prechelt_gl(values: np.ndarray, alpha: float = 5.0, direction: str = "min") -> int | None:
    """Prechelt's GL_alpha: stop after the first evaluation with generalization loss 100*(E_va/E_opt - 1) > alpha.

    Undefined (skipped) where the best error so far is not positive; non-finite evaluations are skipped.
    """
    _check_direction(direction)
    errors = _as_error(values, direction)
    if errors is None:
        return None
    hits = np.flatnonzero(_generalization_loss(errors) > alpha)
    return int(hits[0]) if hits.size else None


def _train_errors_at_evals(train_steps: np.ndarray, train_values: np.ndarray, eval_steps: np.ndarray) -> np.ndarray:
    """Training error per evaluation: the mean of the finite training values logged after the previous
    evaluation and up to this one; else the last finite training value at or before it; else NaN."""
    ts = np.asarray(train_steps, dtype=np.int64)
    tv = np.asarray(train_values, dtype=np.float64)
    ok = np.isfinite(tv)
    ts, tv = ts[ok], tv[ok]
    order = np.argsort(ts, kind="stable")
    ts, tv = ts[order], tv[order]
    es = np.asarray(eval_steps, dtype=np.int64)
    out = np.full(es.size, np.nan)
    if ts.size == 0:
        return out
    csum = np.concatenate([[0.0], np.cumsum(tv)])
    upto = np.searchsorted(ts, es, side="right")  # training points with step <= eval step
    prev = np.concatenate([[0], upto[:-1]])
    prev = np.minimum(prev, upto)
    count = upto - prev
    has_interval = count > 0
    out[has_interval] = (csum[upto[has_interval]] - csum[prev[has_interval]]) / count[has_interval]
    fallback = ~has_interval & (upto > 0)
    out[fallback] = tv[upto[fallback] - 1]
    return out


def prechelt_pq(val_values: np.ndarray, train_steps: np.ndarray, train_values: np.ndarray, eval_steps: np.ndarray,
                alpha: float = 0.5, strip: int = 5, direction: str = "min") -> int | None:
    """Prechelt's PQ_alpha: stop after the first end-of-strip evaluation t with GL(t) / P_k(t) > alpha.

    P_k(t) = 1000 * (sum of the strip's training errors / (k * their minimum) - 1) over the strip of k=`strip`
    evaluations ending at t; the training curve (a loss) is aligned to the evaluation steps by averaging the
    training values logged in each evaluation interval. A strip with zero training progress and a positive GL
    stops (the quotient is infinite).
    """
    _check_direction(direction)
    errors = _as_error(val_values, direction)
    if errors is None:
        return None
    gl = _generalization_loss(errors)
    train = _train_errors_at_evals(train_steps, train_values, eval_steps)
    for t in range(strip - 1, errors.size, strip):
        window = train[t - strip + 1:t + 1]
        if not np.isfinite(gl[t]) or not np.isfinite(window).all() or window.min() <= 0.0:
            continue
        progress = 1000.0 * (window.sum() / (strip * window.min()) - 1.0)
        if progress > 0.0:
            if gl[t] / progress > alpha:
                return t
        elif gl[t] > 0.0:
            return t
    return None


def prechelt_up(values: np.ndarray, s: int = 3, strip: int = 5, direction: str = "min") -> int | None:
    """Prechelt's UP_s: stop after the end-of-strip evaluation t when the validation error rose in each of
    the last s strips (E(t) > E(t - k), E(t - k) > E(t - 2k), ...; evaluated only at strip ends)."""
    _check_direction(direction)
    x = np.asarray(values, dtype=np.float64)
    sign = -1.0 if direction == "max" else 1.0
    run = 0
    for t in range(2 * strip - 1, x.size, strip):
        now, before = sign * x[t], sign * x[t - strip]
        run = run + 1 if (np.isfinite(now) and np.isfinite(before) and now > before) else 0
        if run >= s:
            return t
    return None


# --------------------------------------------------------------------------------------------- default strategy

def _finite_or_zero(x: float) -> float:
    return x if np.isfinite(x) else 0.0


def _residual_sigma(values: np.ndarray, smoothed: np.ndarray, window: int) -> float:
    """Noise sigma from the residuals about a centered rolling median of `window` points.

    The point itself is in its window, so for Gaussian noise 1.4826 * MAD(residual) is sigma * sqrt(1 - 2.25 / w)
    (simulated: 0.73 at w=5, 0.87 at w=9, 0.92 at w=15); dividing by that factor makes it unbiased.
    """
    residual = values - smoothed
    residual = residual[np.isfinite(residual)]
    if residual.size < 3:
        return 0.0
    mad = float(median(np.abs(residual - median(residual))))
    return 1.4826 * mad / np.sqrt(max(1.0 - 2.25 / window, 0.25))


def _nonfinite_tail_start(x: np.ndarray) -> int | None:
    """Index of the first evaluation of a non-finite run that lasts to the end (after finite values), else None.

    That is the I303 picture of a run that broke (NaN/inf and never recovered); an isolated NaN evaluation
    followed by finite ones is not."""
    finite = np.isfinite(x)
    if x.size == 0 or finite[-1] or not finite.any():
        return None
    return int(np.flatnonzero(finite)[-1]) + 1


def converged_position(smoothed: np.ndarray, best_level: float, tolerance: float, min_tail: int,
                       values: np.ndarray | None = None) -> int | None:
    """First position where the (smoothed, lower-is-better) curve came within `tolerance` x |best_level| of the
    run's best level, and from which the rest of the run did not fall further by more than that; None when no
    such position leaves at least `min_tail` positions after it (or tolerance <= 0).

    Coming within the tolerance of the best is what bounds the cost of stopping there: nothing after it is lower
    than the best level (a bump after the minimum that comes back down is no reason to stop later). The second
    test guards against noise: a smoothed minimum is biased low, so a noisy curve still descending can touch the
    band early by chance; with `values` (the evaluations themselves), a candidate is only taken when the median of
    the first third of the rest minus the median of its last third is within the tolerance as well."""
    n = smoothed.size
    if tolerance <= 0 or n == 0:
        return None
    allowed = tolerance * abs(best_level)
    candidates = np.flatnonzero(smoothed <= best_level + allowed)
    # Each check takes medians of the rest; on 10k-evaluation curves, checking every candidate after a failed one
    # could cost seconds, so at most ~256 evenly spaced candidates are checked (the first always).
    for position in candidates[:: max(1, candidates.size // 256)].tolist():
        if n - 1 - position < min_tail:
            return None
        if values is None:
            return position
        rest = values[position:]
        third = max(2, rest.size // 3)
        if float(median(rest[:third])) - float(median(rest[-third:])) <= allowed:
            return position
    return None


def _finite_curve_stop(x: np.ndarray, direction: str, p: DefaultStop) -> StopDecision:
    index = np.flatnonzero(np.isfinite(x))
    if index.size == 0:
        return StopDecision(None, None, "default", "no finite evaluation")
    v = x[index] if direction == "min" else -x[index]
    n = v.size
    if n < p.min_points:
        lowest = int(index[np.argmin(v)])
        return StopDecision(lowest, None, "default", f"only {n} finite evaluations", rest_index=lowest)
    window = p.smooth_window or max(5, int(round(n * p.smooth_fraction)))
    window += 1 - window % 2
    smoothed = rolling_median(v, window)
    # At the start the centered window shrinks symmetrically (2i+1 points at index i; the first two points for
    # index 0, so one evaluation alone never sets the level): a run that is best at its first evaluations and worse
    # ever after must not have that start voted away by the later points.
    for i in range(min(window // 2, n)):
        smoothed[i] = median(v[:max(2 * i + 1, 2)])
    best = int(np.argmin(smoothed))
    best_level = float(smoothed[best])
    # The evaluation to keep: the lowest raw one inside the smoothing window around the smoothed minimum. A lucky
    # evaluation elsewhere cannot move it, and a sharp V bottom (where a median is pulled up) is not missed.
    half = window // 2
    lo, hi = max(0, best - half), min(n, best + half + 1)
    best_pos = lo + int(np.argmin(v[lo:hi]))
    best_eval = int(index[best_pos])
    # Where training should have stopped: at the evaluation to keep (../shared/VERDICTS.md: "at the best step before
    # it (what restore-best keeps)"). Until 0.2 it was the later of that and the smoothed minimum; stopping at the
    # kept evaluation lowered the fine-tune sweep's mean test regret 0.0105 -> 0.0102 and saved more on the
    # synthetic and fixture corpora (benchmarks/README.md). So `rest_index` below is `best_eval`.
    evidence = max(3, window // 2 + 1)

    def no_stop(reason: str) -> StopDecision:
        # No rise to stop for; the run may still have converged long before its end.
        min_tail = max(evidence, int(math.ceil(p.min_converged_tail * n)))
        position = converged_position(smoothed, best_level, p.converged_tolerance, min_tail, v)
        if position is None:
            return StopDecision(best_eval, None, "default", reason, rest_index=best_eval, no_rise=reason)
        # The stop itself goes to the lowest evaluation within half a smoothing window after the convergence point:
        # the smoothed curve says when the run converged, the evaluations say which checkpoint there is good (a
        # noisy-high one was kept 0.4-12% worse than its neighbours on 7 of 120 fine-tune sweep runs).
        reach = min(position + half, n - 1 - min_tail)
        stop_pos = position + int(np.argmin(v[position:max(position, reach) + 1]))
        kept = best_until(x, int(index[stop_pos]), direction)
        gain = float(smoothed[position]) - best_level
        return StopDecision(kept, int(index[stop_pos]), "default",
                            f"converged: from evaluation {int(index[position])} on, the rest of the run improved the "
                            f"smoothed metric by at most {gain:.4g} "
                            f"({gain / abs(best_level) if best_level else 0.0:.2%} of "
                            f"its best), within the {p.converged_tolerance:.2%} tolerance", rest_index=best_eval,
                            trigger="converged", no_rise=reason)

    # Three robust estimates, the largest wins: second differences ignore the trend but scatter a lot on a few
    # dozen points, residuals about the smoothed curve scatter less (see _residual_sigma), and the tail's own
    # estimate covers noise that grows during training. Overestimating only makes a stop rarer.
    sigma = max(_finite_or_zero(noise_sigma(v, order=2)), _residual_sigma(v, smoothed, window),
                _finite_or_zero(noise_sigma(v[best:], order=2)))
    threshold = max(p.k_sigma * sigma, p.min_relative_rise * abs(best_level), 1e-12)
    tail = n - best - 1
    if tail < evidence:
        return no_stop("the smoothed best is at the end of the run")
    end_points = max(evidence, tail // 3)
    end_rise = float(median(v[n - end_points:])) - best_level
    if end_rise <= threshold:
        return no_stop(f"the end is within {p.k_sigma:g} noise sigmas of the best (rise {end_rise:.4g})")
    # A long enough tail must also rank as rising (Mann-Kendall, 5%): two noisy lumps are not a trend.
    if tail >= 8 and mann_kendall(v[best:]).trend != "increasing":
        return no_stop("no significant upward trend after the best")
    # Trailing medians of `evidence` points that lie wholly after the best.
    trailing = trailing_median(v, evidence)[best + evidence:n] - best_level
    above = trailing > threshold
    never_back = np.flip(np.minimum.accumulate(np.flip(trailing))) > threshold / 2.0
    hits = np.flatnonzero(above & never_back)
    if hits.size == 0:
        return no_stop("the rise after the best is not sustained")
    evident = int(index[best + evidence + int(hits[0])])
    # The rise only proves, after the fact, that the minimum was the place to stop; an offline reader has the whole
    # curve, so the stop is placed at the minimum, not where the rise became evident (that is what an online
    # callback has to wait for).
    return StopDecision(best_eval, best_eval, "default",
                        f"rose {trailing[hits[0]]:.4g} (> {threshold:.4g}, {p.k_sigma:g} noise sigmas) above the "
                        f"smoothed best, evident from evaluation {evident}, and stayed up to the end",
                        rest_index=best_eval, evident_index=evident, trigger="rise")


def best_until(values: np.ndarray, stop: int | None, direction: str) -> int | None:
    """Index of the best finite value up to and including `stop` (what restore-best-weights would keep)."""
    x = np.asarray(values, dtype=np.float64)
    part = x if stop is None else x[:stop + 1]
    part = part if direction == "min" else -part
    if not np.isfinite(part).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(part), part, np.nan)))


class StopStrategy(Protocol):
    """What every strategy is: its parameters set once, as keywords, then `decide` on one monitored metric.

    `steps`/`values` are the monitored metric's evaluations in logged order; `train_steps`/`train_values` the
    training loss (only Prechelt's PQ uses it). `best_index` of the decision is the best evaluation up to the stop
    (what restoring the best checkpoint would keep)."""

    @property
    def name(self) -> str: ...  # the strategy's name in the configuration and in `StopDecision.strategy`

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision: ...


def _checked(steps: np.ndarray, values: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    _check_direction(direction)
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(steps, dtype=np.int64)
    if s.shape != x.shape:
        raise ValueError(f"steps and values differ in length: {s.size} vs {x.size}")
    return s, x


@dataclass(frozen=True, kw_only=True)
class DefaultStop:
    """losslint's own strategy: smooth the evaluations with a centered rolling median, take the smoothed best; a
    stop is due when a trailing median has risen more than `k_sigma` noise sigmas (robust) above that best *and*
    never fell back to within half of that until the end (with a significant Mann-Kendall rise on 8+ evaluations),
    or when the metric turns non-finite for good; it is then placed at the smoothed best (`rest_index`: the lowest
    evaluation within the smoothing window around the smoothed minimum, the one restore-best keeps), before any
    non-finite evaluation (trigger "rise" or
    "non-finite"). Without either, a run that converged gets its stop where the smoothed curve first came within
    `converged_tolerance` of its best (trigger "converged"; best_index is then the best evaluation up to the stop,
    what restore-best would keep); a run still improving at its end gets none (stop_index None)."""

    name: ClassVar[str] = "default"
    # None: ~`smooth_fraction` of the run. Eval curves are short and noisy; a centered median over ~1/15 of the run
    # (at least 5 points) keeps the minimum where it is (an EMA would lag it) and ignores one or two lucky or
    # unlucky evaluations.
    smooth_window: int | None = None
    smooth_fraction: float = 1.0 / 15.0
    # Three robust noise sigmas: a flat tail passes it by chance about once in a few hundred windows, and the
    # rise must also hold until the end of the run.
    k_sigma: float = 3.0
    # Rises under 0.5% of the best value are immaterial even on noise-free curves.
    min_relative_rise: float = 0.005
    # The noise estimates are medians of a handful of differences below 8 evaluations; a stop would be a guess.
    min_points: int = 8
    # A run whose smoothed curve never again improved by more than 1% of its best value had converged: the steps
    # after that bought less than the 1% regret bar benchmarks/quality.py reports (its "regret<=1%" column), the
    # precision a single evaluation pass typically resolves. Patience callbacks stop on *any* non-improvement
    # (HF/Keras/Lightning min_delta 0) and pay for it on slow descents (HF patience 1: regret 0.59 on real good fits);
    # sklearn's MLP calls training converged once the loss stops improving by `tol` for 10 iterations. 0 disables.
    converged_tolerance: float = 0.01
    # ...and only when that saves at least a tenth of the evaluations: a stop one or two evaluations before the end
    # is not worth a recommendation.
    min_converged_tail: float = 0.1

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision:
        _, x = _checked(steps, values, direction)
        broke_at = _nonfinite_tail_start(x)
        if broke_at is None:
            return _finite_curve_stop(x, direction, self)
        # The run broke (non-finite to the end): everything from there on is wasted whatever the curve did before,
        # so a stop is due in any case; it goes where the curve was best before the break (the smoothed minimum, as
        # for a sustained rise), never at or after the first non-finite evaluation. A convergence before the break
        # is not looked for: the break, not the plateau, is what the stop is about.
        before = _finite_curve_stop(x[:broke_at], direction,
                                    replace(self, converged_tolerance=0.0, min_converged_tail=1.0))
        if before.stop_index is not None:
            return StopDecision(before.best_index, before.stop_index, "default",
                                f"{before.reason}; the metric turned non-finite at evaluation {broke_at} and stayed "
                                f"so", rest_index=before.rest_index, evident_index=before.evident_index,
                                trigger="non-finite")
        stop = before.rest_index if before.rest_index is not None else before.best_index
        return StopDecision(before.best_index, stop, "default",
                            f"the metric turned non-finite at evaluation {broke_at} and stayed so; stop at the best "
                            f"evaluation before it", rest_index=before.rest_index, trigger="non-finite")


PatienceMode = Literal["hf", "keras", "lightning", "relative"]


@dataclass(frozen=True, kw_only=True)
class PatienceStop:
    """A library's patience callback replayed exactly (see `patience_stop`); its `mode` is also its name."""

    mode: PatienceMode = "hf"
    patience: int = 3
    min_delta: float = 0.0

    @property
    def name(self) -> str:
        return self.mode

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision:
        _, x = _checked(steps, values, direction)
        stop = patience_stop(x, self.patience, min_delta=self.min_delta, mode=self.mode, direction=direction)
        return StopDecision(best_until(x, stop, direction), stop, self.mode)


@dataclass(frozen=True, kw_only=True)
class PrecheltGL:
    """Prechelt's GL_alpha (see `prechelt_gl`)."""

    name: ClassVar[str] = "gl"
    alpha: float = 5.0

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision:
        _, x = _checked(steps, values, direction)
        stop = prechelt_gl(x, self.alpha, direction)
        return StopDecision(best_until(x, stop, direction), stop, self.name)


@dataclass(frozen=True, kw_only=True)
class PrecheltPQ:
    """Prechelt's PQ_alpha (see `prechelt_pq`); needs the training loss."""

    name: ClassVar[str] = "pq"
    alpha: float = 0.5
    strip: int = 5

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision:
        s, x = _checked(steps, values, direction)
        if train_steps is None or train_values is None:
            raise ValueError("strategy 'pq' needs train_steps and train_values")
        stop = prechelt_pq(x, train_steps, train_values, s, self.alpha, self.strip, direction)
        return StopDecision(best_until(x, stop, direction), stop, self.name)


@dataclass(frozen=True, kw_only=True)
class PrecheltUP:
    """Prechelt's UP_s (see `prechelt_up`)."""

    name: ClassVar[str] = "up"
    s: int = 3
    strip: int = 5

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               train_steps: np.ndarray | None = None, train_values: np.ndarray | None = None) -> StopDecision:
        _, x = _checked(steps, values, direction)
        stop = prechelt_up(x, self.s, self.strip, direction)
        return StopDecision(best_until(x, stop, direction), stop, self.name)


BASELINES = ("hf_patience_1", "hf_patience_3", "hf_patience_5", "keras_patience_5", "lightning_patience_3",
             "prechelt_gl5", "prechelt_pq0.5", "prechelt_up3")


def baseline_stops(steps: np.ndarray, values: np.ndarray, direction: str = "min", train_steps: np.ndarray | None = None,
                   train_values: np.ndarray | None = None) -> dict[str, int | None]:
    """Stop index for every baseline in BASELINES (None: never stops; prechelt_pq0.5 is None without training data).

    All with the libraries' default deltas (0) and Prechelt's strip length k=5.
    """
    _check_direction(direction)
    x = np.asarray(values, dtype=np.float64)
    out: dict[str, int | None] = {
        "hf_patience_1": patience_stop(x, 1, mode="hf", direction=direction),
        "hf_patience_3": patience_stop(x, 3, mode="hf", direction=direction),
        "hf_patience_5": patience_stop(x, 5, mode="hf", direction=direction),
        "keras_patience_5": patience_stop(x, 5, mode="keras", direction=direction),
        "lightning_patience_3": patience_stop(x, 3, mode="lightning", direction=direction),
        "prechelt_gl5": prechelt_gl(x, 5.0, direction),
        "prechelt_pq0.5": None,
        "prechelt_up3": prechelt_up(x, 3, 5, direction),
    }
    if train_steps is not None and train_values is not None:
        out["prechelt_pq0.5"] = prechelt_pq(x, train_steps, train_values, steps, 0.5, 5, direction)
    return out


def saved_fraction(steps: np.ndarray, stop_index: int | None, span: tuple[int, int] | None = None) -> float:
    """Share of the run's steps after the stop step: (last - stop) / (last - first); 0 when no stop.

    `span` is the run's (first, last) step, over all its metrics; without it the evaluations' own first and last
    step stand in, which overstates the share: a 5,000-step run stopped at its first evaluation (step 1,000) saves
    80% of its steps, not 100%."""
    s = np.asarray(steps, dtype=np.int64)
    if stop_index is None or s.size < 1 or (span is None and s.size < 2):
        return 0.0
    first, last = (int(s[0]), int(s[-1])) if span is None else (int(span[0]), int(span[1]))
    if last <= first:
        return 0.0
    return float(min(max((last - int(s[stop_index])) / (last - first), 0.0), 1.0))
