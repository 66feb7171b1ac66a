"""The engine: verdict precedence, caching, parallel == serial, unreadable inputs, early stop."""
import numpy as np
import pytest

import synthetic_curves as sc
from checks_support import descent, make_run
from losslint import analysis
from losslint.config import Config, load_config
from losslint.early_stop import EarlyStopSettings, build_early_stop
from losslint.engine import check_paths, check_run, check_runs, exit_code
from losslint.findings import Finding
from losslint.verdict import decide, precedence_text
from losslint.view import MAX_POINTS, RunView, SeriesView


def finding(code, severity="warning"):
    return Finding(code=code, name="x", severity=severity, metric=None, step=None, message="")


@pytest.mark.parametrize("codes,has_signal,verdict", [
    ([], True, "good-fit"),
    ([], False, "no-signal"),
    ([("D003", "info"), ("T401", "info"), ("I301", "info")], True, "good-fit"),
    ([("O101", "warning"), ("U202", "warning")], True, "overfitting"),
    ([("U202", "warning"), ("I302", "warning")], True, "underfitting"),
    ([("O101", "warning"), ("I302", "error")], True, "unstable"),
    ([("I302", "warning")], True, "unstable"),
    ([("O101", "error"), ("I303", "error"), ("I302", "error")], True, "diverged"),
    ([("D001", "error")], False, "diverged"),
    ([("D001", "warning"), ("O101", "warning")], True, "unstable"),  # a NaN the loss recovered from
    ([("D001", "info")], True, "good-fit"),
    ([("O101", "warning")], False, "no-signal"),
    ([("D006", "warning"), ("O101", "warning")], True, "no-signal"),
    ([("D006", "info")], True, "good-fit"),
])
def test_verdict_precedence(codes, has_signal, verdict):
    assert decide([finding(c, s) for c, s in codes], has_signal) == verdict


@pytest.mark.parametrize("codes,trigger,verdict", [
    ([], "rise", "overfitting"),
    ([("U201", "warning")], "rise", "overfitting"),
    ([("I302", "error")], "rise", "unstable"),
    ([("I303", "error")], "rise", "diverged"),
    ([], "converged", "good-fit"),
])
def test_a_rise_stop_decides_like_an_overfitting_finding(codes, trigger, verdict):
    assert decide([finding(c, s) for c, s in codes], True, stop_trigger=trigger) == verdict


def test_precedence_table_is_printable():
    text = precedence_text()
    assert text.index("diverged") < text.index("no-signal") < text.index("overfitting") < text.index("good-fit")


def test_each_series_is_analysed_once(monkeypatch):
    calls = []
    original = analysis.ChangePointDetector.fit

    def counting(self, steps, values):
        calls.append(len(values))
        return original(self, steps, values)

    monkeypatch.setattr(analysis.ChangePointDetector, "fit", counting)
    steps = np.arange(1, 301) * 10
    evals = np.concatenate([descent(15, 2.0, 0.6), np.linspace(0.62, 1.0, 15)])
    run = make_run({"train/loss": (steps, descent(300, 2.0, 0.05)), "eval/loss": (steps[::10], evals)})
    result = check_run(run, load_config())
    assert any(f.code == "O101" for f in result.findings)  # O101 used the change points, so did the annotations
    assert len(calls) == 2  # train/loss and eval/loss, once each
    assert "change_points" in result.annotations["eval/loss"] and "spikes" in result.annotations["train/loss"]
    calls.clear()
    check_run(run, load_config(), annotate=False)
    assert len(calls) == 1  # only O101's own question, on eval/loss


def test_long_series_are_bucketed():
    n = 1_000_000
    view = SeriesView("train/loss", np.arange(n), np.linspace(2.0, 1.0, n))
    steps, values = view.bucketed
    assert len(values) <= MAX_POINTS and steps[-1] == n - 1


def test_a_failing_rule_becomes_a_note_not_a_traceback(monkeypatch):
    from losslint.checks import all_rules

    rule = all_rules()["D003"]

    def broken(view, params):
        raise RuntimeError("boom")

    monkeypatch.setitem(all_rules(), "D003", rule.__class__(**{**rule.__dict__, "check": broken}))
    result = check_run(make_run({"train/loss": (np.arange(10), descent(10))}), load_config())
    assert any("D003" in note and "boom" in note for note in result.run.notes)


