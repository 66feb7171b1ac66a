"""Trend tests: Theil-Sen recovers a slope despite outliers; Mann-Kendall finds trends and keeps its level."""
import numpy as np
import pytest

from losslint.analysis.trend import mann_kendall, theil_sen


def test_theil_sen_recovers_slope_despite_outliers_and_nan():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = 300
        steps = np.arange(n) * 10
        slope = rng.uniform(-0.01, 0.01)
        y = 2.0 + slope * steps + rng.normal(0, 0.05, n)
        y[rng.choice(n, 30, replace=False)] += 100.0  # 10% wild outliers would wreck least squares
        y[::37] = np.nan
        fit = theil_sen(steps, y)
        assert fit.lo_slope <= slope <= fit.hi_slope
        assert fit.slope == pytest.approx(slope, abs=2e-4)


def test_theil_sen_long_series_is_bucketed_to_the_same_trend():
    rng = np.random.default_rng(1)
    steps = np.arange(200_000)
    y = 5.0 - 1e-5 * steps + rng.normal(0, 0.1, steps.size)
    fit = theil_sen(steps, y)
    assert fit.slope == pytest.approx(-1e-5, rel=0.02)


def test_theil_sen_degenerate_inputs_give_nan():
    assert np.isnan(theil_sen(np.array([1]), np.array([1.0])).slope)
    assert np.isnan(theil_sen(np.array([1, 2]), np.array([np.nan, 1.0])).slope)


def test_mann_kendall_detects_monotone_trends():
    rng = np.random.default_rng(5)
    t = np.arange(60)
    up = mann_kendall(0.01 * t + rng.normal(0, 0.05, t.size))
    down = mann_kendall(np.exp(-t / 20) + rng.normal(0, 0.02, t.size))
    assert up.trend == "increasing" and up.tau > 0 and up.p_value < 0.05
    assert down.trend == "decreasing" and down.tau < 0


def test_mann_kendall_false_positive_rate_on_white_noise_is_near_alpha():
    hits = sum(mann_kendall(np.random.default_rng(seed).normal(size=40)).trend != "no trend" for seed in range(400))
    # Binomial(400, 0.05): mean 20, sd 4.4; [6, 36] is beyond 3.5 sd.
    assert 6 <= hits <= 36


def test_mann_kendall_short_or_constant_is_no_trend():
    assert mann_kendall(np.array([1.0, 2.0])).trend == "no trend"
    assert mann_kendall(np.ones(10)).trend == "no trend"
    assert mann_kendall(np.array([1.0, np.nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])).trend == "increasing"


def _random_series(rng, n, kind):
    if kind == 0:
        return rng.normal(size=n)
    if kind == 1:  # ties
        return np.round(rng.normal(size=n), 1)
    if kind == 2:
        return rng.normal(size=n) + np.linspace(0, rng.uniform(-3, 3), n)
    return rng.integers(0, 3, n).astype(float)  # heavy ties


@pytest.mark.parametrize("n", [3, 5, 12, 33, 34, 80, 600, 5000])
def test_mann_kendall_matches_scipy_kendalltau(n):
    stats = pytest.importorskip("scipy.stats")
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = _random_series(rng, n, seed % 4)
        if np.ptp(y) == 0:
            continue
        expected = stats.kendalltau(np.arange(n), y)
        got = mann_kendall(y)
        assert got.tau == float(expected.statistic)
        # scipy's erf/erfc (cephes) and the C library's may differ in the last bits
        assert got.p_value == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300)


def test_mann_kendall_exact_p_for_nearly_sorted_long_series_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    y = np.arange(200, dtype=float)
    y[[50, 51]] = y[[51, 50]]  # one discordant pair: scipy switches to the exact distribution
    assert mann_kendall(y).p_value == float(stats.kendalltau(np.arange(200), y).pvalue)


@pytest.mark.parametrize("n", [2, 3, 10, 57, 400, 1500])
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_theil_sen_matches_scipy_theilslopes(n, confidence):
    stats = pytest.importorskip("scipy.stats")
    for seed in range(10):
        rng = np.random.default_rng(seed)
        steps = np.sort(rng.choice(np.arange(5 * n), n, replace=seed % 2 == 1))
        if np.ptp(steps) == 0:
            continue
        y = _random_series(rng, n, seed % 4)
        expected = stats.theilslopes(y, steps.astype(np.float64), alpha=confidence)
        got = theil_sen(steps, y, confidence=confidence)
        assert (got.slope, got.intercept, got.lo_slope, got.hi_slope) == tuple(float(v) for v in expected)


def test_inversions_counted_over_pairs_equal_the_merge_sort_count():
    # Short series count inversions over all pairs, long ones by the merge sort: the same integer either way.
    from losslint.analysis.trend import _count_inversions, _count_inversions_by_pairs, _dense_ranks

    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 300))
        y = _random_series(rng, n, trial % 4)
        ranks = _dense_ranks(y)
        assert _count_inversions_by_pairs(ranks) == _count_inversions(ranks)
    assert _count_inversions_by_pairs(np.arange(10)[::-1]) == 45
