"""Smoothing: TensorBoard's debiased EMA, the NaN-aware centered rolling median, equal-count bucket means."""
import numpy as np
import pytest

from losslint.analysis.smoothing import bucket_mean, ema, rolling_median


def tensorboard_ema(values, weight):
    """TensorBoard's scalar-chart smoothing written out as its loop (vz_line_chart2/line-chart.ts):
    last = last * w + (1 - w) * x over finite points, divided by 1 - w**num_accum; non-finite points and constant
    series pass unchanged."""
    last, num_accum, out = 0.0, 0, []
    is_constant = all(v == values[0] for v in values)
    for x in values:
        if is_constant or not np.isfinite(x):
            out.append(x)
            continue
        last = last * weight + (1 - weight) * x
        num_accum += 1
        out.append(last / (1 - weight ** num_accum))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_ema_matches_tensorboard_loop_with_nan_and_inf(weight):
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.normal(1.0, 0.3, size=int(rng.integers(1, 300)))
        x[rng.random(x.size) < 0.1] = np.nan
        x[rng.random(x.size) < 0.02] = np.inf
        got, want = ema(x, weight), tensorboard_ema(x, weight)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.array_equal(np.isnan(got), np.isnan(x))
        assert np.array_equal(np.isinf(got), np.isinf(x))


def test_ema_debiasing_keeps_a_constant_constant_and_starts_at_first_value():
    # Without the 1 - w**n debias the first smoothed values would be pulled towards 0.
    x = np.full(50, 0.1)
    np.testing.assert_array_equal(ema(x, 0.9), x)
    y = np.array([5.0, 1.0, 1.0])
    assert ema(y, 0.6)[0] == 5.0


def test_ema_does_not_modify_input_and_rejects_bad_weight():
    x = np.array([1.0, np.nan, 2.0])
    before = x.copy()
    ema(x, 0.5)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(before))
    assert x[0] == 1.0 and x[2] == 2.0
    with pytest.raises(ValueError):
        ema(x, 1.0)
    assert ema(np.array([]), 0.6).size == 0


def brute_rolling_median(x, window):
    half = window // 2
    out = np.full(x.size, np.nan)
    for i in range(x.size):
        seg = x[max(0, i - half):i + half + 1]
        seg = seg[np.isfinite(seg)]
        if seg.size:
            out[i] = np.median(seg)
    return out


def test_rolling_median_matches_brute_force_with_gaps_and_edges():
    for seed in range(150):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(0, 80))
        window = int(rng.integers(1, 20)) | 1
        x = rng.normal(size=n)
        if n:
            x[rng.random(n) < 0.2] = np.nan
            x[rng.random(n) < 0.05] = -np.inf
        np.testing.assert_allclose(rolling_median(x, window), brute_rolling_median(x, window), equal_nan=True)


def test_rolling_median_ignores_an_isolated_spike_and_has_no_lag():
    x = np.linspace(10.0, 0.0, 101)
    step = x[0] - x[1]
    spiked = x.copy()
    spiked[50] = 1000.0
    smoothed = rolling_median(spiked, 5)
    interior = np.arange(2, 99)
    near_spike = np.abs(interior - 50) <= 2
    # A monotone line is its own centered median (no lag); a window holding the spike moves by one neighbour.
    np.testing.assert_allclose(smoothed[interior[~near_spike]], x[interior[~near_spike]])
    assert np.all(np.abs(smoothed[interior[near_spike]] - x[interior[near_spike]]) <= step + 1e-12)


def test_rolling_median_even_window_is_widened_to_stay_centered():
    x = np.arange(10.0)
    np.testing.assert_allclose(rolling_median(x, 4), rolling_median(x, 5))


def test_bucket_mean_bounds_points_and_preserves_totals():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 20000))
        steps = np.cumsum(rng.integers(1, 5, size=n))
        values = rng.normal(size=n)
        values[rng.random(n) < 0.05] = np.nan
        max_points = int(rng.integers(1, 3000))
        bs, bv = bucket_mean(steps, values, max_points)
        finite = np.isfinite(values)
        assert bs.size == bv.size <= max(max_points, 0) or finite.sum() <= max_points
        assert bs.size <= max_points
        assert np.all(np.diff(bs) > 0)
        assert bs[-1] == steps[finite][-1]
        if finite.sum() <= max_points:
            np.testing.assert_array_equal(bs, steps[finite])
            np.testing.assert_array_equal(bv, values[finite])
        else:
            # Equal-count buckets: sizes differ by at most one, so weighted means give back the total.
            edges = np.searchsorted(steps[finite], bs, side="right")
            counts = np.diff(np.concatenate([[0], edges]))
            assert counts.max() - counts.min() <= 1
            assert np.isclose((bv * counts).sum(), values[finite].sum())


