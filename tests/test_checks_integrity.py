"""Data-integrity rules D001-D006 on hand-built runs whose defects are planted at known steps."""
import numpy as np

from checks_support import check, descent, make_run, run_rule

STEPS = np.arange(1, 41) * 10


def test_d001_reports_first_nan_step_and_counts():
    values = descent(40)
    values[25:] = np.nan
    values[30] = np.inf
    run = make_run({"train/loss": (STEPS, values), "eval/loss": (STEPS[::4], descent(10))})
    [finding] = run_rule("D001", run)
    assert finding.metric == "train/loss"
    assert finding.step == STEPS[25]
    assert "15 of 40" in finding.message and "14 NaN, 1 inf" in finding.message
    assert finding.severity == "error"
    assert check(run).verdict == "diverged"


def test_d001_a_nan_the_loss_recovers_from_is_instability_not_divergence():
    """NaN at two evaluations of a run that is finite again afterwards (the YOLOv5 run at SGD lr 0.1, batch 2):
    VERDICTS.md's diverged is a loss that turns NaN and stays so. Finite again for two values only is still a
    break."""
    values = descent(40)
    values[[12, 20]] = np.nan
    run = make_run({"train/loss": (STEPS, values), "eval/loss": (STEPS[::4], descent(10))})
    [finding] = run_rule("D001", run)
    assert finding.severity == "warning" and "finite again from step 220" in finding.message
    assert check(run).verdict == "unstable"
    values = descent(40)
    values[[12, 37]] = np.nan
    broke = make_run({"train/loss": (STEPS, values), "eval/loss": (STEPS[::4], descent(10))})
    [finding] = run_rule("D001", broke)
    assert finding.severity == "error" and "finite again" not in finding.message
    assert check(broke).verdict == "diverged"


def test_d001_all_nan_from_the_start():
    run = make_run({"train/loss": (STEPS[:5], [np.nan] * 5)})
    [finding] = run_rule("D001", run)
    assert finding.step == STEPS[0] and "no value is finite" in finding.message


def test_d001_silent_on_finite_losses_and_ignores_non_loss_nan():
    run = make_run({"train/loss": (STEPS, descent(40)), "eval/bbox_aps": (STEPS[:3], [np.nan] * 3)})
    assert run_rule("D001", run) == []


def test_d002_uses_reader_recorded_regressions_and_skips_bookkeeping_tags():
    regressions = [{"tag": "loss", "from_step": 99, "to_step": 91, "dropped_points": 9}]
    run = make_run({"train/loss": (STEPS, descent(40))}, metadata={"step_regressions": regressions})
    [finding] = run_rule("D002", run)
    assert finding.step == 91 and "1 time" in finding.message
    epoch_only = [{"tag": "train/epoch", "from_step": 3100, "to_step": 3100, "dropped_points": 1}]
    run = make_run({"train/loss": (STEPS, descent(40))}, metadata={"step_regressions": epoch_only})
    assert run_rule("D002", run) == []


def test_d002_only_informs_about_a_proven_same_run_resume():
    resumed = [{"tag": "loss", "file": "run-2", "from_step": 39, "to_step": 30, "dropped_points": 10,
                "same_run_resume": True},
               {"tag": "acc", "file": "run-2", "from_step": 39, "to_step": 30, "dropped_points": 10,
                "same_run_resume": True}]
    run = make_run({"train/loss": (STEPS, descent(40))}, metadata={"step_regressions": resumed})
    [finding] = run_rule("D002", run)
    assert finding.severity == "info" and finding.step == 30 and "resumed run" in finding.message
    # one overlap the reader could not attribute to the run resuming itself keeps the warning
    mixed = resumed + [{"tag": "loss", "from_step": 99, "to_step": 91, "dropped_points": 9}]
    run = make_run({"train/loss": (STEPS, descent(40))}, metadata={"step_regressions": mixed})
    [finding] = run_rule("D002", run)
    assert finding.severity == "warning" and "3 time(s)" in finding.message


