"""Instability rules I301-I305."""
import numpy as np

from checks_support import check, descent, make_run, run_rule

STEPS = np.arange(1, 501) * 10


def noisy(sigma: float, seed: int = 0, n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return descent(n) * np.exp(sigma * rng.standard_normal(n))


def test_i301_noisy_loss_only_above_threshold():
    assert [f.code for f in run_rule("I301", make_run({"train/loss": (STEPS, noisy(0.6))}))] == ["I301"]
    assert run_rule("I301", make_run({"train/loss": (STEPS, noisy(0.03))})) == []


def test_i302_finds_planted_spikes_at_their_steps():
    values = noisy(0.02, seed=1)
    planted = [120, 300, 410]
    values[planted] *= 4.0
    [finding] = run_rule("I302", make_run({"train/loss": (STEPS, values)}))
    assert finding.step == STEPS[planted[0]]
    assert "3 spike(s)" in finding.message


def test_i302_many_spikes_escalate_to_error_and_unstable():
    values = noisy(0.02, seed=2)
    values[[60, 110, 170, 230, 290, 350]] *= 5.0
    result = check(make_run({"train/loss": (STEPS, values)}))
    [finding] = [f for f in result.findings if f.code == "I302"]
    assert finding.severity == "error" and result.verdict == "unstable"


def test_i303_divergence_back_above_start_and_nan_tail():
    values = descent(500)
    values[300:] = np.linspace(values[300], 5.0, 200)
    [finding] = run_rule("I303", make_run({"train/loss": (STEPS, values)}))
    assert "diverged" in finding.message
    nan_tail = descent(500)
    nan_tail[400:] = np.nan
    [finding] = run_rule("I303", make_run({"train/loss": (STEPS, nan_tail)}))
    assert finding.step == STEPS[400]


def test_i303_silent_on_a_tiny_loss_doubling_near_zero():
    values = descent(500, 2.0, 0.0001, rate=30)
    values[400:] = 0.0002
    assert run_rule("I303", make_run({"train/loss": (STEPS, values)})) == []


def test_i304_grad_norm_spikes():
    rng = np.random.default_rng(3)
    grad = 1.0 + 0.05 * rng.standard_normal(500)
    grad[[100, 250]] = 8.0
    run = make_run({"train/loss": (STEPS, descent(500)), "train/grad_norm": (STEPS, grad)})
    [finding] = run_rule("I304", run)
    assert finding.step == STEPS[100] and "2 spike(s)" in finding.message


def test_i305_loss_jump_after_learning_rate_rise():
    lr = np.full(500, 1e-4)
    lr[250:260] = np.linspace(1e-4, 1e-3, 10)
    lr[260:] = 1e-3
    loss = descent(500)
    loss[262:300] *= np.linspace(1.0, 2.0, 38)
    loss[300:] *= 2.0
    run = make_run({"train/loss": (STEPS, loss), "train/learning_rate": (STEPS, lr)})
    [finding] = run_rule("I305", run)
    assert "learning rate rose" in finding.message
    steady = make_run({"train/loss": (STEPS, descent(500)), "train/learning_rate": (STEPS, lr)})
    assert run_rule("I305", steady) == []
