"""Excursions: a curve that leaves its course (rises far above where it was) and comes back.

An overfitting curve rises and stays up; a diverging one keeps rising; an unstable one goes up *and comes back*:
a blow-up that recovers, a zig-zag, an accuracy that swings between chance and its best. This module finds the
last kind on a "badness" scale where higher is worse (a loss, or an error), as pure functions on arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Excursion:
    start: int  # index of the low point the curve rose from
    peak: int  # index of the worst point
    back: int  # index of the point where it had come back
    rise: float  # peak - start, on the scale the search ran on
    fall: float  # peak - back, on that scale
    width: int  # points in a row around the peak above the midpoint of the rise: 1 for a one-point spike


def excursions(badness: np.ndarray, min_rise: float, *, recover_share: float = 0.5, recover_within: int = 3,
               min_range_share: float = 0.0, range_values: np.ndarray | None = None,
               robust_start: bool = False) -> list[Excursion]:
    """Rises of at least `min_rise` from the lowest point since the previous excursion (or the start), followed
    within `recover_within` points by a fall of at least `recover_share` of the rise (the excursion ends at the
    first point that is that far back down).

    `badness` is the scale the rise is measured on (a log loss for a relative rise, an error normalised by its
    range for an absolute one). With `min_range_share`, the rise must also be that share of the range (max - min)
    of `range_values` (by default `badness`), measured on `range_values`: on a log scale a loss of 0.001 that
    doubles is a large rise, but not one that matters on a curve that fell from 2.3.
    With `robust_start`, the rise is measured from the median of the low point and its neighbours (the peak left
    out), so one lucky evaluation below the curve does not make the next ordinary one a "jump".
    Non-finite points are skipped. The excursions do not overlap; each starts after the previous one came back.
    """
    b = np.asarray(badness, dtype=np.float64)
    raw = b if range_values is None else np.asarray(range_values, dtype=np.float64)
    ok = np.isfinite(b) & np.isfinite(raw)
    index = np.flatnonzero(ok)
    b, raw = b[ok], raw[ok]
    n = len(b)
    if n < 3:
        return []
    span = float(raw.max() - raw.min())
    found: list[Excursion] = []
    low = segment = 0  # the lowest point since `segment`, where the search (re)started
    i = 1
    while i < n - 1:
        if b[i] < b[low]:
            low = i
        is_peak = b[i] >= b[i - 1] and b[i] > b[i + 1]
        if robust_start:
            around = [j for j in (low - 1, low, low + 1) if segment <= j < n and j != i]
            base, raw_base = float(np.median(b[around])), float(np.median(raw[around]))
        else:
            base, raw_base = float(b[low]), float(raw[low])
        rise = b[i] - base
        if is_peak and rise >= min_rise and (raw[i] - raw_base) >= min_range_share * span:
            window = b[i + 1:i + 1 + recover_within]
            recovered = np.flatnonzero(b[i] - window >= recover_share * rise)
            if len(recovered):  # the first point that is back, so a zig-zag's next rise starts from there
                back_at = i + 1 + int(recovered[0])
                fall = b[i] - b[back_at]
                above = b[low:back_at + 1] >= base + rise / 2
                left, right = i, i
                while left - 1 > low and above[left - 1 - low]:
                    left -= 1
                while right + 1 < back_at and above[right + 1 - low]:
                    right += 1
                found.append(Excursion(int(index[low]), int(index[i]), int(index[back_at]), float(rise), float(fall),
                                       right - left + 1))
                low = segment = back_at
                i = back_at + 1
                continue
        i += 1
    return found


def log_or_none(values: np.ndarray) -> np.ndarray | None:
    """ln(values) when every finite value is positive (a loss), else None: relative rises need a positive scale."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if not len(finite) or finite.min() <= 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v)
