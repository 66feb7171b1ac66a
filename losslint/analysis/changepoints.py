"""Change points of a training curve: where its level or slope changes, found with PELT on a bounded series.

The search is ruptures' PELT (Killick et al. 2012), run here on the linear-trend cost: `_pelt` is a line-for-line
port of `ruptures.Pelt._seg` (ruptures 1.1.10, same candidates, pruning and tie-breaking; the tests compare both on
random series), because importing ruptures imports scipy.stats, ~0.8 s of a 2 s `losslint check` budget. The "l2"
model still runs ruptures' KernelCPD, imported when used.

A long series is first averaged into at most `max_points` equal-count buckets (`bucket_mean`), so a 1M-point
curve costs the same as a 2000-point one. The segment model is a straight line per segment (level + slope):
training curves are trends, and a piecewise-constant model would cut every smooth descent into stairs. The
penalty is BIC-like and scaled by the estimated noise of the bucketed series,
``pen = penalty_scale * sigma^2 * log(n)``, so the same curve with more noise needs a bigger change to count.

Breaks that only mark a smooth bend without a jump -- a descent slowing down or levelling off, the normal shape of
every training curve -- are dropped unless `keep_decelerations=True`; what remains are upturns (the slope changes
sign), jumps (a level shift larger than the fits' errors and misfit) and descents (or rises) out of a plateau.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import floor
from typing import Callable

import numpy as np

from .noise import noise_sigma
from .smoothing import bucket_mean


@dataclass(frozen=True)
class Segment:
    start_step: int
    end_step: int
    mean: float
    slope: float  # least-squares slope per step within the segment


@dataclass(frozen=True)
class ChangePoints:
    steps: list[int] = field(default_factory=list)  # first step of each new segment
    segments: list[Segment] = field(default_factory=list)


# |end residual| / RMS residual of the least-squares line through t^2 on [-1, 1]: (2/3) / sqrt(4/45).
_CHORD_END_ERROR = 2.24


class _PrefixSums:
    """O(1) least-squares line fits of any slice [a, b) from prefix sums of 1, t, t^2, y, ty, y^2."""

    def __init__(self, t: np.ndarray, y: np.ndarray):
        # Centering keeps the prefix sums small, so the subtractions below lose no precision on long segments.
        self.t_shift = float(t.mean()) if t.size else 0.0
        self.t_scale = float(np.ptp(t)) or 1.0
        self.y_shift = float(y.mean()) if y.size else 0.0
        tc = (t - self.t_shift) / self.t_scale
        self.tc = tc
        yc = y - self.y_shift
        zero = np.zeros(1)
        self.s1 = np.arange(t.size + 1, dtype=np.float64)
        self.st = np.concatenate([zero, np.cumsum(tc)])
        self.stt = np.concatenate([zero, np.cumsum(tc * tc)])
        self.sy = np.concatenate([zero, np.cumsum(yc)])
        self.sty = np.concatenate([zero, np.cumsum(tc * yc)])
        self.syy = np.concatenate([zero, np.cumsum(yc * yc)])
        # Plain lists: PELT calls fit() from Python, and list indexing beats numpy scalar indexing.
        self._lists = [a.tolist() for a in (self.s1, self.st, self.stt, self.sy, self.sty, self.syy)]

    def fit(self, a: int, b: int) -> tuple[float, float, float]:
        """(slope per centered/scaled t, intercept at t_center, residual sum of squares) of slice [a, b)."""
        s1, st, stt, sy, sty, syy = self._lists
        n = s1[b] - s1[a]
        t_sum, tt_sum = st[b] - st[a], stt[b] - stt[a]
        y_sum, ty_sum, yy_sum = sy[b] - sy[a], sty[b] - sty[a], syy[b] - syy[a]
        sxx = tt_sum - t_sum * t_sum / n
        sxy = ty_sum - t_sum * y_sum / n
        syy_c = yy_sum - y_sum * y_sum / n
        slope = sxy / sxx if sxx > 1e-300 else 0.0
        rss = syy_c - slope * sxy
        return slope, y_sum / n - slope * t_sum / n, max(rss, 0.0)


def _pelt(error: Callable[[int, int], float], n_samples: int, pen: float, min_size: int, jump: int) -> list[int]:
    """Segment ends (the last one = n_samples) of the penalised optimal partition: ruptures.Pelt._seg + predict.

    The same recursion as ruptures: candidate ends every `jump` points, admissible starts trimmed when their cost
    exceeds the best one by more than `pen`. A partition's cost is kept as the running sum ruptures computes with
    `sum(partition.values())` (same order of additions, so the same floats), with a back-pointer instead of a dict.
    """
    if min_size > n_samples:  # ruptures.utils.sanity_check with no breakpoint
        raise ValueError(f"a segment of {min_size} points does not fit in {n_samples}")
    total: dict[int, float] = {0: 0}  # partition of [0, t) -> its penalised cost
    previous_end: dict[int, int] = {}
    admissible: list[int] = []
    ends = [k for k in range(0, n_samples, jump) if k >= min_size] + [n_samples]
    for end in ends:
        admissible.append(floor((end - min_size) / jump) * jump)
        candidates = []  # (start, cost); starts without a partition are skipped, as ruptures' KeyError
        for start in admissible:
            if start in total:
                candidates.append((start, total[start] + (error(start, end) + pen)))
        best_start, best_cost = min(candidates, key=lambda c: c[1])
        total[end] = best_cost
        previous_end[end] = best_start
        # ruptures zips the admissible starts with the candidates even when some were skipped; kept as is.
        admissible = [start for start, (_, cost) in zip(admissible, candidates) if cost <= best_cost + pen]
    bkps = []
    end = n_samples
    while end != 0:
        bkps.append(end)
        end = previous_end[end]
    return sorted(bkps)


class ChangePointDetector:
    """Penalised change-point search (PELT, as ruptures runs it) on a bucket-averaged copy of the series.

    Parameters
    ----------
    max_points: the series is averaged into at most this many buckets before the search (bounds the cost).
    min_size: shortest segment, in buckets (10: a line through fewer points takes noise for a slope).
    penalty_scale: multiplies ``sigma^2 * log(n)``; BIC (Schwarz 1978) charges ``sigma^2 * log(n)`` of residual
        sum of squares per parameter when the noise sigma is known, and a new line segment adds three (level, slope,
        location), so 3 is the default; larger finds fewer, bigger changes.
    model: "linear" (a line per segment, default) or "l2" (a constant per segment, ruptures' KernelCPD).
    jump: PELT tries a break every `jump` buckets (ruptures' subsampling: 10 keeps 2000 buckets at ~0.1 s);
        each break found is then moved to the best bucket within `jump`, so resolution stays one bucket.
    jump_sigmas: a level jump at a break counts when it exceeds this many standard errors of the two fits' ends
        and this many times their curvature misfit at the end.
    keep_decelerations: keep breaks where the curve merely bends (same direction, or levelling off) without a jump.
    """

    def __init__(self, max_points: int = 2000, min_size: int = 10, penalty_scale: float = 3.0, model: str = "linear",
                 jump: int = 10, jump_sigmas: float = 4.0, keep_decelerations: bool = False):
        if model not in ("linear", "l2"):
            raise ValueError(f"model must be 'linear' or 'l2', got {model!r}")
        self.max_points = max_points
        self.min_size = min_size
        self.penalty_scale = penalty_scale
        self.model = model
        self.jump = jump
        self.jump_sigmas = jump_sigmas
        self.keep_decelerations = keep_decelerations

    def fit(self, steps: np.ndarray, values: np.ndarray) -> ChangePoints:
        """Change points of the finite part of (steps, values); steps ascending."""
        bucket_steps, y = bucket_mean(steps, values, self.max_points)
        n = y.size
        if n < 2 * self.min_size:
            first_steps = self._first_steps(steps, values, bucket_steps)
            return ChangePoints([], self._segments(first_steps, bucket_steps, y, [n]))
        # Work on the series divided by its largest magnitude: the penalty squares sigma, which overflows for a
        # diverged loss near 1e300; the search itself is scale-free.
        scale = float(np.max(np.abs(y))) or 1.0
        work = y / scale
        sigma = noise_sigma(work, order=2)
        sigma = sigma if np.isfinite(sigma) else 0.0
        # Float32 logging and noise-free synthetic curves: changes under ~0.1% of the curve's range are not resolved.
        sigma = max(sigma, 1e-3 * float(np.ptp(work)), 1e-12)
        pen = self.penalty_scale * sigma * sigma * np.log(n)
        t = bucket_steps.astype(np.float64)
        if self.model == "l2":
            import ruptures  # imports scipy.stats (~0.8 s): only for this model

            algo = ruptures.KernelCPD(kernel="linear", min_size=self.min_size, jump=self.jump)
            ends = algo.fit(work.reshape(-1, 1)).predict(pen=pen)
        else:
            sums = _PrefixSums(t, work)
            ends = _pelt(lambda a, b: sums.fit(a, b)[2], n, pen, max(self.min_size, 3), self.jump)
        if self.model == "linear":
            ends = self._absorb_short_segments(sums, self._refine(sums, ends, self.jump), pen)
            if not self.keep_decelerations:
                ends = self._drop_decelerations(sums, ends, sigma)
        segments = self._segments(self._first_steps(steps, values, bucket_steps), bucket_steps, y, ends)
        return ChangePoints([seg.start_step for seg in segments[1:]], segments)

    @staticmethod
    def _first_steps(steps: np.ndarray, values: np.ndarray, bucket_steps: np.ndarray) -> np.ndarray:
        """First raw step of each bucket (bucket_mean labels a bucket by its last step)."""
        finite_steps = np.asarray(steps, dtype=np.int64)[np.isfinite(np.asarray(values, dtype=np.float64))]
        if bucket_steps.size == 0:
            return bucket_steps
        after_previous = np.searchsorted(finite_steps, bucket_steps[:-1], side="right")
        return np.concatenate([finite_steps[:1], finite_steps[after_previous]])

    def _refine(self, sums: _PrefixSums, ends: list[int], radius: int, only: range | None = None) -> list[int]:
        """Move each break (or those indexed by `only`) to the best position within `radius` of where it is.

        PELT only tries every `jump`-th point; a jump falling between two candidates is otherwise absorbed
        by a short steep segment.
        """
        ends = list(ends)
        min_size = max(self.min_size, 3)
        for k in only if only is not None else range(len(ends) - 1):
            if not 0 <= k < len(ends) - 1:
                continue
            a = ends[k - 1] if k > 0 else 0
            b = ends[k + 1]
            lo = max(a + min_size, ends[k] - radius)
            hi = min(b - min_size, ends[k] + radius)
            if lo > hi:
                continue
            ends[k] = min(range(lo, hi + 1), key=lambda m: sums.fit(a, m)[2] + sums.fit(m, b)[2])
        return ends

    def _absorb_short_segments(self, sums: _PrefixSums, ends: list[int], pen: float) -> list[int]:
        """Drop one border of a segment no longer than 2 * jump when the penalised cost says so.

        Removing a border and re-placing its two neighbours only changes the cost between the next borders out,
        so only that stretch is compared.
        """

        def stretch_cost(bkps: list[int], lo: int, hi: int) -> float:
            inner = [e for e in bkps if lo < e < hi]
            bounds = [lo] + inner + [hi]
            return sum(sums.fit(s, e)[2] for s, e in zip(bounds[:-1], bounds[1:])) + pen * len(inner)

        ends = list(ends)
        k = 0
        while k < len(ends):
            a = ends[k - 1] if k > 0 else 0
            b = ends[k]
            if b - a > 2 * self.jump:
                k += 1
                continue
            best, best_gain = None, 0.0
            for drop in (k - 1, k):
                if not 0 <= drop < len(ends) - 1:
                    continue
                lo = ends[drop - 2] if drop >= 2 else 0
                hi = ends[drop + 2] if drop + 2 < len(ends) else ends[-1]
                trial = self._refine(sums, ends[:drop] + ends[drop + 1:], self.jump + (b - a),
                                     only=range(drop - 1, drop + 1))
                gain = stretch_cost(ends, lo, hi) - stretch_cost(trial, lo, hi)
                if gain > best_gain:
                    best, best_gain = trial, gain
            if best is None:
                k += 1
            else:
                ends = best
                k = max(k - 1, 0)
        return ends

    def _drop_decelerations(self, sums: _PrefixSums, ends: list[int], sigma: float) -> list[int]:
        """Drop breaks where the curve keeps going the same way (or levels off) without a jump.

        Each break is judged once, against the two segments PELT put around it: judged after merging, a break
        would be compared with ever longer neighbours whose curvature misfit hides any jump.
        """
        starts = [0] + ends[:-1]
        kept = [m for k, m in enumerate(ends[:-1])
                if not self._is_deceleration(sums, starts[k], m, ends[k + 1], sigma)]
        return kept + [ends[-1]]

    def _is_deceleration(self, sums: _PrefixSums, a: int, m: int, b: int, sigma: float) -> bool:
        """True when the break at m is only the bend of a smooth curve: no jump, and the slope keeps its sign or
        goes to zero (a descent slowing down, or a descent turning into a plateau). Upturns (sign flips), jumps
        and a clear descent out of a plateau are real changes."""
        left_slope, left_icpt, left_rss = sums.fit(a, m)
        right_slope, right_icpt, right_rss = sums.fit(m, b)
        tc = sums.tc[m]  # where the right segment starts
        jump = (right_icpt + right_slope * tc) - (left_icpt + left_slope * tc)
        n_left, n_right = m - a, b - m
        # Endpoint of a least-squares line over n points has standard error ~ 2 sigma / sqrt(n).
        jump_se = 2.0 * sigma * np.sqrt(1.0 / n_left + 1.0 / n_right)
        # On a smooth bend a line per side misfits by the curvature, most at its ends: a line fitted to a parabola
        # is off at the ends by 2.24x its RMS misfit. A real jump also dwarfs that end error.
        misfit = max(np.sqrt(left_rss / max(n_left - 2, 1)), np.sqrt(right_rss / max(n_right - 2, 1)))
        if abs(jump) > self.jump_sigmas * jump_se and abs(jump) > self.jump_sigmas * _CHORD_END_ERROR * misfit:
            return False
        left_sign = self._slope_sign(sums, a, m, left_slope, max(sigma, misfit))
        right_sign = self._slope_sign(sums, m, b, right_slope, max(sigma, misfit))
        if right_sign == 0 or right_sign == left_sign:
            return True
        # A left slope indistinguishable from 0 on a short segment is "unknown", not "flat": only a right side
        # steeper than the left's own estimate is a descent (or rise) starting from a plateau.
        return left_sign == 0 and abs(right_slope) <= abs(left_slope)

    @staticmethod
    def _slope_sign(sums: _PrefixSums, a: int, b: int, slope: float, sigma: float) -> int:
        n = b - a
        t_sum, tt_sum = sums.st[b] - sums.st[a], sums.stt[b] - sums.stt[a]
        sxx = tt_sum - t_sum * t_sum / n
        se = sigma / np.sqrt(sxx) if sxx > 0 else np.inf
        return 0 if abs(slope) <= 3.0 * se else int(np.sign(slope))

    @staticmethod
    def _segments(first_steps: np.ndarray, bucket_steps: np.ndarray, y: np.ndarray, ends: list[int]) -> list[Segment]:
        segments = []
        start = 0
        t = bucket_steps.astype(np.float64)
        for end in ends:
            if end <= start:
                continue
            seg_t, seg_y = t[start:end], y[start:end]
            slope = float(np.polyfit(seg_t, seg_y, 1)[0]) if end - start >= 2 and np.ptp(seg_t) > 0 else 0.0
            segments.append(Segment(int(first_steps[start]), int(bucket_steps[end - 1]), float(seg_y.mean()), slope))
            start = end
        return segments
