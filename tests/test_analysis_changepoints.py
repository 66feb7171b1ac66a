"""Change points: none inside a smooth descent, one at a planted upturn or jump, bounded work on long series."""
import numpy as np
import pytest

from losslint.analysis.changepoints import ChangePointDetector


def descent(rng, n, family):
    u = np.arange(n) / n
    amplitude = rng.uniform(0.5, 3.0)
    floor = rng.uniform(0.05, 1.0)
    if family == "exp":
        return floor + amplitude * np.exp(-u / rng.uniform(0.05, 0.4))
    return floor + amplitude * (1 + u * rng.uniform(5, 100)) ** -rng.uniform(0.3, 1.0)


@pytest.mark.parametrize("family", ["exp", "power"])
def test_smooth_descents_have_no_change_points(family):
    detector = ChangePointDetector()
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = int(rng.choice([40, 200, 2000, 20000]))
        clean = descent(rng, n, family)
        sigma = rng.choice([0.0, 0.003, 0.03]) * (clean.max() - clean.min())
        y = clean + rng.normal(0, 1, n) * sigma
        found = detector.fit(np.arange(n) * 4, y)
        assert found.steps == [], (seed, n, sigma, found.steps)
        assert len(found.segments) == 1


def test_upturn_is_found_near_the_planted_step():
    detector = ChangePointDetector()
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = int(rng.choice([200, 2000, 50000]))
        u = np.arange(n) / n
        turn = rng.uniform(0.3, 0.7)
        clean = 0.5 + 2.0 * np.exp(-u / (turn / 5)) + np.maximum(0.0, u - turn) * rng.uniform(0.5, 2.0)
        y = clean + rng.normal(0, rng.uniform(0.0, 0.03), n)
        steps = np.arange(n)
        found = detector.fit(steps, y)
        assert len(found.steps) == 1, (seed, found.steps)
        # Within 5% of the run plus one shortest segment (10 points): the bend where the descent's tail meets the
        # rise is gradual, and a slope needs a few points to show.
        assert abs(found.steps[0] - turn * n) <= 0.05 * n + detector.min_size, (seed, found.steps, turn * n)
        assert found.segments[-1].slope > 0 > found.segments[0].slope


def test_jump_is_found_at_the_planted_step():
    detector = ChangePointDetector()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.choice([200, 2000, 100000]))
        at = int(rng.uniform(0.3, 0.8) * n)
        sigma = rng.uniform(0.001, 0.02)
        y = 0.5 + 2.0 * np.exp(-np.arange(n) / (0.1 * n)) + rng.normal(0, sigma, n)
        y[at:] += rng.choice([-1, 1]) * 30 * sigma  # a level shift (loss blow-up or a recovery)
        found = detector.fit(np.arange(n), y)
        assert len(found.steps) == 1, (seed, found.steps)
        # Buckets hold n/2000 points: the jump can only be located to one bucket.
        assert abs(found.steps[0] - at) <= max(1, n // 2000) + 1, (seed, found.steps, at)


def test_segments_tile_the_series_and_nan_is_ignored():
    rng = np.random.default_rng(0)
    n = 500
    y = np.where(np.arange(n) < 250, 1.0, 2.0) + rng.normal(0, 0.01, n)
    y[::17] = np.nan
    steps = np.arange(n) * 2
    found = ChangePointDetector().fit(steps, y)
    assert found.steps == [500]
    finite_steps = steps[np.isfinite(y)]
    assert found.segments[0].start_step == finite_steps[0]
    assert found.segments[-1].end_step == finite_steps[-1]
    for left, right in zip(found.segments, found.segments[1:]):
        assert left.end_step < right.start_step
    assert found.segments[0].mean == pytest.approx(1.0, abs=0.01)
    assert found.segments[1].mean == pytest.approx(2.0, abs=0.01)


def test_l2_model_finds_mean_shifts_and_short_series_are_one_segment():
    rng = np.random.default_rng(1)
    y = np.concatenate([np.full(300, 1.0), np.full(300, 1.5)]) + rng.normal(0, 0.05, 600)
    found = ChangePointDetector(model="l2").fit(np.arange(600), y)
    assert len(found.steps) == 1 and abs(found.steps[0] - 300) <= 5
    short = ChangePointDetector().fit(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    assert short.steps == [] and len(short.segments) == 1
    empty = ChangePointDetector().fit(np.arange(3), np.full(3, np.nan))
    assert empty.steps == [] and empty.segments == []
    with pytest.raises(ValueError):
        ChangePointDetector(model="rbf")


def test_one_million_points_are_bucketed_before_the_search():
    # Only checks the million-point path works and finds the planted upturn; speed is measured, not tested.
    rng = np.random.default_rng(9)
    n = 1_000_000
    u = np.arange(n) / n
    y = 0.5 + 2.0 * np.exp(-u / 0.1) + np.maximum(0.0, u - 0.5) + rng.normal(0, 0.05, n)
    found = ChangePointDetector().fit(np.arange(n), y)
    assert len(found.steps) == 1 and abs(found.steps[0] - n // 2) <= 0.05 * n


def test_huge_values_do_not_overflow_and_scale_does_not_matter():
    rng = np.random.default_rng(3)
    n = 400
    u = np.arange(n) / n
    y = 0.5 + 2.0 * np.exp(-u / 0.1) + np.maximum(0.0, u - 0.5) + rng.normal(0, 0.02, n)
    small = ChangePointDetector().fit(np.arange(n), y)
    with np.errstate(over="raise", invalid="raise"):
        huge = ChangePointDetector().fit(np.arange(n), y * 1e300)
    assert huge.steps == small.steps and len(small.steps) == 1


def _ruptures_linear_trend_ends(work, t, pen, min_size, jump):
    """ruptures' own PELT on the same linear-trend cost: the reference `_pelt` must reproduce."""
    ruptures = pytest.importorskip("ruptures")
    from ruptures.base import BaseCost

    from losslint.analysis.changepoints import _PrefixSums

    class LinearTrendCost(BaseCost):
        model = "linear_trend"
        min_size = 3

        def fit(self, signal):
            self.signal = np.asarray(signal, dtype=np.float64).reshape(len(signal), -1)
            self.sums = _PrefixSums(t, self.signal[:, 0])
            return self

        def error(self, start, end):
            return self.sums.fit(start, end)[2]

    algo = ruptures.Pelt(custom_cost=LinearTrendCost(), min_size=min_size, jump=jump)
    return algo.fit(work.reshape(-1, 1)).predict(pen=pen)


@pytest.mark.parametrize("jump,min_size", [(10, 10), (5, 10), (3, 4), (1, 3), (7, 3)])
def test_pelt_port_gives_rupture_pelts_breakpoints(jump, min_size):
    from losslint.analysis.changepoints import _pelt, _PrefixSums

    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2 * min_size, 400))
        t = np.sort(rng.choice(np.arange(10 * n), n, replace=False)).astype(np.float64)
        y = np.cumsum(rng.normal(0, 1, n)) + np.where(np.arange(n) > n // 2, rng.uniform(-5, 5), 0.0)
        pen = float(rng.choice([0.1, 1.0, 10.0, 100.0]))
        sums = _PrefixSums(t, y)
        ours = _pelt(lambda a, b, sums=sums: sums.fit(a, b)[2], n, pen, min_size, jump)
        assert ours == _ruptures_linear_trend_ends(y, t, pen, min_size, jump), (seed, n, pen)
