"""Smoothing for noisy training curves: TensorBoard's debiased EMA, a robust rolling median, bucket averaging."""
from __future__ import annotations

from itertools import accumulate

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

# `ema` runs as a Python-level loop up to this many finite points, through scipy.signal's lfilter above it
EMA_LOOP_MAX = 100_000


_MEDIAN_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))  # np.mean sums float16 in float32: not these


def median(values: np.ndarray) -> np.floating:
    """Exactly `np.median` of a 1-D array, without its fixed cost (~10 us: axis handling, NaN check, a mean of the
    two middle values) on the short arrays a small run is made of: the middle value after np.median's own partition,
    or (a + b) / 2 of the two middle ones, which is what its mean of two computes; NaN if any value is NaN."""
    a = np.asarray(values)
    n = a.size
    if n == 0 or a.ndim != 1 or a.dtype not in _MEDIAN_DTYPES:
        return np.median(a)
    m = n // 2
    # the same partition as np.median's (so that of -0.0 and 0.0 the same one is picked), the maximum last
    part = np.partition(a, [m - 1, m, -1] if n % 2 == 0 else [m, -1])
    if part[-1] != part[-1]:  # NaN sorts last
        return part[-1]
    # np.median's mean starts its sum at 0.0 (so a median of -0.0 is 0.0)
    return (0.0 + part[m]) / 1 if n % 2 else (0.0 + part[m - 1] + part[m]) / 2


