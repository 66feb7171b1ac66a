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
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "eval/loss": (EVAL_STEPS, u_shape(7, 0.7))})
    [finding] = run_rule("O101", run)
    assert finding.step == EVAL_STEPS[7]
    assert "rose" in finding.message and "keep the checkpoint of step 800" in finding.message
    # 70% at the last evaluation; the end level (median of the last 3) is the one before, 0.5 + 0.35 * 11/12 =
    # 0.8208, against a smoothed minimum of 0.5204 (median of 0.5204, 0.5, 0.525): a 58% rise, past severe_rise=0.5
    assert "rose 58%" in finding.message
    assert finding.severity == "error"
    assert check(run).verdict == "overfitting"


def test_o101_silent_on_a_flat_or_tiny_rise_and_when_train_also_rises():
    flat = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/loss": (EVAL_STEPS, u_shape(7, 0.02))})
    assert run_rule("O101", flat) == []
    rising_train = descent(200, 2.0, 0.05)
    rising_train[100:] = np.linspace(rising_train[100], 1.5, 100)
    both = make_run({"train/loss": (TRAIN_STEPS, rising_train), "eval/loss": (EVAL_STEPS, u_shape(7, 0.6))})
    assert run_rule("O101", both) == []


# Two short U-shapes of the synthetic corpus (`corpus(50, 0)`: u-shape-flat-train-14 and -32, 17 and 12
# evaluations, the eval loss as generated, rounded to 4 digits) that O101 missed when its noise came from first
# differences: there the descent and the rise are most of each difference (sigma 0.10 and 0.38 vs 0.007 and 0.058
# from second differences), so rises of 41% and 47% (end level: median of the last 3) looked like noise.
SHORT_U_SHAPES = [
    [1.884, 1.6416, 1.345, 1.1654, 1.0331, 0.943, 0.8665, 0.8094, 0.7615, 0.7229, 0.7477, 0.7905, 0.8606, 0.9209,
     0.9847, 1.0515, 1.12],
    [5.2615, 3.9324, 3.0874, 2.5953, 2.2527, 2.0673, 1.9703, 2.1854, 2.4371, 2.699, 3.0432, 3.3225],
]


def test_o101_finds_a_clear_u_shape_on_a_short_curve():
    for evals in SHORT_U_SHAPES:
        n = len(evals)
        steps = np.arange(1, n + 1) * 100
        train = np.full(10 * n, 0.05)  # memorised: flat at its floor while validation gets worse
        run = make_run({"train/loss": (np.arange(1, 10 * n + 1) * 10, train), "eval/loss": (steps, evals)})
        [finding] = run_rule("O101", run)
        assert finding.step == steps[int(np.argmin(evals))]
        assert check(run).verdict == "overfitting"


def test_o101_silent_on_one_bad_last_evaluation():
    # 18 evaluations that fell and then stayed flat within 0.5% noise; the last one 40% above: one bad evaluation,
    # not a rise. A median of the last 2 (their mean) moved 20%; a median of 3 is not moved.
    rng = np.random.default_rng(1)
    n = 18
    evals = np.concatenate([np.linspace(1.5, 0.5, 8), np.full(n - 8, 0.5)]) * np.exp(rng.normal(0, 0.005, n))
    evals[-1] *= 1.4
    run = make_run({"train/loss": (np.arange(1, 181) * 10, descent(180, 2.0, 0.05)),
                    "eval/loss": (np.arange(1, n + 1) * 100, evals)})
    assert run_rule("O101", run) == []


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