def test_per_run_ignores_apply(tmp_path):
    steps = np.arange(1, 41)
    run = make_run({"train/loss": (steps, descent(40))}, name="sweeps/a")
    config = Config(per_run_ignores={"sweeps/*": ("D003",)})
    assert [f.code for f in check_runs([run], config)[0].findings] == []
    run.name = "main"
    assert [f.code for f in check_runs([run], config)[0].findings] == ["D003"]


def write_corpus(root):
    for label in ("good-fit", "overfitting", "diverged", "underfitting"):
        for seed in range(2):
            run = sc.make_run(label, seed, n_train=200)
            sc.write_jsonl(run, root / f"{label}-{seed}" / "metrics.jsonl")
    (root / "broken").mkdir()
    (root / "broken" / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "lo', encoding="utf-8")


def test_parallel_equals_serial_and_unreadable_inputs_do_not_hide_the_others(tmp_path):
    write_corpus(tmp_path)
    serial, serial_errors = check_paths(tmp_path, Config(), jobs=1)
    parallel, parallel_errors = check_paths([tmp_path], Config(), jobs=3)
    assert [r.as_dict() for r in serial] == [r.as_dict() for r in parallel]
    assert [e.text for e in serial_errors] == [e.text for e in parallel_errors]
    assert len(serial) >= 8
    assert exit_code(serial, serial_errors, "warning") == exit_code(parallel, parallel_errors, "warning")
    missing, errors = check_paths([tmp_path / "nope", tmp_path / "good-fit-0"], Config())
    assert len(missing) == 1 and errors and "nope" in errors[0].text
    assert exit_code(missing, errors, "error") == 2


def test_exit_codes():
    run = make_run({"train/loss": (np.arange(40), descent(40))})
    result = check_runs([run], Config())[0]  # D003 info only
    assert exit_code([result], [], "warning") == 0
    assert exit_code([result], [], "info") == 1


# -- early stop -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_early_stop_on_clear_overfitting_lands_near_the_true_minimum(seed):
    run = sc.make_run("overfitting", seed, n_train=400)
    result = check_runs([sc.to_run(run)], Config())[0]
    stop = result.early_stop
    assert stop is not None and stop.metric == "eval/loss"
    eval_steps = run.eval_steps
    spacing = int(eval_steps[1] - eval_steps[0])
    truth = run.truth["minimum_step"]
    assert stop.recommended_stop_step is not None
    # the checkpoint early stopping keeps is within a few evaluations of the true minimum ...
    assert abs(stop.best_step - truth) <= 3 * spacing
    # ... and, the rise being established, the stop is placed at the minimum too (never before the checkpoint to
    # keep), which saves everything after it: the planted minimum lies at or before 70% of the run, so a quarter or more
    assert abs(stop.recommended_stop_step - truth) <= 3 * spacing
    assert stop.recommended_stop_step >= stop.best_step
    assert stop.saved_fraction >= 1 / 4
    assert {"hf_patience_3", "prechelt_gl5"} <= set(stop.baselines)


@pytest.mark.parametrize("seed", range(12))
def test_a_good_fit_is_only_stopped_where_it_had_converged(seed):
    run = sc.make_run("good-fit", seed, n_train=400)
    result = check_runs([sc.to_run(run)], Config())[0]
    stop = result.early_stop
    assert stop is not None and stop.trigger in (None, "converged")
    if stop.trigger == "converged":
        # the noise-free validation curve at the stop is within the 1% tolerance (and its noise) of its best
        at = int(np.searchsorted(run.eval_steps, stop.recommended_stop_step))
        best = run.eval_clean.min()
        assert run.eval_clean[at] - best <= 0.01 * best + 3 * run.truth["noise"] / 3 * best
        assert result.saved_fraction >= 0.1 and "converged" in stop.reason
    without = check_runs([sc.to_run(run)], Config(early_stop=EarlyStopSettings(converged_tolerance=0)))[0]
    assert without.recommended_stop_step is None and without.saved_fraction == 0.0


def _flat_loss_run(accuracy):
    steps = np.arange(1, 41) * 100
    loss = descent(40, 2.0, 0.5, rate=12)  # within 1% of its floor after ~30% of the run
    return make_run({"eval/loss": (steps, loss), "eval/accuracy": (steps, accuracy),
                     "train/loss": (np.arange(1, 401) * 10, descent(400, 2.0, 0.3, rate=12))}), steps


def test_a_convergence_stop_waits_for_the_task_metrics():
    u = np.arange(1, 41) / 40
    alone, steps = _flat_loss_run(np.full(40, np.nan))
    loss_only = build_early_stop(RunView(alone))
    # converged by step 2000; the stop is the lowest evaluation within half a smoothing window after that
    assert loss_only.trigger == "converged" and loss_only.recommended_stop_step <= 2200
    # accuracy keeps climbing to the end (0.60 -> 0.80): the loss's convergence is no reason to stop
    climbing, _ = _flat_loss_run(0.6 + 0.2 * u)
    held_off = build_early_stop(RunView(climbing))
    assert held_off.recommended_stop_step is None and "eval/accuracy was still improving" in held_off.reason
    # accuracy converges later than the loss (within 1% of its best from about 60% of the run): the stop waits
    later, _ = _flat_loss_run(0.8 - 0.2 * np.exp(-u / 0.2))
    waited = build_early_stop(RunView(later))
    assert waited.trigger == "converged" and "eval/accuracy converged too" in waited.reason
    assert loss_only.recommended_stop_step < waited.recommended_stop_step < steps[-1]
    # a logged perplexity is exp(loss) of the same evaluation: it neither holds nor cancels the stop
    with_ppl = make_run({**{m: (g["step"].to_numpy(), g["value"].to_numpy()) for m, g in alone.data.groupby("metric")},
                         "eval/perplexity": (steps, np.exp(8 * descent(40, 2.0, 0.5, rate=12)))})
    assert build_early_stop(RunView(with_ppl)).recommended_stop_step == loss_only.recommended_stop_step


def test_findings_move_a_convergence_stop_of_an_overfitting_run_to_its_best():
    # Validation flattens, then creeps up 3% by the end: too little for the default's own rise test with this
    # noise, so it sees a converged curve; O101 calls it overfitting, and an overfitting run is kept at its best.
    rng = np.random.default_rng(7)
    steps = np.arange(1, 41) * 100
    evals = np.concatenate([descent(20, 2.0, 0.5, rate=6), 0.5 * np.linspace(1.0, 1.03, 20)])
    evals = evals * np.exp(rng.normal(0, 0.02, 40))
    run = make_run({"eval/loss": (steps, evals), "train/loss": (np.arange(1, 401) * 10, descent(400, 2.0, 0.01))})
    plain = build_early_stop(RunView(run))
    judged = build_early_stop(RunView(run), overfitting=True)
    assert plain.trigger == "converged" and plain.recommended_stop_step <= 2200
    assert judged.trigger == "findings" and "overfitting" in judged.reason
    # the smoothed best (a median over 5 evaluations), never before the convergence stop's lowest evaluation
    assert plain.recommended_stop_step <= judged.recommended_stop_step <= 2500
    assert judged.best_step <= judged.recommended_stop_step


def test_monitor_falls_back_to_a_validation_metric_with_a_direction():
    steps = np.arange(1, 11) * 100
    run = make_run({"train/loss": (steps, descent(10)), "eval/accuracy": (steps, np.linspace(0.5, 0.9, 10))})
    result = check_runs([run], Config())[0]
    assert result.monitored_metric == "eval/accuracy" and result.best_step == 1000


def test_public_check_api_accepts_none_config_or_path(tmp_path, monkeypatch):
    import losslint

    run = sc.make_run("overfitting", 3, n_train=200)
    sc.write_jsonl(run, tmp_path / "run" / "metrics.jsonl")
    (tmp_path / "losslint.toml").write_text('ignore = ["O"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    found_upward = losslint.check(tmp_path / "run")
    assert [f.code for f in found_upward[0].findings if f.code.startswith("O")] == []
    explicit = losslint.check(tmp_path / "run", config=load_config())
    assert any(f.code.startswith("O") for f in explicit[0].findings)
    (tmp_path / "strict.toml").write_text('extends = "strict"\n', encoding="utf-8")
    assert losslint.check(tmp_path / "run", config=tmp_path / "strict.toml")[0].verdict == explicit[0].verdict


ODD_RUNS = {
    "empty": {},
    "one point": {"train/loss": ([5], [1.0])},
    "all nan": {"train/loss": (np.arange(30), np.full(30, np.nan)), "eval/loss": (np.arange(3), [np.nan] * 3)},
    "all inf": {"train/loss": (np.arange(30), np.full(30, np.inf))},
    "constant": {"train/loss": (np.arange(300), np.ones(300)), "eval/loss": (np.arange(0, 300, 10), np.ones(30)),
                 "train/learning_rate": (np.arange(300), np.ones(300)),
                 "train/grad_norm": (np.arange(300), np.ones(300))},
    "zeros": {"train/loss": (np.arange(300), np.zeros(300)), "eval/accuracy": (np.arange(0, 300, 10), np.zeros(30))},
    "negative loss": {"train/loss": (np.arange(300), -descent(300)),
                      "eval/loss": (np.arange(0, 300, 10), -descent(30))},
    "huge values": {"train/loss": (np.arange(300), descent(300) * 1e300),
                    "eval/loss": (np.arange(0, 300, 10), descent(30) * 1e300)},
    "same step": {"train/loss": (np.zeros(50, dtype=int), descent(50))},
    "huge steps": {"train/loss": (np.arange(300) * 10**15, descent(300)),
                   "train/learning_rate": (np.arange(300) * 10**15, np.linspace(0, 1, 300))},
    "unsorted with nan": {"train/loss": (np.arange(100)[::-1], np.where(np.arange(100) % 7 == 0, np.nan, descent(100))),
                          "eval/wer": (np.arange(0, 100, 10), np.linspace(0.5, 0.2, 10))},
}


@pytest.mark.parametrize("name", ODD_RUNS)
def test_odd_runs_break_no_rule(name):
    result = check_run(make_run(ODD_RUNS[name]), load_config())
    assert not [note for note in result.run.notes if "failed" in note or "not computed" in note], result.run.notes
    assert result.verdict in ("good-fit", "overfitting", "underfitting", "unstable", "diverged", "no-signal")


def test_an_overfitting_verdict_comes_with_a_stop():
    # five evaluations: too few for the default strategy's own rise test (HF's patience-3 callback would stop at
    # 4000); the findings establish the overfitting, so the stop goes to the best evaluation, the first one
    steps = np.arange(1, 6) * 1000
    run = make_run({"eval/loss": (steps, [0.32, 0.36, 0.39, 0.41, 0.42]),
                    "train/loss": (np.arange(1, 51) * 100, descent(50, 0.3, 0.0002, rate=8))})
    result = check_runs([run], Config())[0]
    assert result.verdict == "overfitting"
    assert result.early_stop.strategy == "default" and "overfitting" in result.early_stop.reason
    assert result.best_step == 1000 and result.recommended_stop_step == 1000
    assert result.early_stop.baselines["hf_patience_3"]["stop_step"] == 4000
    # counted over the run's steps (training from step 100), not from the first evaluation: not "100%"
    assert result.saved_fraction == pytest.approx((5000 - 1000) / (5000 - 100))
    assert result.early_stop.baselines["hf_patience_3"]["saved_fraction"] == pytest.approx(1000 / 4900, abs=1e-6)
    assert result.early_stop.at_first_evaluation and "first evaluation (step 1000)" in result.early_stop.reason
    assert result.early_stop.cause().endswith("at the first evaluation")


def test_a_stop_at_the_first_evaluation_saves_the_share_of_the_run_after_it():
    """The issue's case: a 5,000-step run (steps 0..5000) evaluated every 1,000 steps, best at the first
    evaluation and rising after: the stop at step 1,000 saves 80% of the steps, not 100%."""
    steps = np.arange(1, 6) * 1000
    run = make_run({"eval/loss": (steps, [0.30, 0.36, 0.45, 0.55, 0.70]),
                    "train/loss": (np.arange(0, 51) * 100, descent(51, 0.3, 0.0002, rate=8))})
    stop = check_runs([run], Config())[0].early_stop
    assert stop.recommended_stop_step == 1000
    assert stop.saved_fraction == pytest.approx(0.8)
    assert stop.at_first_evaluation and "the stop is the first evaluation" in stop.reason
    # a stop after the first evaluation is not flagged
    later = make_run({"eval/loss": (steps, [0.40, 0.30, 0.45, 0.55, 0.70]),
                      "train/loss": (np.arange(0, 51) * 100, descent(51, 0.3, 0.0002, rate=8))})
    stop = check_runs([later], Config())[0].early_stop
    if stop.recommended_stop_step is not None:
        assert not stop.at_first_evaluation and "first evaluation" not in (stop.reason or "")


def test_an_overfitting_verdict_with_a_patience_strategy_stops_where_the_callback_would():
    steps = np.arange(1, 6) * 1000
    run = make_run({"eval/loss": (steps, [0.32, 0.36, 0.39, 0.41, 0.42]),
                    "train/loss": (np.arange(1, 51) * 100, descent(50, 0.3, 0.0002, rate=8))})
    result = check_runs([run], Config(early_stop=EarlyStopSettings(strategy="hf", patience=3)))[0]
    assert result.early_stop.strategy == "hf"
    assert result.best_step == 1000 and result.recommended_stop_step == 4000
    assert result.saved_fraction == pytest.approx(1000 / 4900)  # the run trained from step 100


def test_a_run_whose_validation_loss_turns_nan_gets_its_stop_before_the_nan():
    steps = np.arange(1, 31) * 100
    evals = descent(30, 2.0, 0.5)
    evals[20:] = np.nan  # blew up between evaluations 20 and 21 and stayed NaN
    run = make_run({"eval/loss": (steps, evals), "train/loss": (np.arange(1, 301) * 10, descent(300, 2.0, 0.4))})
    stop = check_runs([run], Config())[0].early_stop
    assert stop.recommended_stop_step is not None and stop.recommended_stop_step < steps[20]
    assert np.isfinite(stop.value_at_stop) and stop.best_step <= stop.recommended_stop_step
    # the share saved counts the NaN part of the run too
    assert stop.saved_fraction > (steps[-1] - steps[20]) / (steps[-1] - steps[0])


def test_a_diverged_run_with_few_evaluations_gets_its_stop_at_the_best_one():
    # The training loss blows up (I303) from step 250; the five evaluations are too few for the default strategy's
    # own rise test, so the findings stand in for it and the stop is the best evaluation, before the blow-up.
    train = np.concatenate([descent(25, 2.0, 0.5), 0.5 * np.exp(np.linspace(0.2, 4.0, 25))])
    steps = np.arange(1, 6) * 100
    run = make_run({"train/loss": (np.arange(1, 51) * 10, train), "eval/loss": (steps, [1.2, 0.8, 0.9, 3.5, 9.0])})
    result = check_runs([run], Config())[0]
    assert result.verdict == "diverged"
    assert result.best_step == 200 and result.recommended_stop_step == 200
    assert "diverged" in result.early_stop.reason
    without_i303 = check_runs([run], Config(ignore=("I303",)))[0]
    assert without_i303.recommended_stop_step is None


def test_findings_on_a_family_of_metrics_are_one_finding_naming_the_members():
    from losslint.findings import group_findings

    def on(metric, severity="warning", code="D005"):
        return Finding(code=code, name="x", severity=severity, metric=metric, step=1, message=f"{metric} is dead")

    per_entity = [on(f"eval/{e}_f1", "info" if e == "LOC" else "warning") for e in ("LOC", "PER", "ORG", "MISC")]
    others = [on("eval/loss", code="O101"), on("eval/LOC_f1", code="T401"), on("eval/PER_f1", code="T401")]
    grouped = group_findings(per_entity + others)
    assert [f.code for f in grouped] == ["D005", "O101", "T401", "T401"]  # two metrics are not a family
    family = grouped[0]
    assert family.members == ("eval/LOC_f1", "eval/PER_f1", "eval/ORG_f1", "eval/MISC_f1")
    assert family.severity == "warning" and family.metric == "eval/PER_f1"
    assert family.message.startswith("4 metrics of the family eval/*_f1") and "eval/PER_f1 is dead" in family.message
    assert family.as_dict()["members"] == list(family.members) and "members" not in grouped[1].as_dict()


def test_findings_on_variants_of_one_loss_are_one_finding():
    """DETR logs its validation loss as test/loss plus per-layer and unscaled copies (test/loss_ce_0_unscaled, ...):
    one O101 finding names them all and shows the most severe, the total on a tie; two variants stay two."""
    from losslint.findings import group_findings

    def on(metric, severity="warning", code="O101"):
        return Finding(code=code, name="x", severity=severity, metric=metric, step=1, message=f"{metric} rose")

    variants = [on("test/loss_ce_0"), on("test/loss"), on("test/loss_bbox_1_unscaled"), on("test/loss_giou")]
    grouped = group_findings([*variants, on("test/class_error", code="O103"), on("test/class_error_unscaled",
                                                                                     code="O103")])
    assert [f.code for f in grouped] == ["O101", "O103", "O103"]
    assert grouped[0].metric == "test/loss" and len(grouped[0].members) == 4
    assert grouped[0].message.startswith("4 variants of test/loss (") and "shown: test/loss rose" in grouped[0].message
    severe = group_findings([*variants[:3], on("test/loss_giou", "error")])
    assert severe[0].metric == "test/loss_giou" and severe[0].severity == "error"


def test_a_stop_after_a_sustained_rise_makes_the_run_overfitting():
    """VERDICTS.md: when the early stop found a sustained rise after the best step, verdict and stop agree. A
    200k-step run whose validation loss turns up at step 173,000 (a late, modest rise that O101's noise test
    misses on the whole curve) used to be a good fit with a 'rise' stop."""
    steps = np.arange(1, 201) * 1000
    train = descent(200, 3.0, 0.5, rate=4) * np.exp(0.01 * np.random.default_rng(7).standard_normal(200))
    evals = descent(200, 3.1, 0.9, rate=4)
    evals[173:] = evals[172] * (1 + 0.04 * np.linspace(0, 1, 27) ** 0.5)  # +4%: under O101's 5% bar
    evals *= np.exp(0.002 * np.random.default_rng(8).standard_normal(200))
    result = check_run(make_run({"train/loss": (steps, train), "eval/loss": (steps, evals)}), load_config())
    assert not [f for f in result.findings if f.code.startswith("O") and f.severity != "info"]
    assert result.early_stop.trigger == "rise"
    assert result.verdict == "overfitting"
    assert abs(result.early_stop.recommended_stop_step - 173_000) <= 10_000


def test_a_train_only_run_that_diverged_gets_its_stop_on_the_training_loss():
    """No validation curve, but the training loss broke (a T5 fine-tune: 0.0023 at step 900, then 6x): VERDICTS.md's
    stop 'before a break' goes where the training loss was best. A train-only run that did not break gets none."""
    steps = np.arange(1, 201) * 10
    rng = np.random.default_rng(4)
    train = descent(200, 0.03, 0.002, rate=6) * np.exp(0.05 * rng.standard_normal(200))
    train[90:] *= np.linspace(1, 8, 110)
    result = check_run(make_run({"train/loss": (steps, train)}), load_config())
    assert result.verdict == "diverged"
    assert result.early_stop is not None and result.early_stop.metric == "train/loss"
    assert 500 <= result.early_stop.recommended_stop_step <= 1000
    healthy = check_run(make_run({"train/loss": (steps, descent(200, 0.03, 0.002, rate=6))}), load_config())
    assert healthy.early_stop is None or healthy.early_stop.recommended_stop_step is None


def test_saved_fraction_counts_epochs_not_the_keras_iteration_copies():
    """Keras' TensorBoard callback repeats the validation curves as `evaluation_*_vs_iterations` on an iteration
    axis: the run's span is its epochs, so a stop at epoch 8 of 20 saves 60%, not 99%."""
    epochs = np.arange(20)
    evals = np.concatenate([np.linspace(1.0, 0.5, 9), np.linspace(0.55, 0.9, 11)])
    run = make_run({"train/loss": (epochs, np.linspace(1.0, 0.1, 20)), "eval/loss": (epochs, evals),
                    "eval/evaluation_loss_vs_iterations": (epochs * 500, evals)})
    result = check_run(run, load_config())
    assert result.recommended_stop_step == 8
    assert abs(result.early_stop.saved_fraction - 11 / 19) < 1e-6


def test_a_rise_stop_in_a_model_that_fitted_nothing_is_not_overfitting():
    """A 10-class CNN whose losses stay near ln(10) (train 2.21 -> 2.11): its validation loss turns up after epoch
    24, so a stop is due there, but a model that fitted nothing did not overfit (O101's `min_train_fall`); the
    stop stays, the verdict follows the other findings (U201: underfitting)."""
    epochs = np.arange(35)
    rng = np.random.default_rng(5)
    train = 2.211 - 0.1 * (1 - np.exp(-epochs / 8)) + 0.002 * rng.standard_normal(35)
    evals = np.concatenate([np.linspace(2.19, 2.109, 25), np.linspace(2.115, 2.16, 10)])
    evals += 0.001 * rng.standard_normal(35)
    result = check_run(make_run({"train/loss": (epochs, train), "eval/loss": (epochs, evals)},
                                hparams={"num_classes": 10}), load_config())
    assert result.early_stop.trigger == "rise" and result.recommended_stop_step is not None
    assert result.verdict == "underfitting"
