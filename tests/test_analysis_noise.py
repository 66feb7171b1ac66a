"""Noise level: the MAD of differences tracks the true white-noise sigma whatever the curve's trend."""
import numpy as np
import pytest

from losslint.analysis.noise import noise_sigma, roughness
from losslint.analysis.smoothing import rolling_median


@pytest.mark.parametrize("order, slope_over_sigma", [(1, 0.2), (2, 1.0)])
def test_noise_sigma_tracks_true_sigma_on_descending_curves(order, slope_over_sigma):
    # First differences carry the slope, so they are tested on curves whose steepest slope is 1/5 of sigma;
    # second differences cancel it, so they get curves as steep as sigma per step.
    for seed in range(100):
        rng = np.random.default_rng(seed)
        n = 2000
        sigma = rng.uniform(0.001, 0.2)
        tau = rng.uniform(100, 800)
        amplitude = slope_over_sigma * sigma * tau  # steepest slope (at t=0) = amplitude / tau
        t = np.arange(n)
        curve = 0.3 + amplitude * np.exp(-t / tau)
        est = noise_sigma(curve + rng.normal(0, sigma, n), order=order)
        # The MAD of ~2000 differences has a few percent sampling error.
        assert est == pytest.approx(sigma, rel=0.12), (seed, est, sigma)


def test_noise_sigma_follows_growing_noise_window_by_window():
    rng = np.random.default_rng(7)
    n = 6000
    true_sigma = np.linspace(0.01, 0.1, n)
    y = 1.0 + 2.0 * np.exp(-np.arange(n) / 1000) + rng.normal(0, 1, n) * true_sigma
    estimates = [noise_sigma(y[i:i + 1000]) for i in range(0, n, 1000)]
    truths = [true_sigma[i:i + 1000].mean() for i in range(0, n, 1000)]
    assert all(b > a for a, b in zip(estimates, estimates[1:]))
    for est, truth in zip(estimates, truths):
        assert est == pytest.approx(truth, rel=0.15)


def test_noise_sigma_is_robust_to_spikes_and_ignores_nan():
    rng = np.random.default_rng(3)
    y = rng.normal(0, 0.05, 3000)
    y[::100] += 50.0  # 1% huge spikes
    y[5::97] = np.nan
    assert noise_sigma(y) == pytest.approx(0.05, rel=0.15)


def test_noise_sigma_short_or_empty_is_nan():
    assert np.isnan(noise_sigma(np.array([1.0, 2.0])))
    assert np.isnan(noise_sigma(np.array([1.0, np.nan, 2.0, np.inf])))
    assert noise_sigma(np.array([1.0, 1.0, 1.0])) == 0.0


def test_roughness_is_relative_noise_level():
    rng = np.random.default_rng(11)
    level = 4.0
    y = level + rng.normal(0, 0.04, 5000)
    r = roughness(y, rolling_median(y, 51))
    assert r == pytest.approx(0.01, rel=0.15)
    assert np.isnan(roughness(np.zeros(5), np.zeros(5)))
