"""Property tests on synthetic curves with planted ground truth (tests/synthetic_curves.py), many seeds:
the rules find what was planted, where it was planted, and nothing on clean curves."""
import numpy as np
import pytest

import synthetic_curves as sc
from losslint.config import Config
from losslint.engine import check_runs
from losslint.schema import Run

SEEDS = range(25)
FAIL = ("warning", "error")


def check(run: sc.SyntheticRun, with_classes: bool = False):
    converted = sc.to_run(run)
    if with_classes:
        converted = Run(name=converted.name, format=converted.format, sources=[], data=converted.data,
                        hparams={"num_classes": run.truth["num_classes"]})
    return check_runs([converted], Config())[0]


def codes(result, severities=FAIL):
    return {f.code for f in result.findings if f.severity in severities}


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_good_fits_have_no_findings_at_all(seed):
    result = check(sc.make_run("good-fit", seed))
    assert result.verdict == "good-fit"
    assert [f.code for f in result.findings if f.code[0] in "OUI"] == []


@pytest.mark.parametrize("noise", [0.01, 0.03, 0.06, 0.1, 0.15])
@pytest.mark.parametrize("seed", range(6))
def test_growing_gaussian_noise_on_a_good_fit_is_not_a_failure(seed, noise):
    result = check(sc.make_run("good-fit", seed, noise=noise, noise_kind="gaussian"))
    assert codes(result) == set(), [f.message for f in result.findings]


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_spikes_are_found_at_planted_steps(seed):
    run = sc.make_run("unstable", seed, family="spiky", noise=0.02)
    result = check(run)
    assert result.verdict == "unstable"
    spikes = [f for f in result.findings if f.code == "I302"]
    assert spikes and spikes[0].step in run.truth["spike_steps"]


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_upturn_is_found_near_its_step(seed):
    run = sc.make_run("overfitting", seed)
    result = check(run)
    assert result.verdict == "overfitting"
    [rising] = [f for f in result.findings if f.code in ("O101", "O104")]
    spacing = int(run.eval_steps[1] - run.eval_steps[0])
    assert abs(rising.step - run.truth["upturn_step"]) <= 3 * spacing


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_nan_is_reported_at_its_step(seed):
    run = sc.make_run("diverged", seed, family="nan")
    result = check(run)
    assert result.verdict == "diverged"
    nan = [f for f in result.findings if f.code == "D001" and f.metric == "train/loss"]
    assert nan and nan[0].step == run.truth["nan_step"]


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_blowup_is_divergence(seed):
    result = check(sc.make_run("diverged", seed, family="blowup"))
    assert result.verdict == "diverged" and "I303" in codes(result)


@pytest.mark.parametrize("seed", SEEDS)
def test_plateau_near_chance_is_underfitting(seed):
    result = check(sc.make_run("underfitting", seed), with_classes=True)
    assert result.verdict == "underfitting" and "U201" in codes(result)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_run_cut_off_mid_descent_is_a_good_fit_that_could_train_longer(seed):
    """VERDICTS.md: still improving at the end is good-fit with an info note, never underfitting."""
    run = sc.make_run("good-fit", seed, family="cut-off", **sc.corpus_sizes(seed, "good-fit"))
    result = check(run)
    assert result.verdict == "good-fit", (run.name, codes(result))
    [note] = [f for f in result.findings if f.code == "U202"]
    assert note.severity == "info", run.name


@pytest.mark.parametrize("seed", range(5))
def test_too_short_and_loss_free_runs_are_no_signal(seed):
    for family in sc.FAMILIES["no-signal"]:
        assert check(sc.make_run("no-signal", seed, family=family)).verdict == "no-signal"


@pytest.mark.parametrize("seed", range(10))
def test_heavy_noise_is_unstable(seed):
    """35-60% noise around the level: unstable, by its noise (I301, judged against the curve's range since 0.3),
    its spikes, or the zig-zag it puts in the validation curve."""
    result = check(sc.make_run("unstable", seed, family="noisy"))
    assert result.verdict == "unstable"
    assert any(f.code[0] == "I" and f.severity != "info" for f in result.findings)


@pytest.mark.parametrize("seed", range(10))
def test_noise_growing_within_a_run_is_not_mistaken_for_a_trend(seed):
    # a clean descent whose multiplicative noise grows from 1% to 15% along the run (heteroscedastic)
    rng = np.random.default_rng(seed)
    n = 1000
    steps = np.arange(1, n + 1) * 10
    u = steps / steps[-1]
    clean = 0.3 + 2.0 * np.exp(-5 * u)
    train = clean * np.exp(np.linspace(0.01, 0.15, n) * rng.standard_normal(n))
    evals = (clean * 1.08)[9::10] * np.exp(0.02 * rng.standard_normal(n // 10))
    from checks_support import make_run
    from losslint.config import load_config
    from losslint.engine import check_run

    result = check_run(make_run({"train/loss": (steps, train), "eval/loss": (steps[9::10], evals)}), load_config())
    assert codes(result) == set(), [f.message for f in result.findings]
    assert result.verdict == "good-fit"
