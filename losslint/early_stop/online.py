"""The online stop: the causal version of the default strategy, for a run that is still training.

`DefaultStop` reads the whole curve after the fact and puts the stop at the smoothed minimum. A callback cannot
see the future: it is fed the evaluations one at a time and must decide, at each one, from the evaluations seen so
far. `OnlineStop` says "stop" at evaluation t only when the rise is certain on evaluations 0..t:

- `DefaultStop` applied to that prefix finds a stop due for a *sustained rise* (trigger "rise": a trailing median of
  its evidence window, after the smoothed best, more than `k_sigma` robust noise sigmas and `min_relative_rise`
  above the best level and never back below half of that, the latest evaluations as far up, and a significant
  Mann-Kendall rise on a tail of 8+), or for a *break* (trigger "non-finite", see `nonfinite_evals`);
- and the evidence is confirmed: the smoothed best lies at least `confirm_evals` evaluations behind the latest one
  (the prefix's centred smoothing window is truncated at its end, so a best one or two evaluations back is not yet
  a best), and the median of the latest `confirm_evals` evaluations is above the best level by the strategy's
  margin (`k_sigma` noise sigmas, at least `min_relative_rise`).

The decision names the step to restore: the best evaluation near the smoothed minimum of the prefix (what the
offline strategy calls `best_index`). The price of being causal is the wait for the evidence: the evaluations
between the best and the stop are trained for nothing (compute), and a stop that comes too early on a noisy
curve loses what a later minimum would have given (regret). `benchmarks/quality.py` measures both next to the
offline recommendation and the patience callbacks ("losslint online"; benchmarks/results/online-stop-*.txt).

A convergence stop ("converged": the curve flattened) is never taken online: on a prefix, "no better since"
cannot be told from "still improving slowly", and stopping a healthy run is the costly mistake (the offline
strategy calls a run converged only when a tenth of the run *after* that point confirms it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..analysis.noise import noise_sigma
from ..metrics import direction_or_min
from ..view import RunView
from .policy import monitored_series
from .strategies import DefaultStop


@dataclass(frozen=True)
class OnlineDecision:
    """What the online stop says after one evaluation."""

    stop: bool  # stop training now
    best_index: int | None  # the evaluation to restore (position in the evaluations seen so far)
    best_step: int | None  # its step
    index: int  # the position of the latest evaluation (where training stops when `stop`)
    trigger: str | None = None  # "rise" or "non-finite" when `stop`
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class OnlineStop:
    """The default strategy, causal: `decide(steps, values, direction)` on the evaluations seen so far says
    whether to stop now and which step to restore; `replay(...)` feeds a finished curve one evaluation at a time
    and returns the first stop (what a callback would have done)."""

    name: ClassVar[str] = "online"
    # No decision before this many evaluations: the default strategy itself needs 8 (`DefaultStop.min_points`; its
    # noise estimates are medians of a handful of differences below that), so 8 is the earliest a stop can come.
    min_evals: int = 8
    # The smoothed best must lie this many evaluations behind the latest, and the median of the latest this many
    # must sit above the best level by the margin. 3 is the default strategy's smallest evidence window (its
    # `max(3, window // 2 + 1)`): a median of 3 ignores one freak evaluation. It is nearly free because the
    # strategy's own rise test already waits for that much: on the synthetic corpus (quality.py, 50 per label)
    # confirm_evals 1, 2 and 3 give the same stops but on one run (mean regret 0.294 / 0.294 / 0.298, saved 11.9%),
    # while 5 leaves blow-ups deeper (mean regret 2.22, saved 11.0%).
    confirm_evals: int = 3
    # A non-finite evaluation stops only when this many in a row are non-finite: the offline strategy calls an
    # isolated NaN followed by finite values no break, and waiting for a second costs one evaluation interval of a
    # run that is most likely lost (Lightning's `check_finite` stops at the first; that is `nonfinite_evals=1`).
    nonfinite_evals: int = 2
    # The offline strategy applied to each prefix, with its own defaults (see DefaultStop): its `k_sigma` and
    # `min_relative_rise` are also the confirmation margin. Its convergence stop is not used online.
    strategy: DefaultStop = field(default_factory=DefaultStop)

    def decide(self, steps: np.ndarray, values: np.ndarray, direction: str = "min") -> OnlineDecision:
        """The decision after the last of `values` (the monitored metric's evaluations so far, in logged order)."""
        s = np.asarray(steps, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64)
        if s.shape != x.shape:
            raise ValueError(f"steps and values differ in length: {s.size} vs {x.size}")
        n = x.size
        latest = n - 1
        if n == 0:
            return OnlineDecision(False, None, None, -1, reason="no evaluation yet")
        sign = -1.0 if direction == "max" else 1.0
        finite = np.isfinite(x)
        run_of_nonfinite = n - 1 - int(np.flatnonzero(finite)[-1]) if finite.any() else n
        if run_of_nonfinite >= self.nonfinite_evals and finite.any():
            best = _best_finite(x, direction)
            return OnlineDecision(True, best, _step(s, best), latest, "non-finite",
                                  f"the metric has been non-finite for the last {run_of_nonfinite} evaluations")
        if not finite[-1]:
            return OnlineDecision(False, _best_finite(x, direction), _step(s, _best_finite(x, direction)), latest,
                                  reason="the latest evaluation is non-finite; waiting for the next")
        if n < self.min_evals:
            best = _best_finite(x, direction)
            return OnlineDecision(False, best, _step(s, best), latest, reason=f"only {n} evaluations")
        # The prefix without trailing non-finite values is what the strategy judges as a curve (an isolated NaN
        # inside it is skipped there as offline).
        offline = self.strategy.decide(s, x, direction)
        best = offline.best_index if offline.best_index is not None else _best_finite(x, direction)
        if offline.trigger != "rise" or offline.rest_index is None:
            return OnlineDecision(False, best, _step(s, best), latest,
                                  reason=offline.no_rise or offline.reason or "no sustained rise")
        confirmed, why = self._confirmed(x, int(offline.rest_index), sign)
        if not confirmed:
            return OnlineDecision(False, best, _step(s, best), latest, reason=why)
        return OnlineDecision(True, best, _step(s, best), latest, "rise",
                              f"{offline.reason}; confirmed: {why}")

    def _confirmed(self, x: np.ndarray, rest: int, sign: float) -> tuple[bool, str]:
        n = x.size
        behind = n - 1 - rest
        if behind < self.confirm_evals:
            return False, f"the smoothed best is only {behind} evaluation(s) behind"
        v = sign * x
        finite_v = v[np.isfinite(v)]
        window = max(5, int(round(finite_v.size * self.strategy.smooth_fraction)))
        lo, hi = max(0, rest - window // 2), min(n, rest + window // 2 + 1)
        part = v[lo:hi]
        part = part[np.isfinite(part)]
        level = float(np.median(part)) if part.size else float(v[rest])
        sigma = noise_sigma(finite_v, order=2)
        sigma = float(sigma) if math.isfinite(sigma) else 0.0
        margin = max(self.strategy.k_sigma * sigma, self.strategy.min_relative_rise * abs(level), 1e-12)
        recent = v[-self.confirm_evals:]
        recent = recent[np.isfinite(recent)]
        if recent.size == 0:
            return False, "no finite recent evaluation"
        rise = float(np.median(recent)) - level
        if rise <= margin:
            return False, f"the latest {self.confirm_evals} evaluations are within the margin of the best"
        return True, (f"the best is {behind} evaluations behind and the latest {self.confirm_evals} sit {rise:.4g} "
                      f"above it (margin {margin:.4g})")

    def replay(self, steps: np.ndarray, values: np.ndarray, direction: str = "min", *,
               every: int = 1) -> OnlineDecision:
        """Feed a finished curve one evaluation at a time (a decision every `every` evaluations, and always at the
        last); the first stop, else the decision at the end (`stop` False)."""
        s = np.asarray(steps, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64)
        n = x.size
        last = OnlineDecision(False, None, None, n - 1, reason="no evaluation")
        start = max(1, min(self.min_evals, n))
        for end in range(start, n + 1):
            if (end - start) % max(1, every) and end != n:
                continue
            last = self.decide(s[:end], x[:end], direction)
            if last.stop:
                return last
        return last

    def decide_run(self, view: RunView, monitor: str | None = None) -> tuple[str | None, OnlineDecision]:
        """The decision on a run read so far: (the monitored metric, the decision); the metric is chosen as the
        offline stop chooses it (`monitored_series`: the monitor, else the validation loss, else a task metric)."""
        series = monitored_series(view, view.monitor if monitor is None else monitor)
        if series is None:
            return None, OnlineDecision(False, None, None, -1, reason="no monitored evaluation yet")
        return series.metric, self.decide(series.all_steps, series.all_values, direction_or_min(series.metric))


def _best_finite(x: np.ndarray, direction: str) -> int | None:
    finite = np.isfinite(x)
    if not finite.any():
        return None
    y = np.where(finite, x if direction == "min" else -x, np.inf)
    return int(np.argmin(y))


def _step(steps: np.ndarray, index: int | None) -> int | None:
    return None if index is None else int(steps[index])
