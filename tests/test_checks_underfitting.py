"""Underfitting rules U201-U202 (U203 moved to I308: tests/test_checks_instability.py)."""
import math

import numpy as np

from checks_support import check, descent, make_run, run_rule

STEPS = np.arange(1, 201) * 10
EVAL_STEPS = np.arange(1, 21) * 100


def test_u201_plateau_near_its_start():
    rng = np.random.default_rng(3)  # logged losses are never equal to 7 digits (that would be D006, stalled)
    train = descent(200, 2.3, 2.0, rate=20) * np.exp(0.002 * rng.standard_normal(200))
    evals = descent(20, 2.3, 2.05, rate=20) * np.exp(0.002 * rng.standard_normal(20))
    run = make_run({"train/loss": (STEPS, train), "eval/loss": (EVAL_STEPS, evals)})
    [finding] = run_rule("U201", run)
    assert "stopped improving at 2.0" in finding.message and "no train/validation gap" in finding.message
    assert check(run).verdict == "underfitting"


def test_u201_a_fine_tune_plateau_with_a_gap_is_not_underfitting():
    """VERDICTS.md: a fine-tune whose loss fell 15-30% from its already good start, with a train/validation gap,
    has converged; underfitting needs a plateau near chance or no gap."""
    train = descent(200, 0.65, 0.25, rate=20)
    evals = descent(20, 0.65, 0.45, rate=20)  # 31% down from its start, flat, well above the training loss
    run = make_run({"train/loss": (STEPS, train), "eval/loss": (EVAL_STEPS, evals)})
    assert run_rule("U201", run) == []


def test_u201_chance_level_of_a_binary_task_from_its_auc():
    chance = math.log(2)
    flat = np.full(20, 0.5)
    run = make_run({"train/loss": (STEPS, descent(200, chance, chance * 0.9, rate=20)),
                    "eval/loss": (EVAL_STEPS, descent(20, chance, chance * 0.92, rate=20)),
                    "eval/auc": (EVAL_STEPS, flat + 0.01 * np.arange(20) % 0.02)})
    [finding] = run_rule("U201", run)
    assert "ln(2), a binary task" in finding.message
    low = make_run({"train/loss": (STEPS, descent(200, chance, 0.45, rate=20)),
                    "eval/loss": (EVAL_STEPS, descent(20, chance, 0.5, rate=20)),
                    "eval/auc": (EVAL_STEPS, flat)})
    assert run_rule("U201", low) == []  # 72% of chance: it learned something


def test_u201_says_a_loss_that_rose_rose():
    train = np.concatenate([np.linspace(0.52, 0.563, 20), np.full(180, 0.563)])
    evals = np.full(20, 0.57) + 0.001 * (np.arange(20) % 3)
    [finding] = run_rule("U201", make_run({"train/loss": (STEPS, train), "eval/loss": (EVAL_STEPS, evals)}))
    assert "above where it started" in finding.message and "flat at" not in finding.message


def test_u201_chance_level_from_hparams():
    # fell 30% from its start (not "high" by ratio) but sits at 95% of ln(10): only the chance level tells
    chance = math.log(10)
    train = descent(200, chance / 0.66, chance * 0.95, rate=20)
    run = make_run({"train/loss": (STEPS, train)})
    assert run_rule("U201", run) == []
    run = make_run({"train/loss": (STEPS, train)}, hparams={"num_classes": 10})
    [finding] = run_rule("U201", run)
    assert "ln(10)" in finding.message


def test_u201_a_fall_within_noise_of_the_tolerance_is_not_still_falling():
    # Synthetic plateaus (true fall over the last quarter 0.4-0.9%) whose Theil-Sen fall came out at 2.5-3.0% by
    # noise, above flat_tol=2%; the slope's confidence interval reaches down to 0.4-1.3%, so "still falling by 2%"
    # is not established and the plateau is reported.
    import synthetic_curves as sc

    runs = [sc.make_run("underfitting", seed, family="plateau-high", **sc.corpus_sizes(seed, "underfitting"))
            for seed in (17, 34, 37, 49)]
    for run in runs:
        assert len(run_rule("U201", sc.to_run(run))) == 1, run.name


def test_u201_silent_while_the_loss_surely_still_falls():
    # High (ends at 80% of its start) but falling 6% over the last quarter with 0.3% noise: the confidence interval
    # of the slope is far above 2%, so this is unfinished training (U202's business), not a plateau.
    rng = np.random.default_rng(0)
    train = np.linspace(2.0, 1.6, 200) * np.exp(rng.normal(0, 0.003, 200))
    run = make_run({"train/loss": (STEPS, train)})
    assert run_rule("U201", run) == []


