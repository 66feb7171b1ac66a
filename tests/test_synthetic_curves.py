"""The synthetic-curve generator keeps its own promises: labels true by construction, events where `truth` says,
noise as described, seeds reproducible, files readable."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthetic_curves import (
    EVAL_TAG,
    FAMILIES,
    LABELS,
    LR_TAG,
    TRAIN_TAG,
    corpus,
    jsonl_lines,
    make_run,
    to_run,
    unit_noise,
    write_jsonl,
)

ALL_FAMILIES = [(label, family) for label in LABELS for family in FAMILIES[label]]
SEEDS = range(12)


@pytest.mark.parametrize("label,family", ALL_FAMILIES)
def test_same_seed_same_run_other_seed_other_run(label, family):
    a, b = make_run(label, 7, family=family), make_run(label, 7, family=family)
    for name in ("train_steps", "train_values", "eval_steps", "eval_values"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.truth == b.truth
    c = make_run(label, 8, family=family)
    assert not (len(a.train_values) == len(c.train_values)
                and np.array_equal(a.train_values, c.train_values, equal_nan=True))


@pytest.mark.parametrize("label,family", ALL_FAMILIES)
def test_steps_are_sorted_int64_and_aligned(label, family):
    run = make_run(label, 3, family=family)
    assert run.label == label and run.family == family
    for steps, values in ((run.train_steps, run.train_values), (run.eval_steps, run.eval_values)):
        assert steps.dtype == np.int64 and values.dtype == np.float64
        assert len(steps) == len(values)
        assert np.all(np.diff(steps) > 0)


def test_corpus_has_every_label_and_cycles_families():
    runs = corpus(8, seed0=100)
    assert len(runs) == 8 * len(LABELS)
    for label in LABELS:
        mine = [r for r in runs if r.label == label]
        assert len(mine) == 8
        assert {r.family for r in mine} == set(FAMILIES[label])
    assert len({r.name for r in runs}) == len(runs)
    lengths = {len(r.train_steps) for r in runs if r.label == "good-fit"}
    assert len(lengths) > 1  # vary_sizes really varies the run length


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("family", FAMILIES["overfitting"])
def test_overfitting_validation_minimum_is_at_the_planted_upturn(seed, family):
    run = make_run("overfitting", seed, family=family)
    up = run.truth["upturn_step"]
    assert up in run.eval_steps
    assert run.truth["minimum_step"] == up
    assert int(run.eval_steps[np.argmin(run.eval_clean)]) == up
    at = int(np.searchsorted(run.eval_steps, up))
    assert np.all(np.diff(run.eval_clean[: at + 1]) < 0)  # a U: strictly down before the upturn ...
    assert np.all(np.diff(run.eval_clean[at:]) > 0)  # ... strictly up after it
    # the training loss keeps falling while validation rises (memorisation)
    if family != "u-shape-flat-train":
        at_upturn = run.train_clean[np.searchsorted(run.train_steps, up)]
        assert run.train_clean[-1] < 0.9 * at_upturn
    # the rise stands well clear of the validation noise
    assert run.eval_values[-1] > 1.15 * np.min(run.eval_values)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("family", FAMILIES["good-fit"])
def test_good_fit_curves_descend_to_the_end(seed, family):
    run = make_run("good-fit", seed, family=family)
    assert np.all(np.diff(run.train_clean) <= 0) and np.all(np.diff(run.eval_clean) <= 0)
    assert run.truth["minimum_step"] == run.eval_steps[-1]
    assert run.truth["spike_steps"] == [] and run.truth["upturn_step"] is None and run.truth["nan_step"] is None
    assert np.all(np.isfinite(run.train_values)) and np.all(np.isfinite(run.eval_values))
    # a "cut-off" run stops at 0.8-2 e-folds of its descent: down to at most 62% of its start, still falling
    assert run.train_clean[-1] < (0.62 if family == "cut-off" else 0.5) * run.train_clean[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_underfitting_stays_near_chance_level(seed):
    run = make_run("underfitting", seed)
    chance = run.truth["chance_level"]
    assert chance == pytest.approx(math.log(run.truth["num_classes"]))
    assert run.train_clean[-1] >= 0.8 * chance and run.eval_clean[-1] >= 0.8 * chance
    assert run.train_clean[-1] <= chance


@pytest.mark.parametrize("seed", SEEDS)
def test_blowup_grows_at_least_twentyfold_after_the_divergence_step(seed):
    run = make_run("diverged", seed, family="blowup")
    div = run.truth["divergence_step"]
    before = run.train_clean[run.train_steps <= div]
    assert run.train_clean[-1] >= 19.9 * before[-1]
    assert np.all(np.diff(run.train_clean[run.train_steps >= div]) > 0)
    assert run.truth["minimum_step"] <= div


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("family", ("blowup-nan", "nan"))
def test_values_are_nan_exactly_from_the_nan_step(seed, family):
    run = make_run("diverged", seed, family=family)
    nan_step = run.truth["nan_step"]
    assert np.all(np.isfinite(run.train_values[run.train_steps < nan_step]))
    assert np.all(np.isnan(run.train_values[run.train_steps >= nan_step]))
    assert np.all(np.isnan(run.eval_values[run.eval_steps >= nan_step]))
    assert nan_step in run.train_steps
    if family == "nan":
        assert run.truth["divergence_step"] == nan_step


@pytest.mark.parametrize("seed", SEEDS)
def test_spikes_are_where_truth_says_and_nowhere_by_default(seed):
    spiky = make_run("unstable", seed, family="spiky")
    steps = spiky.truth["spike_steps"]
    assert 8 <= len(steps) <= 25
    idx = np.searchsorted(spiky.train_steps, steps)
    assert np.all(spiky.train_values[idx] >= 2.0 * spiky.train_clean[idx])
    assert make_run("good-fit", seed).truth["spike_steps"] == []
    planted = make_run("good-fit", seed, spikes=3)
    assert len(planted.truth["spike_steps"]) == 3


def test_noise_is_multiplicative_with_the_stated_sigma_and_tails():
    gauss = make_run("good-fit", 1, family="exp", n_train=20000, noise=0.05, noise_kind="gaussian")
    heavy = make_run("good-fit", 1, family="exp", n_train=20000, noise=0.05, noise_kind="student-t")
    for run in (gauss, heavy):
        z = np.log(run.train_values / run.train_clean) / 0.05
        assert np.std(z) == pytest.approx(1.0, abs=0.08)

    def excess_kurtosis(z):
        return float(np.mean((z - z.mean()) ** 4) / np.var(z) ** 2 - 3.0)

    assert abs(excess_kurtosis(np.log(gauss.train_values / gauss.train_clean))) < 0.3
    assert excess_kurtosis(np.log(heavy.train_values / heavy.train_clean)) > 1.5
    with pytest.raises(ValueError):
        unit_noise(np.random.default_rng(0), 3, "cauchy")


def robust_spread(run) -> float:
    residual = np.log(run.train_values / run.train_clean)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


@pytest.mark.parametrize("noise_kind", ("gaussian", "student-t"))
def test_unstable_noisy_scatters_35_to_60_percent_robustly(noise_kind):
    spreads = [robust_spread(make_run("unstable", seed, family="noisy", n_train=4000, noise_kind=noise_kind))
               for seed in SEEDS]
    assert min(spreads) > 0.32 and max(spreads) < 0.65
    assert max(robust_spread(make_run("good-fit", seed, noise_kind=noise_kind)) for seed in SEEDS) < 0.06


@pytest.mark.parametrize("seed", SEEDS)
def test_flat_train_overfitting_has_converged_before_the_upturn(seed):
    run = make_run("overfitting", seed, family="u-shape-flat-train")
    at_upturn = run.train_clean[np.searchsorted(run.train_steps, run.truth["upturn_step"])]
    floor_gap = at_upturn - run.train_clean[-1]
    assert 0 <= floor_gap < 0.01 * run.train_clean[0]
    assert run.eval_clean[-1] > 1.19 * run.eval_clean.min()


def test_default_family_rotation_is_stable():
    assert [make_run("overfitting", seed).family for seed in range(4)] == ["u-shape-exp", "u-shape-power"] * 2


def test_no_signal_runs_have_nothing_to_judge():
    for seed in SEEDS:
        short = make_run("no-signal", seed, family="too-short")
        assert 2 <= len(short.train_steps) <= 4 and not short.has_eval
        no_loss = make_run("no-signal", seed, family="no-loss")
        assert no_loss.train_tag == LR_TAG and not no_loss.has_eval
        assert np.all(no_loss.train_values > 0)


def test_unknown_label_or_family_is_refused():
    with pytest.raises(ValueError):
        make_run("great-fit", 0)
    with pytest.raises(ValueError):
        make_run("good-fit", 0, family="u-shape-exp")


def test_jsonl_has_one_point_per_line_in_step_order(tmp_path):
    run = make_run("diverged", 4, family="blowup-nan")
    path = write_jsonl(run, tmp_path / "deep" / "metrics.jsonl")
    lines = path.read_text().splitlines()
    assert lines == jsonl_lines(run)
    objects = [json.loads(line) for line in lines]
    assert all(set(o) in ({"step", TRAIN_TAG}, {"step", EVAL_TAG}) for o in objects)
    steps = [o["step"] for o in objects]
    assert steps == sorted(steps)
    train = np.array([o[TRAIN_TAG] for o in objects if TRAIN_TAG in o])
    np.testing.assert_array_equal(train, run.train_values)  # NaN survives as the bare NaN token
    assert "NaN" in path.read_text()


def test_to_run_holds_both_series():
    run = make_run("overfitting", 5)
    data = to_run(run).data
    assert set(data["metric"]) == {TRAIN_TAG, EVAL_TAG}
    np.testing.assert_array_equal(data[data["metric"] == EVAL_TAG]["value"].to_numpy(), run.eval_values)
    np.testing.assert_array_equal(data[data["metric"] == TRAIN_TAG]["step"].to_numpy(), run.train_steps)


def test_losslint_jsonl_reader_reads_what_write_jsonl_writes(tmp_path):
    pytest.importorskip("losslint.io.jsonl", reason="JSONL reader not written yet")
    from losslint.discover import load

    run = make_run("overfitting", 6)
    write_jsonl(run, tmp_path / "run" / "metrics.jsonl")
    runs, errors = load([tmp_path])
    assert errors == [] and len(runs) == 1
    data = runs[0].data
    for tag, steps, values in ((TRAIN_TAG, run.train_steps, run.train_values),
                               (EVAL_TAG, run.eval_steps, run.eval_values)):
        series = data[data["metric"] == tag]
        np.testing.assert_array_equal(series["step"].to_numpy(), steps)
        np.testing.assert_allclose(series["value"].to_numpy(), values, rtol=1e-12)
