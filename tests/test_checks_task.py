"""Task-metric handling: directions from names, derived perplexity, T401 best-step disagreement."""
import numpy as np
import pytest

from checks_support import descent, make_run, run_rule
from losslint.metrics import known_direction
from losslint.view import RunView

EVAL_STEPS = np.arange(1, 11) * 1000


@pytest.mark.parametrize("metric,direction", [
    ("eval/loss", "min"), ("eval/wer", "min"), ("eval/perplexity", "min"), ("eval/cer", "min"),
    ("eval/accuracy", "max"), ("eval/f1", "max"), ("eval/rouge-1", "max"), ("eval/rougeL", "max"),
    ("eval/bleu", "max"), ("eval/exprate", "max"), ("eval/g0/accuracy", "max"),
    ("eval/gen_len", None), ("eval/runtime", None),
])
def test_direction_from_the_name(metric, direction):
    assert known_direction(metric) == direction


def test_t401_loss_best_early_wer_best_late():
    loss = np.array([0.32, 0.36, 0.39, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46, 0.47])
    wer = np.array([0.80, 0.76, 0.74, 0.73, 0.72, 0.71, 0.70, 0.70, 0.69, 0.69])
    run = make_run({"eval/loss": (EVAL_STEPS, loss), "eval/wer": (EVAL_STEPS, wer),
                    "train/loss": (EVAL_STEPS, descent(10))})
    [finding] = run_rule("T401", run)
    assert finding.metric == "eval/wer" and finding.step == EVAL_STEPS[8]
    assert "best at step 1000" in finding.message


def test_t401_silent_when_they_agree():
    run = make_run({"eval/loss": (EVAL_STEPS, descent(10)), "eval/accuracy": (EVAL_STEPS, 1 - descent(10) / 3)})
    assert run_rule("T401", run) == []


def test_perplexity_derived_for_language_models_only():
    loss = descent(10, 4.0, 3.0)
    lm = make_run({"eval/loss": (EVAL_STEPS, loss)}, name="nanogpt-run")
    derived = RunView(lm).derived_perplexity
    assert derived is not None and derived.metric == "eval/perplexity"
    np.testing.assert_allclose(derived.values, np.exp(loss))
    assert RunView(make_run({"eval/loss": (EVAL_STEPS, loss)}, name="cifar")).derived_perplexity is None
    logged = make_run({"eval/loss": (EVAL_STEPS, loss), "eval/perplexity": (EVAL_STEPS, np.exp(loss))}, name="gpt")
    assert RunView(logged).derived_perplexity is None


def test_o101_speaks_perplexity_for_language_models():
    steps = np.arange(1, 21) * 100
    loss = np.concatenate([np.linspace(4.0, 3.0, 8), np.linspace(3.05, 3.6, 12)])
    run = make_run({"eval/loss": (steps, loss), "train/loss": (steps, np.linspace(4.0, 2.0, 20))}, name="gpt2-ft")
    [finding] = run_rule("O101", run)
    assert "perplexity" in finding.message and "20.09" in finding.message  # exp(3.0)