def test_u201_silent_on_a_good_descent():
    run = make_run({"train/loss": (STEPS, descent(200)), "eval/loss": (EVAL_STEPS, descent(20) * 1.1)})
    assert run_rule("U201", run) == []


def test_u202_still_falling_at_the_end():
    linear = np.linspace(2.0, 1.0, 200)
    run = make_run({"train/loss": (STEPS, linear), "eval/loss": (EVAL_STEPS, np.linspace(2.1, 1.1, 20))})
    [finding] = run_rule("U202", run)
    assert "still falling" in finding.message and finding.step == STEPS[-1]
    converged = make_run({"train/loss": (STEPS, descent(200, rate=12))})
    assert run_rule("U202", converged) == []


def test_u202_judges_the_tail_against_the_whole_descent_not_the_level():
    # A power-law descent (Kaplan et al. 2020 shape) that has flattened still falls ~11% of its level over the last
    # fifth, but that is only ~1.3% of its whole descent: converged for practical purposes, not "train longer".
    u = STEPS / STEPS[-1]
    flattened = 0.05 + 0.95 * (1 + 20 * u) ** -1.0
    assert (flattened[159] - flattened[-1]) / flattened[-1] > 0.10
    assert run_rule("U202", make_run({"train/loss": (STEPS, flattened)})) == []
    # A run cut off mid-descent: only 5% lower over its last fifth, but that fifth made ~9% of the whole descent.
    cut_off = 1.0 + 0.6 * np.exp(-1.2 * u)
    assert (cut_off[159] - cut_off[-1]) / cut_off[-1] < 0.06
    [finding] = run_rule("U202", make_run({"train/loss": (STEPS, cut_off)}))
    assert "of its whole descent" in finding.message


def test_u202_not_reported_when_validation_rises():
    linear = np.linspace(2.0, 1.0, 200)
    evals = np.concatenate([np.linspace(2.0, 1.2, 10), np.linspace(1.25, 1.6, 10)])
    run = make_run({"train/loss": (STEPS, linear), "eval/loss": (EVAL_STEPS, evals)})
    assert run_rule("U202", run) == []


def test_u201_a_lone_loss_that_never_improved_is_a_warning():
    """One loss and no chance level: a plateau below its start is info (a converged fine-tune looks the same),
    but a loss that ended at or above its first level never learned anything (a POS probe whose training loss
    wandered 2.6-4.0 above its first 2.35)."""
    rng = np.random.default_rng(5)
    wandering = 3.0 + 0.3 * rng.standard_normal(200)
    wandering[:5] = np.linspace(2.35, 3.0, 5)
    [finding] = run_rule("U201", make_run({"train/loss": (STEPS, wandering)}))
    assert finding.severity == "warning" and "above where it started" in finding.message
    assert check(make_run({"train/loss": (STEPS, wandering)})).verdict == "underfitting"
    settled = descent(200, 2.3, 2.0, rate=20) * np.exp(0.002 * rng.standard_normal(200))
    [finding] = run_rule("U201", make_run({"train/loss": (STEPS, settled)}))
    assert finding.severity == "info"
    assert check(make_run({"train/loss": (STEPS, settled)})).verdict == "good-fit"


def test_u204_an_accuracy_that_never_changed_while_the_loss_moved():
    """A spam classifier answering 'not spam' for everything: accuracy 0.9374629 (the majority rate) at every
    epoch while its validation loss moves. A solved task (accuracy 1.0 throughout), a per-class metric and a loss
    as dead as the accuracy are not this."""
    rng = np.random.default_rng(2)
    evals = 0.14 + 0.02 * rng.standard_normal(20)
    frozen = np.full(20, 0.9374629)
    run = make_run({"train/loss": (STEPS, descent(200, 0.2, 0.12)), "eval/loss": (EVAL_STEPS, evals),
                    "eval/accuracy": (EVAL_STEPS, frozen)})
    [finding] = run_rule("U204", run)
    assert finding.metric == "eval/accuracy" and "0.9375 at every one of 20 evaluations" in finding.message
    assert check(run).verdict == "underfitting"
    for metrics in ({"eval/accuracy": (EVAL_STEPS, np.ones(20))},
                    {"eval/LOC_f1": (EVAL_STEPS, np.zeros(20))},
                    {"eval/accuracy": (EVAL_STEPS, np.linspace(0.7, 0.9, 20))}):
        assert run_rule("U204", make_run({"eval/loss": (EVAL_STEPS, evals), **metrics})) == []
    dead = make_run({"eval/loss": (EVAL_STEPS, np.full(20, 0.5)), "eval/accuracy": (EVAL_STEPS, frozen)})
    assert run_rule("U204", dead) == []