def test_d002_duplicate_steps_within_a_series():
    steps = np.concatenate([STEPS, STEPS[-5:]])
    run = make_run({"train/loss": (steps, np.concatenate([descent(40), descent(5)]))})
    [finding] = run_rule("D002", run)
    assert finding.metric == "train/loss" and "5 step(s)" in finding.message


def test_d003_no_validation_only_when_a_training_loss_exists():
    assert [f.code for f in run_rule("D003", make_run({"train/loss": (STEPS, descent(40))}))] == ["D003"]
    with_eval = make_run({"train/loss": (STEPS, descent(40)), "eval/accuracy": (STEPS[::8], np.linspace(.5, .9, 5))})
    assert run_rule("D003", with_eval) == []
    assert run_rule("D003", make_run({"train/learning_rate": (STEPS, np.ones(40))})) == []


def test_d004_too_few_evals():
    few = make_run({"train/loss": (STEPS, descent(40)), "eval/loss": (STEPS[[9, 19, 29]], [1.0, 0.8, 0.7])})
    [finding] = run_rule("D004", few)
    assert "only 3" in finding.message
    enough = make_run({"train/loss": (STEPS, descent(40)), "eval/loss": (STEPS[::8], descent(5))})
    assert run_rule("D004", enough) == []


def test_d005_dead_accuracy_but_not_a_moving_one_nor_a_constant_learning_rate():
    run = make_run({"train/loss": (STEPS, descent(40)), "eval/accuracy": (STEPS[::4], np.zeros(10)),
                    "train/learning_rate": (STEPS, np.full(40, 1e-5))})
    [finding] = run_rule("D005", run)
    assert finding.metric == "eval/accuracy" and "constant at 0" in finding.message
    moving = make_run({"eval/accuracy": (STEPS[::4], np.linspace(0.1, 0.2, 10))})
    assert run_rule("D005", moving) == []


def test_d006_a_run_whose_every_loss_is_constant_has_no_signal():
    steps = np.arange(1, 51) * 10
    run = make_run({"train/loss": (steps, np.zeros(50)), "eval/loss": (steps[::5], np.full(10, 0.6931))})
    [finding] = run_rule("D006", run)
    assert "every loss is constant" in finding.message
    assert check(run).verdict == "no-signal"


def test_d006_a_learning_rate_of_1e_8_is_stalled_training():
    steps = np.arange(1, 201) * 10
    jitter = 3.6 + 0.1 * np.random.default_rng(1).standard_normal(200)
    run = make_run({"train/loss": (steps, jitter), "train/learning_rate": (steps, np.geomspace(9.9e-9, 6e-12, 200))})
    [finding] = run_rule("D006", run)
    assert finding.metric == "train/learning_rate" and check(run).verdict == "no-signal"


def test_d006_silent_on_a_run_that_learns():
    steps = np.arange(1, 201) * 10
    run = make_run({"train/loss": (steps, descent(200)), "train/learning_rate": (steps, np.full(200, 1e-4))})
    assert run_rule("D006", run) == []
    # a training loss memorised to a constant while validation still moves: the weights still change
    memorised = make_run({"train/loss": (steps, np.full(200, 0.05)), "eval/loss": (steps[::20], descent(10))})
    assert run_rule("D006", memorised) == []


def test_d006_a_validation_only_log_that_repeats_itself_is_stalled():
    """A recommender's validation-only log: val_loss 615.2847 at almost every epoch after the first few. With no
    training loss, the validation loss is the curve that says the weights stopped changing."""
    steps = np.arange(1, 66) * 600
    values = np.full(65, 615.2847290)
    values[:6] = [640.0, 630.1, 622.4, 618.9, 616.2, 615.5]
    run = make_run({"eval/loss": (steps, values)})
    [finding] = run_rule("D006", run)
    assert finding.metric == "eval/loss" and "repeats the same values" in finding.message
    assert check(run).verdict == "no-signal"
    moving = make_run({"eval/loss": (steps, np.linspace(640, 600, 65))})
    assert run_rule("D006", moving) == []
