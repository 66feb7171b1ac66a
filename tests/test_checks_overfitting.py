"""Overfitting rules O101-O104 on curves with a planted upturn, gap or degradation."""
import numpy as np

from checks_support import check, descent, make_run, run_rule

TRAIN_STEPS = np.arange(1, 201) * 10
EVAL_STEPS = np.arange(1, 21) * 100


def u_shape(minimum_at: int, rise: float, n: int = 20) -> np.ndarray:
    """A validation curve falling to 0.5 at evaluation `minimum_at`, then rising linearly by `rise` (relative)."""
    x = np.arange(n)
    down = 0.5 + (1.5 - 0.5) * (1 - x / minimum_at).clip(0) ** 2
    up = np.where(x > minimum_at, 0.5 * rise * (x - minimum_at) / (n - 1 - minimum_at), 0.0)
    return down + up


def test_o101_finds_the_minimum_and_the_rise():
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "eval/loss": (EVAL_STEPS, u_shape(7, 0.6))})
    [finding] = run_rule("O101", run)
    assert finding.step == EVAL_STEPS[7]
    assert "rose" in finding.message and "keep the checkpoint of step 800" in finding.message
    assert finding.severity == "error"  # a 60% rise is past severe_rise=0.5
    assert check(run).verdict == "overfitting"


def test_o101_silent_on_a_flat_or_tiny_rise_and_when_train_also_rises():
    flat = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/loss": (EVAL_STEPS, u_shape(7, 0.02))})
    assert run_rule("O101", flat) == []
    rising_train = descent(200, 2.0, 0.05)
    rising_train[100:] = np.linspace(rising_train[100], 1.5, 100)
    both = make_run({"train/loss": (TRAIN_STEPS, rising_train), "eval/loss": (EVAL_STEPS, u_shape(7, 0.6))})
    assert run_rule("O101", both) == []


def test_o101_min_rise_is_configurable():
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "eval/loss": (EVAL_STEPS, u_shape(7, 0.08))})
    assert len(run_rule("O101", run)) == 1
    assert run_rule("O101", run, min_rise=0.2) == []


def test_o104_worse_from_the_first_evaluation():
    evals = np.linspace(1.0, 1.4, 20)
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/loss": (EVAL_STEPS, evals)})
    [finding] = run_rule("O104", run)
    assert finding.step == EVAL_STEPS[0] and "never improved" in finding.message
    assert run_rule("O101", run) == []  # the two rules never report the same curve


def test_o103_task_metric_degrading_in_either_direction():
    accuracy = np.concatenate([np.linspace(0.6, 0.9, 8), np.linspace(0.89, 0.75, 12)])
    wer = np.concatenate([np.linspace(0.6, 0.3, 8), np.linspace(0.31, 0.45, 12)])
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/accuracy": (EVAL_STEPS, accuracy),
                    "eval/wer": (EVAL_STEPS, wer)})
    found = {f.metric: f for f in run_rule("O103", run)}
    assert set(found) == {"eval/accuracy", "eval/wer"}
    assert found["eval/accuracy"].step == EVAL_STEPS[7] and found["eval/wer"].step == EVAL_STEPS[7]


def test_o102_gap_widening_while_validation_still_falls_slowly():
    train = np.linspace(2.0, 0.2, 200)
    evals = np.linspace(2.0, 1.6, 20)  # falls, but far slower than train: the gap grows linearly
    run = make_run({"train/loss": (TRAIN_STEPS, train), "eval/loss": (EVAL_STEPS, evals)})
    [finding] = run_rule("O102", run)
    assert "widened" in finding.message
    parallel = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/loss": (EVAL_STEPS, descent(20) * 1.1)})
    assert run_rule("O102", parallel) == []