def test_u201_a_lone_loss_that_fell_less_than_flat_tol_never_improved():
    """A validation-only log of a music tagger: 6.464 -> 6.453 over 50 epochs, 0.2% in all: nothing learned, so
    the lone plateau keeps its warning; a T5 fine-tune that fell 7% and settled stays an info note."""
    rng = np.random.default_rng(9)
    flat = 6.46 - 0.01 * np.linspace(0, 1, 50) + 0.002 * rng.standard_normal(50)
    steps = np.arange(1, 51) * 1243
    [finding] = run_rule("U201", make_run({"eval/loss": (steps, flat)}))
    assert finding.severity == "warning"
    settled = descent(200, 2.3, 2.14, rate=20) * np.exp(0.002 * rng.standard_normal(200))
    [finding] = run_rule("U201", make_run({"train/loss": (STEPS, settled)}))
    assert finding.severity == "info"


def test_an_unsplit_loss_beside_its_validation_twin_is_the_training_loss():
    """Lightning `self.log("classification_loss")` beside `val_classification_loss`: a 200-class head stuck at
    ln(200) whose regression loss never moved. The chance level applies to a loss that starts near it, not to a
    regression loss that started at 696."""
    from losslint.view import RunView

    rng = np.random.default_rng(1)
    evals = np.arange(1, 6) * 1500
    run = make_run({"classification_loss": (STEPS, math.log(200) + 0.001 * rng.standard_normal(200)),
                    "regression_loss": (STEPS, 700 + 20 * rng.standard_normal(200)),
                    "eval/classification_loss": (evals, math.log(200) + 0.0001 * rng.standard_normal(5)),
                    "eval/regression_loss": (evals, 740 + 5 * rng.standard_normal(5))},
                   hparams={"num_classes": 200})
    assert RunView(run).train_loss.metric == "regression_loss"  # the shorter name of the two twins
    [finding] = run_rule("U201", run)
    # judged against its own start (no gap to its twin), never as "13000% of chance level ln(200)"
    assert finding.severity == "warning" and "chance level" not in finding.message
    assert "no train/validation gap" in finding.message
    assert check(run).verdict == "underfitting"


def test_u201_not_while_the_task_metric_still_learns():
    """A DeiT run continued with distillation: its training loss moved 4.77 -> 4.74 (flat), while top-1 accuracy,
    logged per epoch as test_acc1 (its validation), rose 69.6 -> 73.2. The model did not stop learning."""
    from losslint.view import RunView

    epochs = np.arange(15)
    rng = np.random.default_rng(6)
    run = make_run({"train/loss": (epochs, 4.77 - 0.002 * epochs + 0.002 * rng.standard_normal(15)),
                    "test/acc1": (epochs, 69.6 + 3.6 * (1 - np.exp(-epochs / 6)) + 0.05 * rng.standard_normal(15))})
    assert RunView(run).validation_split == "test"
    assert run_rule("U201", run) == [] or run_rule("U201", run)[0].severity == "info"
    assert check(run).verdict == "good-fit"
    stuck = make_run({"train/loss": (epochs, 4.77 - 0.002 * epochs + 0.002 * rng.standard_normal(15)),
                      "test/acc1": (epochs, 69.6 + 0.05 * rng.standard_normal(15))})
    assert [f.severity for f in run_rule("U201", stuck)] == ["warning"]


def test_u201_chance_from_a_loss_at_ln_c_and_an_accuracy_at_one_over_c():
    """An NLI model at 1.10 (= ln 3) with accuracy 0.33, with no class count logged, is a uniform guess over three
    classes: underfitting. A loss at 1.10 with an accuracy of 0.81 (a 10-class model that learned) is not."""
    rng = np.random.default_rng(11)
    train = 1.14 - 0.04 * (1 - np.exp(-np.arange(200) / 30)) + 0.01 * rng.standard_normal(200)
    evals = np.arange(1, 3) * 1000
    guess = make_run({"train/loss": (STEPS, train), "eval/loss": (evals, [1.101, 1.099]),
                      "eval/accuracy": (evals, [0.331, 0.334])})
    [finding] = run_rule("U201", guess)
    assert "ln(3)" in finding.message and finding.severity == "warning"
    assert check(guess).verdict == "underfitting"
    learned = make_run({"train/loss": (STEPS, train), "eval/loss": (evals, [1.101, 1.099]),
                        "eval/accuracy": (evals, [0.80, 0.81])})
    assert all("ln(3)" not in f.message for f in run_rule("U201", learned))