def ema(values: np.ndarray, weight: float = 0.6) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (its scalar-chart "Smoothing" slider, default 0.6).

    Same recurrence as TensorBoard's line chart (tensorboard/components/vz_line_chart2/line-chart.ts):
    ``last = last * weight + (1 - weight) * x``; the output is ``last / (1 - weight ** n)`` where n counts the
    finite points seen so far. Like TensorBoard, non-finite points do not enter the average; they keep their
    own value in the output so that a NaN or inf stays visible where it was logged, and a constant series is
    returned unchanged.
    """
    x = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"ema weight must be in [0, 1), got {weight}")
    out = x.copy()
    finite = np.isfinite(x)
    xf = x[finite]
    # TensorBoard returns a constant series as is (its issue #786: no rounding wobble on a flat line).
    if xf.size == 0 or weight == 0.0 or np.all(x == x[0]):
        return out
    # The recurrence is a first-order IIR filter. Up to EMA_LOOP_MAX points (every curve a report draws: they are
    # cut to a few thousand points first) it runs as `itertools.accumulate`, TensorBoard's loop with the same
    # float operations: ~0.1 us a point, where importing scipy.signal (it imports scipy.stats) costs ~0.9 s in each
    # report worker. Longer series go through scipy's lfilter in C (1M points in milliseconds).
    if xf.size <= EMA_LOOP_MAX:
        keep = 1.0 - weight
        biased = np.fromiter(accumulate(xf.tolist(), lambda last, v: last * weight + keep * v, initial=0.0),
                             dtype=np.float64, count=xf.size + 1)[1:]
    else:
        from scipy.signal import lfilter

        biased = lfilter([1.0 - weight], [1.0, -weight], xf)
    n_seen = np.arange(1, xf.size + 1, dtype=np.float64)
    debias = -np.expm1(n_seen * np.log(weight))  # 1 - weight**n without cancellation for weight near 1
    out[finite] = biased / debias
    return out


# Up to this many points `rolling_median` sorts/partitions every window with numpy (no pandas objects, no masked
# arrays: ~50 us for a 300-point series); longer series use pandas' C skip list, O(n log window) without an
# n x window matrix. Both are exact, so they return the same numbers (tests/test_analysis_smoothing.py).
ROLLING_NUMPY_MAX = 20_000
# Up to this many window cells (points x window) every window, edges and gaps included, is one row of a single
# `window_nanmedian` sort: a 300-point series then costs one handful of numpy calls instead of three passes (inner
# windows, edge windows, windows with a gap), which is what a sweep of small runs spends its time on.
ROLLING_ONE_SORT_CELLS = 1 << 16


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median over `window` points, ignoring non-finite values.

    An even window is widened by one so that it stays centered (no lag). Near the ends the window shrinks to the
    points that exist, so the output has the input's length. A point whose whole window is non-finite gets NaN.
    Each output is exactly `np.nanmedian` of its window (the mean of the two middle values when the finite values
    of a shrunk window are even in number).
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    window = int(window)
    if window < 1:
        raise ValueError(f"rolling_median window must be >= 1, got {window}")
    half = window // 2
    bad = ~np.isfinite(x)
    clean = np.where(bad, np.nan, x) if bad.any() else x  # `clean is x`: every value finite
    if n == 0 or half == 0:
        return clean.copy() if clean is x else clean
    span = 2 * half + 1
    if n * span <= ROLLING_ONE_SORT_CELLS:  # short series: every window in one sort (the same medians, fewer calls)
        index = np.arange(n)
        return window_nanmedian(clean, np.maximum(index - half, 0), np.minimum(index + half + 1, n))
    # Windows touching a non-finite value or an edge need the NaN-aware median; all others (almost every point
    # of a long series) hold `span` finite values, whose median is the middle one.
    if n <= ROLLING_NUMPY_MAX:
        out = np.full(n, np.nan)
        if n >= span:
            inner = np.partition(sliding_window_view(clean, span), half, axis=1)[:, half]
            out[half:n - half] = inner  # NaN where a window holds a non-finite value: redone below
    else:
        out = pd.Series(np.where(bad, 0.0, x)).rolling(span, center=True).median().to_numpy(copy=True)
    if clean is x or n <= 2 * half:  # no non-finite value (or only edge windows): the edges are the slow windows
        slow = np.arange(n) if n <= 2 * half else np.r_[0:half, n - half:n]
    else:
        index = np.arange(n)
        touches_bad = (index < half) | (index >= n - half)
        bad_before = np.concatenate([[0], np.cumsum(bad)])
        lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, n)
        touches_bad |= (bad_before[hi] - bad_before[lo]) > 0
        slow = np.flatnonzero(touches_bad)
    if slow.size:
        out[slow] = window_nanmedian(clean, np.maximum(slow - half, 0), np.minimum(slow + half + 1, n))
    return out


def window_nanmedian(clean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`np.nanmedian(clean[lo[i]:hi[i]])` for every i (NaN for a window without a finite value), all at once.

    `clean` holds NaN wherever a value is not finite. Windows are laid out as rows padded with NaN and sorted (NaN
    sorts last); the median of k finite values is the mean of the sorted values at (k-1)//2 and k//2, computed as
    numpy's median does ((a + b) / 2, and a itself when k is odd).
    """
    m = len(lo)
    if m == 0:
        return np.zeros(0)
    width = int((hi - lo).max())
    # rows at a time so that the padded matrix stays at ~4M values (32 MiB) whatever the window
    step = max(1, _NANMEDIAN_CELLS // width)
    if m > step:
        return np.concatenate([window_nanmedian(clean, lo[i:i + step], hi[i:i + step]) for i in range(0, m, step)])
    n = len(clean)
    # a short window is padded with the NaN at position n, which sorts last
    where = lo[:, None] + np.arange(width)
    where[where >= hi[:, None]] = n
    rows = np.append(clean, np.nan)[where]
    rows.sort(axis=1)
    finite_before = np.concatenate(([0], np.cumsum(np.isfinite(clean))))
    k = finite_before[hi] - finite_before[lo]  # the finite values of each window
    pick = np.arange(m)
    a = rows[pick, np.maximum(k - 1, 0) // 2]
    b = rows[pick, np.maximum(k, 1) // 2]
    with np.errstate(over="ignore"):
        out = np.where(k % 2 == 1, a, (a + b) / 2)
    out[k == 0] = np.nan
    return out


_NANMEDIAN_CELLS = 1 << 22


def trailing_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the `window` values ending at each index (NaN for the first window - 1 indices, and for a window
    holding a non-finite value): exactly `np.median(values[i - window + 1:i + 1])`, in O(n log window).

    pandas' rolling median keeps a sorted skip list of the window and takes its middle value, or the mean of the two
    middle values for an even window, as np.median does; a Python loop of np.median calls costs ~40 us per point.
    """
    x = np.asarray(values, dtype=np.float64)
    window = int(window)
    if window < 1:
        raise ValueError(f"trailing_median window must be >= 1, got {window}")
    finite = np.isfinite(x)
    n = x.size
    if n * window <= ROLLING_ONE_SORT_CELLS:  # short series: every window in one sort, no pandas objects
        out = np.full(n, np.nan)
        if n >= window:
            end = np.arange(window, n + 1)
            out[window - 1:] = window_nanmedian(np.where(finite, x, 0.0), end - window, end)
    else:
        out = pd.Series(np.where(finite, x, 0.0)).rolling(window).median().to_numpy(copy=True)
    if not finite.all():
        bad_before = np.concatenate([[0], np.cumsum(~finite)])
        index = np.arange(x.size)
        touches_bad = bad_before[index + 1] - bad_before[np.maximum(index + 1 - window, 0)] > 0
        out[touches_bad] = np.nan
    out += 0.0  # a median of zeros is 0.0, as np.median gives it (which zero pandas' skip list keeps is its own)
    return out


def bucket_mean(steps: np.ndarray, values: np.ndarray, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Average a series into at most `max_points` equal-count buckets (non-finite values ignored).

    Returns (bucket steps, bucket means); a bucket's step is the last step it covers. Series already short
    enough come back as their finite points unchanged.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # float steps beyond int64 (bad input) warned on stderr
        s = np.asarray(steps, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    if s.shape != x.shape:
        raise ValueError(f"steps and values differ in length: {s.size} vs {x.size}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    finite = np.isfinite(x)
    s, x = s[finite], x[finite]
    n = x.size
    if n <= max_points:
        return s.copy(), x.copy()
    # Equal-count buckets: bucket b covers [edges[b], edges[b+1]); reduceat sums each bucket in one pass.
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)[:-1]
    edges = np.unique(edges)
    sums = np.add.reduceat(x, edges)
    counts = np.diff(np.append(edges, n))
    last = np.append(edges[1:], n) - 1
    return s[last], sums / counts