def test_no_overfitting_finding_on_a_model_that_fitted_nothing():
    """The QuALITY reader's picture: train and validation loss at ln(4) throughout, accuracy wandering around
    chance 0.25 with a lucky best early and an unlucky end. Nothing was fitted, so nothing overfitted: U201 calls
    it underfitting, and the training loss 1.389 -> 1.388 is not described as "kept falling"."""
    rng = np.random.default_rng(3)
    train = np.log(4) + 0.01 * rng.standard_normal(200)
    evals = np.full(20, np.log(4)) + 0.0005 * rng.standard_normal(20)
    accuracy = np.array([0.26, 0.31, 0.27, 0.25, 0.24, 0.26, 0.25, 0.27, 0.26, 0.25,
                         0.24, 0.25, 0.26, 0.24, 0.25, 0.26, 0.24, 0.23, 0.24, 0.24])
    flat = {"train/loss": (TRAIN_STEPS, train), "eval/loss": (EVAL_STEPS, evals),
            "eval/accuracy": (EVAL_STEPS, accuracy)}
    run = make_run(flat)
    assert run_rule("O103", run) == [] and run_rule("O101", run) == []
    assert check(run).verdict == "underfitting"
    # the same accuracy curve after a training loss that fell 2.0 -> 0.05 is overfitting in the task metric
    fitted = make_run({**flat, "train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05))})
    [finding] = run_rule("O103", fitted)
    assert "kept falling" in finding.message
    # a validation loss at ln(4) above a memorised training loss that starts at its floor: fitted (a gap), so O104
    memorised = make_run({"train/loss": (TRAIN_STEPS, np.full(200, 0.05)),
                          "eval/loss": (EVAL_STEPS, np.log(4) * np.linspace(1.0, 1.3, 20))})
    assert [f.code for f in run_rule("O104", memorised)] == ["O104"]


def test_o102_gap_widening_while_validation_still_falls_slowly():
    train = np.linspace(2.0, 0.2, 200)
    evals = np.linspace(2.0, 1.6, 20)  # falls, but far slower than train: the gap grows linearly
    run = make_run({"train/loss": (TRAIN_STEPS, train), "eval/loss": (EVAL_STEPS, evals)})
    [finding] = run_rule("O102", run)
    assert "widened" in finding.message
    parallel = make_run({"train/loss": (TRAIN_STEPS, descent(200)), "eval/loss": (EVAL_STEPS, descent(20) * 1.1)})
    assert run_rule("O102", parallel) == []


def test_a_per_epoch_test_curve_is_the_validation_when_no_eval_is_logged():
    """DETR, DeiT and MAE log their per-epoch evaluation as `test_loss`/`test_acc1`: with no eval metric, a test
    loss evaluated at 3+ steps is judged as the validation curve; a test result logged once (HF `predict()`), or
    beside an eval curve, stays a test result."""
    curve = u_shape(7, 0.7)
    run = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "test/loss": (EVAL_STEPS, curve)})
    [finding] = run_rule("O101", run)
    assert finding.metric == "test/loss" and finding.step == EVAL_STEPS[7]
    assert check(run).verdict == "overfitting"
    assert [f.code for f in run_rule("D003", run)] == []
    once = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "test/loss": (EVAL_STEPS[-1:], [0.9])})
    assert [f.code for f in run_rule("D003", once)] == ["D003"]
    both = make_run({"train/loss": (TRAIN_STEPS, descent(200, 2.0, 0.05)), "test/loss": (EVAL_STEPS, curve),
                     "eval/loss": (EVAL_STEPS, descent(20, 1.5, 0.5))})
    assert run_rule("O101", both) == []


def test_a_validation_logged_as_mse_only_is_the_validation_loss():
    """A regressor that logs `Train loss` twice and `Valid MSE` every epoch: the split with no loss-named metric
    plays its loss-function-named one, so the run has a validation curve to judge (it was no-signal). A run that
    names a validation loss keeps it, and its MSE stays a task metric."""
    from losslint.view import RunView

    curve = u_shape(7, 0.7)
    run = make_run({"train/loss": (EVAL_STEPS[[9, 19]], [0.9, 0.3]), "eval/mse": (EVAL_STEPS, curve)})
    view = RunView(run)
    assert view.eval_loss is not None and view.eval_loss.metric == "eval/mse"
    assert view.has_loss and check(run).verdict != "no-signal"
    both = RunView(make_run({"eval/loss": (EVAL_STEPS, curve), "eval/mse": (EVAL_STEPS, curve)}))
    assert both.eval_loss.metric == "eval/loss" and [t.metric for t in both.task_metrics] == ["eval/mse"]
