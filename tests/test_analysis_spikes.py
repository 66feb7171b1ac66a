"""Spikes: planted spikes are found at their exact indices; clean noisy curves have none."""
import numpy as np

from losslint.analysis.spikes import find_spikes, robust_zscores


def noisy_descent(rng, n):
    t = np.arange(n) / n
    sigma = rng.uniform(0.001, 0.1)
    # Noise that grows threefold over the run: the scale must be local, not one number for the run.
    y = 0.3 + rng.uniform(0.5, 3.0) * np.exp(-t / rng.uniform(0.05, 0.5)) + rng.normal(0, sigma, n) * (1 + 2 * t)
    return y, sigma


def test_no_spikes_on_clean_noisy_descents():
    for seed in range(60):
        rng = np.random.default_rng(seed)
        y, _ = noisy_descent(rng, int(rng.integers(30, 3000)))
        assert find_spikes(y).size == 0, seed


def test_planted_spikes_are_found_at_their_indices():
    for seed in range(60):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(100, 3000))
        y, sigma = noisy_descent(rng, n)
        planted = np.sort(rng.choice(np.arange(3, n - 3), size=5, replace=False))
        # 15 local sigmas (the noise is at most 3 sigma late in the run) above the curve.
        y[planted] += 45 * sigma
        np.testing.assert_array_equal(find_spikes(y), planted, err_msg=str(seed))


def test_downward_spikes_need_direction_down():
    rng = np.random.default_rng(2)
    acc = 0.9 - 0.5 * np.exp(-np.arange(500) / 80) + rng.normal(0, 0.005, 500)
    acc[[120, 333]] -= 0.3
    assert find_spikes(acc).size == 0
    np.testing.assert_array_equal(find_spikes(acc, direction="down"), [120, 333])
    np.testing.assert_array_equal(find_spikes(acc, direction="both"), [120, 333])


def test_non_finite_points_are_not_spikes_and_do_not_hide_neighbours():
    rng = np.random.default_rng(4)
    y = 1.0 + rng.normal(0, 0.01, 400)
    y[[50, 51, 200]] = [np.nan, np.inf, np.nan]
    y[52] += 1.0
    z = robust_zscores(y)
    assert np.isnan(z[[50, 51, 200]]).all()
    np.testing.assert_array_equal(find_spikes(y), [52])


def test_noise_free_curve_has_no_spikes_and_finite_scores():
    y = 2.0 * np.exp(-np.arange(1000) / 100) + 0.5
    z = robust_zscores(y)
    assert np.isfinite(z).all()
    assert find_spikes(y).size == 0


def test_symmetric_median_edges_are_the_median_of_the_symmetric_window_on_random_inputs():
    from losslint.analysis.spikes import _symmetric_median

    rng = np.random.default_rng(7)
    for _ in range(200):
        n, window = int(rng.integers(1, 120)), int(rng.integers(3, 30))
        x = rng.normal(size=n)
        x[rng.random(n) < 0.15] = np.nan
        got = _symmetric_median(x, window)
        half = window // 2
        for i in range(n):
            r = min(i, n - 1 - i, half)  # near an end the window shrinks to 2r+1 points, symmetric
            seg = x[i - r:i + r + 1]
            seg = seg[np.isfinite(seg)]
            want = np.median(seg) if seg.size else np.nan
            np.testing.assert_array_equal(got[i], want)