def test_bucket_mean_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        bucket_mean(np.arange(3), np.arange(4.0))


def test_rolling_median_is_exactly_the_window_median_on_long_series_with_ties():
    # Odd windows: the median is one of the window's values, so the fast path must return it bit for bit.
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x = np.round(rng.normal(size=3000), 2) * 10.0 ** rng.integers(-5, 300)
        x[rng.choice(x.size, 20, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], 20)
        window = int(rng.integers(3, 400)) | 1
        np.testing.assert_array_equal(rolling_median(x, window), brute_rolling_median(x, window))


@pytest.mark.parametrize("window", [1, 2, 3, 4, 7, 10, 51])
def test_trailing_median_is_exactly_numpys_median_of_each_trailing_window(window):
    from losslint.analysis.smoothing import trailing_median

    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = np.round(rng.normal(size=600), 2) * 10.0 ** rng.integers(-5, 300)
        if seed % 2:
            x[rng.choice(x.size, 5, replace=False)] = np.nan
        got = trailing_median(x, window)
        expected = [np.median(x[i - window + 1:i + 1]) if i >= window - 1 else np.nan for i in range(x.size)]
        np.testing.assert_array_equal(got, np.array(expected))


def test_rolling_median_is_bit_identical_to_nanmedian_of_each_window_on_random_inputs():
    # Both paths (numpy windows up to ROLLING_NUMPY_MAX points, pandas' skip list above) against np.median of each
    # window's finite values: bit for bit, including shrunk edge windows with an even count (mean of two middles).
    from losslint.analysis.smoothing import ROLLING_NUMPY_MAX

    rng = np.random.default_rng(2026)
    cases = [(int(rng.integers(0, 400)), int(rng.integers(1, 60))) for _ in range(300)]
    cases += [(ROLLING_NUMPY_MAX + 1 + int(rng.integers(0, 500)), int(rng.integers(2, 40))) for _ in range(2)]
    for n, window in cases:
        x = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8)
        if rng.random() < 0.5:
            x = np.round(x, 1)  # ties
        if n and rng.random() < 0.7:
            x[rng.random(n) < rng.random() * 0.5] = rng.choice([np.nan, np.inf, -np.inf])
        np.testing.assert_array_equal(rolling_median(x, window), brute_rolling_median(x, window | 1))


def test_rolling_median_of_an_all_nonfinite_series_is_nan_and_input_is_untouched():
    x = np.array([np.nan, np.inf, -np.inf, np.nan])
    before = x.copy()
    assert np.isnan(rolling_median(x, 3)).all()
    np.testing.assert_array_equal(x, before)


def test_median_is_numpys_median_bit_for_bit_type_and_sign_included():
    # analysis.median skips np.median's fixed cost; it must give the same number, of the same type, with the same
    # sign of zero (np.median's mean turns -0.0 into 0.0), NaN when any value is NaN, for float64 and float32.
    from losslint.analysis.smoothing import median

    rng = np.random.default_rng(16)
    for trial in range(3000):
        n = int(rng.integers(1, 300))
        x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300)
        if trial % 3 == 0:
            x = np.round(x) * rng.choice([0.0, 1.0], size=n) * rng.choice([-1.0, 1.0], size=n)  # signed zeros, ties
        if trial % 7 == 0:
            x[rng.integers(0, n)] = rng.choice([np.nan, np.inf, -np.inf])
        if trial % 5 == 0:
            x = x.astype(np.float32)
        expected, got = np.median(x), median(x)
        assert type(got) is type(expected)
        assert np.array_equal(got, expected, equal_nan=True) and np.signbit(got) == np.signbit(expected)
    assert median(np.array([3, 1, 2])) == 2 and np.isnan(median(np.array([1.0, np.nan, 2.0])))


def test_trailing_median_of_a_long_series_is_exactly_numpys_median_too():
    # Past ROLLING_ONE_SORT_CELLS window cells the trailing median goes through pandas' skip list: same numbers.
    from losslint.analysis.smoothing import ROLLING_ONE_SORT_CELLS, trailing_median

    rng = np.random.default_rng(7)
    window = 40
    x = np.round(rng.normal(size=ROLLING_ONE_SORT_CELLS // window + 500), 1) * rng.choice([-1.0, 1.0])
    x[rng.choice(x.size, 5, replace=False)] = np.nan
    expected = [np.median(x[i - window + 1:i + 1]) if i >= window - 1 else np.nan for i in range(x.size)]
    got = trailing_median(x, window)
    np.testing.assert_array_equal(got, np.array(expected))
    assert np.array_equal(np.signbit(got), np.signbit(np.array(expected)))
