"""`losslint compare`: ranking by the value at the stop, the effects of hyperparameters, the sidecar
hyperparameter files, the JSON contract, the pictures, and `check --report` on a sweep."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import synthetic_curves as sc
from cli_support import invoke
from losslint import discover
from losslint.compare import compare, flat_hparams, sweep_of, value_at_stop
from losslint.findings import EarlyStop, Result
from losslint.schema import Run, frame_from_columns

CONTRACT_KEYS = {"version", "metric", "direction", "runs", "effects", "combinations", "errors"}
RUN_KEYS = {"run", "path", "verdict", "best_step", "recommended_stop_step", "value_at_stop", "saved_fraction",
            "hyperparameters"}
EFFECT_KEYS = {"hyperparameter", "kind", "n", "spearman", "p_value", "verdicts", "statement"}


def result_of(name: str, steps, values, *, verdict: str = "good-fit", stop: int | None = None,
              metric: str = "eval/loss", hparams: dict | None = None) -> Result:
    """A checked run made by hand: its curve, verdict and recommended stop as given."""
    n = len(steps)
    data = frame_from_columns([metric] * n, steps, values, None, None, [metric] * n)
    run = Run(name=name, format="jsonl", sources=[], data=data, hparams=dict(hparams or {}), path=name)
    early = EarlyStop(metric=metric, strategy="default", best_step=None, recommended_stop_step=stop)
    return Result(run=run, verdict=verdict, findings=[], early_stop=early)


# -- ranking ----------------------------------------------------------------------------------------------------

def test_value_at_stop_is_the_best_up_to_the_stop_not_after():
    r = result_of("a", [10, 20, 30, 40], [0.9, 0.5, 0.7, 0.1], stop=30)
    assert value_at_stop(r, "eval/loss", "min") == (20, 0.5)  # 0.1 at step 40 comes after the stop
    r.early_stop.recommended_stop_step = None
    assert value_at_stop(r, "eval/loss", "min") == (40, 0.1)  # no stop: the whole run
    assert value_at_stop(r, "eval/accuracy", "max") == (None, None)


def test_ranking_is_direction_aware_and_runs_without_the_metric_rank_last():
    losses = [result_of(n, [1, 2], v) for n, v in (("b", [0.5, 0.4]), ("a", [0.9, 0.2]), ("c", [0.3, 0.35]))]
    none = result_of("z-no-metric", [1, 2], [0.1, 0.1], metric="train/loss")
    c = compare([*losses, none], metric="eval/loss")
    assert c.direction == "min"
    assert [r.run for r in c.runs] == ["a", "c", "b", "z-no-metric"]
    assert c.runs[-1].value_at_stop is None
    accs = [result_of(n, [1, 2], v, metric="eval/accuracy") for n, v in (("x", [0.5, 0.6]), ("y", [0.7, 0.65]))]
    c = compare(accs, metric="eval/accuracy")
    assert c.direction == "max" and [r.run for r in c.runs] == ["y", "x"]


def test_default_metric_is_the_one_the_early_stop_monitors():
    runs = [result_of("a", [1, 2], [1.0, 0.5], metric="eval/accuracy"), result_of("b", [1, 2], [1.0, 0.9])]
    runs.append(result_of("c", [1, 2], [1.0, 0.7], metric="eval/accuracy"))
    assert compare(runs).metric == "eval/accuracy"


# -- effects ----------------------------------------------------------------------------------------------------

def grid_results(unstable_from: float = 1e-3) -> list[Result]:
    """24 runs over lr x batch; the runs at lr >= `unstable_from` are unstable and worse."""
    out = []
    rng = np.random.default_rng(0)
    for lr in (1e-4, 3e-4, 1e-3, 3e-3):
        for bs in (8, 16, 32):
            for rep in range(2):
                bad = lr >= unstable_from
                final = (0.8 if bad else 0.3) + rng.uniform(0, 0.05)
                out.append(result_of(f"lr{lr}-bs{bs}-{rep}", [10, 20, 30], [1.0, final + 0.1, final],
                                     verdict="unstable" if bad else "good-fit",
                                     hparams={"optimizer": {"lr": str(lr), "name": "adam"}, "batch_size": bs,
                                              "run_name": f"r{lr}-{bs}-{rep}", "seed": rep}))
    return out


def test_statements_find_the_setting_that_made_runs_unstable():
    c = compare(grid_results())
    effects = {e.hyperparameter: e for e in c.effects}
    lr = effects["optimizer.lr"]
    assert lr.kind == "numeric" and lr.n == 24
    assert lr.statement.startswith("All 12 runs with optimizer.lr >= 0.001 were unstable; none below.")
    assert lr.spearman > 0.7 and lr.p_value < 1e-3  # higher lr, higher (worse) loss
    assert "worse eval/loss" in lr.statement
    assert lr.verdicts == {"0.0001": {"good-fit": 6}, "0.0003": {"good-fit": 6}, "0.001": {"unstable": 6},
                           "0.003": {"unstable": 6}}
    assert effects["batch_size"].statement is None  # unrelated to the verdicts
    # constant values and identifiers are no effects
    assert "optimizer.name" not in effects and "run_name" not in effects


def test_small_groups_are_not_clear_cases():
    # 3 of 3 against 0 of 3: Fisher p = 0.05 > 0.01, an anecdote
    runs = [result_of(f"r{i}", [1, 2], [1.0, 0.5 + i], verdict="overfitting" if i >= 3 else "good-fit",
                      hparams={"wd": float(i)}) for i in range(6)]
    effect = compare(runs).effects[0]
    assert effect.hyperparameter == "wd"
    assert "overfit" not in (effect.statement or "")


def interaction_results(n_noise: int = 3) -> list[Result]:
    """lr x batch x noise: unstable only where a small batch meets a large learning rate at low noise."""
    out = []
    for lr in (1e-4, 1e-3, 1e-2):
        for bs in (4, 32):
            for noise in (0.0, 0.1, 0.3)[:n_noise]:
                for seed in (0, 1):
                    bad = bs == 4 and lr >= 1e-3 and noise <= 0.1
                    out.append(result_of(f"lr{lr}-bs{bs}-n{noise}-{seed}", [1, 2], [1.0, 0.8 if bad else 0.3],
                                         verdict="unstable" if bad else "good-fit",
                                         hparams={"lr": lr, "batch_size": bs, "noise": noise, "seed": seed,
                                                  "optimizer": "adam" if seed else "sgd"}))
    return out


def test_what_the_runs_of_a_verdict_share_when_no_single_setting_explains_them():
    c = compare(interaction_results())
    assert all("unstable" not in (e.statement or "") for e in c.effects)  # 8 of 12 at batch 4: not 75%
    [combo] = c.combinations
    assert combo.verdict == "unstable"
    # the seed and the optimizer vary too, but shut out nothing the three settings do not
    assert combo.settings == {"batch_size": "= 4", "lr": ">= 0.001", "noise": "<= 0.1"}
    assert (combo.runs, combo.runs_in, combo.runs_total) == (8, 8, 36)
    assert combo.p_value < 1e-6
    assert combo.statement == ("All 8 runs that were unstable had batch_size = 4, lr >= 0.001 and noise <= 0.1; "
                               "none of the other 28 runs did.")


def test_no_combination_for_a_verdict_one_setting_explains_or_too_few_runs():
    assert compare(grid_results()).combinations == []  # the learning rate alone says it

    def design(copies: int) -> list[Result]:
        # a = 1 alone holds 3 unstable runs of 5 (60%), as b = 1 does: no single setting is a clear case
        cells = [(1, 1, "unstable")] * 3 + [(1, 0, "good-fit")] * 2 + [(0, 1, "good-fit")] * 2 + [(0, 0, "good-fit")]
        return [result_of(f"r{i}-{j}", [1, 2], [1.0, 0.5], verdict=v, hparams={"a": a, "b": b})
                for i, (a, b, v) in enumerate(cells) for j in range(copies)]

    # 3 unstable runs, all in the box a = 1, b = 1 and alone there, among 8: Fisher p = 1/56 = 0.018, above
    # 0.01 / 2 settings: an anecdote
    assert all(e.statement is None or "unstable" not in e.statement for e in compare(design(1)).effects)
    assert compare(design(1)).combinations == []
    # the same design four times over: 12 of 12 in the box, 0 of 20 outside
    [combo] = compare(design(4)).combinations
    assert combo.settings == {"a": "= 1", "b": "= 1"} and combo.runs == combo.runs_in == 12


def test_categorical_and_binned_effects():
    runs = []
    for i in range(30):
        opt = "sgd" if i % 3 == 0 else "adam"
        runs.append(result_of(f"r{i}", [1, 2], [1.0, 0.2 + i / 100], verdict="diverged" if opt == "sgd" else "good-fit",
                              hparams={"optimizer": opt, "dropout": i / 30, "fp16": i % 2 == 0}))
    effects = {e.hyperparameter: e for e in compare(runs).effects}
    opt = effects["optimizer"]
    assert opt.kind == "categorical" and opt.spearman is None
    assert opt.verdicts == {"adam": {"good-fit": 20}, "sgd": {"diverged": 10}}
    assert "All 10 runs with optimizer = sgd diverged; none with other values." in opt.statement
    dropout = effects["dropout"]
    assert dropout.kind == "numeric" and len(dropout.verdicts) == 4  # 30 distinct values: quartile bins
    assert sum(sum(v.values()) for v in dropout.verdicts.values()) == 30
    assert dropout.spearman == pytest.approx(1.0)
    assert effects["fp16"].kind == "categorical"


def test_flat_hparams_flattens_and_types():
    flat = flat_hparams({"opt": {"lr": "1e-3", "betas": [0.9, 0.99]}, "bs": "32", "amp": "true", "x": None,
                         "name": "adam", "layers": list(range(100))})
    assert flat == {"opt.lr": 0.001, "opt.betas": "[0.9, 0.99]", "bs": 32, "amp": True, "x": None, "name": "adam"}


def test_sweep_of_needs_the_same_keys_and_one_varying():
    same = [result_of(f"r{i}", [1, 2], [1.0, 0.5], hparams={"lr": i, "bs": 8}) for i in range(3)]
    other = [result_of("o", [1, 2], [1.0, 0.5], hparams={"momentum": 0.9}),
             result_of("p", [1, 2], [1.0, 0.5])]
    assert sweep_of(same + other) == same
    constant = [result_of(f"c{i}", [1, 2], [1.0, 0.5], hparams={"lr": 1}) for i in range(3)]
    assert sweep_of(constant + other) == []


# -- hyperparameters beside the logs ----------------------------------------------------------------------------

def test_ray_tune_params_json_and_hf_training_args_are_read(tmp_path):
    trial = tmp_path / "ray" / "trial_0001"
    sc.write_jsonl(sc.make_run("good-fit", 1, n_train=100), trial / "result.json")
    (trial / "params.json").write_text(json.dumps({"lr": 0.01, "model": {"width": 64}}, indent=2))
    hf = tmp_path / "hf-out"
    checkpoint = hf / "checkpoint-20"
    checkpoint.mkdir(parents=True)
    state = {"global_step": 20, "log_history": [{"loss": 1.0 - s / 40, "step": s, "epoch": s / 10}
                                                for s in range(1, 21)]}
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))
    (checkpoint / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}, indent=2))
    (checkpoint / "training_args.json").write_text(json.dumps({"learning_rate": 5e-5, "seed": 42}, indent=2))
    (checkpoint / "training_args.bin").write_bytes(b"\x80\x04not a pickle to open")
    runs, errors = discover.load(tmp_path)
    assert errors == []
    by_format = {r.format: r for r in runs}
    assert by_format["jsonl"].hparams == {"lr": 0.01, "model": {"width": 64}}
    assert by_format["trainer_state"].hparams == {"model_type": "bert", "hidden_size": 32, "learning_rate": 5e-5,
                                                  "seed": 42}


def test_a_bad_sidecar_is_a_note_not_an_error(tmp_path):
    sc.write_jsonl(sc.make_run("good-fit", 1, n_train=100), tmp_path / "t" / "metrics.jsonl")
    (tmp_path / "t" / "params.json").write_text("{not json")
    runs, errors = discover.load(tmp_path)
    assert errors == [] and runs[0].hparams == {}
    assert any("params.json" in note and "not valid JSON" in note for note in runs[0].notes)


# -- the command --------------------------------------------------------------------------------------------------

@pytest.fixture
def ray_sweep(tmp_path):
    """A Ray Tune-shaped sweep: trial folders with result.json and params.json; lr 0.1 runs diverge."""
    root = tmp_path / "sweep"
    for i, (lr, kind) in enumerate([(1e-3, "good-fit")] * 3 + [(1e-2, "overfitting")] * 3 + [(1e-1, "diverged")] * 3):
        trial = root / f"trial_{i:02d}"
        sc.write_jsonl(sc.make_run(kind, 100 + i, n_train=300), trial / "result.json")
        (trial / "params.json").write_text(json.dumps({"lr": lr, "wd": 0.01 * (i % 3),
                                                       "optimizer": "sgd" if i % 2 else "adam"}, indent=2))
    return root


def test_cli_json_contract_and_ranking(ray_sweep):
    result = invoke("compare", ray_sweep, "--format", "json", "-j", "1")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == CONTRACT_KEYS and doc["version"] == 1
    assert doc["metric"] == "eval/loss" and doc["direction"] == "min"
    assert len(doc["runs"]) == 9 and all(set(r) == RUN_KEYS for r in doc["runs"])
    values = [r["value_at_stop"] for r in doc["runs"] if r["value_at_stop"] is not None]
    assert values == sorted(values)
    assert {r["hyperparameters"]["lr"] for r in doc["runs"]} == {1e-3, 1e-2, 1e-1}
    assert all(set(e) == EFFECT_KEYS for e in doc["effects"])
    assert isinstance(doc["combinations"], list)
    lr = next(e for e in doc["effects"] if e["hyperparameter"] == "lr")
    assert sum(sum(v.values()) for v in lr["verdicts"].values()) == 9
    assert lr["n"] == 9 and lr["kind"] == "numeric"


def test_cli_text_group_by_and_output_dir(ray_sweep, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", ray_sweep, "--group-by", "lr", "-o", out, "-j", "1")
    assert result.exit_code == 0, result.output
    assert "lr = 0.001" in result.stdout and "lr = 0.1" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["compare-curves.png", "compare-lr.png", "compare-optimizer.png", "compare-wd.png",
                     "compare.json", "compare.md"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "compare.md").read_text()
    assert "![Validation curves of every run](compare-curves.png)" in md and "(compare-lr.png)" in md
    assert json.loads((out / "compare.json").read_text())["version"] == 1


def test_cli_usage_errors(ray_sweep):
    result = invoke("compare", ray_sweep, "--group-by", "nope", "-j", "1")
    assert result.exit_code == 2 and "--group-by nope" in result.output and "lr" in result.output
    result = invoke("compare", ray_sweep, "--by", "eval/bleu", "-j", "1")
    assert result.exit_code == 2 and "no run logs" in result.output


def test_cli_by_another_metric(ray_sweep):
    doc = json.loads(invoke("compare", ray_sweep, "--format", "json", "--by", "train/loss", "-j", "1").stdout)
    assert doc["metric"] == "train/loss" and doc["direction"] == "min"


def test_markdown_fits_a_pr_comment(tmp_path):
    from losslint.report.compare import markdown
    from losslint.report.markdown import LIMITS

    runs = [result_of(f"run-with-a-long-name-{i:04d}" + "x" * 60, [1, 2], [1.0, 0.5 + i / 1e4],
                      hparams={"lr": i, "bs": i % 7, "note": "y" * 40 + str(i % 3)}) for i in range(1500)]
    text = markdown(compare(runs), [])
    limit = LIMITS["comment"]
    assert limit.measure(text) <= limit.size
    assert "Table cut to the best" in text
    assert "run-with-a-long-name-0000" in text  # the best run stays


def test_check_report_writes_the_comparison_for_a_sweep(ray_sweep, tmp_path):
    out = tmp_path / "report"
    result = invoke("check", ray_sweep, "--report", out, "-j", "1", "--format", "json")
    assert result.exit_code in (0, 1)
    assert (out / "compare.json").is_file() and (out / "compare-curves.png").is_file()
    assert "runs of one sweep" in result.stderr
    doc = json.loads(result.stdout)
    assert all("hyperparameters" not in r for r in doc["runs"])  # check's own JSON is unchanged


def test_check_report_writes_no_comparison_without_a_sweep(tmp_path):
    sc.write_jsonl(sc.make_run("good-fit", 1, n_train=100), tmp_path / "a" / "metrics.jsonl")
    sc.write_jsonl(sc.make_run("overfitting", 2, n_train=100), tmp_path / "b" / "metrics.jsonl")
    out = tmp_path / "report"
    invoke("check", tmp_path / "a", tmp_path / "b", "--report", out, "-j", "1")
    assert not (out / "compare.json").exists()


def test_nan_free_json_on_runs_that_break(tmp_path):
    a = result_of("a", [1, 2, 3], [1.0, float("nan"), float("inf")], verdict="diverged", hparams={"lr": 1.0})
    b = result_of("b", [1, 2, 3], [1.0, 0.8, 0.6], hparams={"lr": float("inf")})
    from losslint.report.compare import render_json

    doc = json.loads(render_json(compare([a, b]), []))
    assert [r["run"] for r in doc["runs"]] == ["b", "a"]
    assert doc["runs"][1]["value_at_stop"] == 1.0 and not math.isnan(doc["runs"][0]["value_at_stop"])


# -- the real-world corpora -----------------------------------------------------------------------------------------

def test_realworld_wandb_and_mlflow_hyperparameters_show_in_the_json():
    from realworld_path import REALWORLD, realworld

    trees = [REALWORLD / "wandb", REALWORLD / "mlflow", REALWORLD.parent / "realworld-labeled" / "wandb",
             REALWORLD.parent / "realworld-labeled" / "mlflow"]
    trees = [realworld(t) for t in trees if t.exists() or t == trees[0]]
    runs, _ = discover.load(trees)
    expected = {r.path: flat_hparams(r.hparams) for r in runs if r.format in ("wandb", "mlflow") and r.hparams}
    assert {r.format for r in runs if r.path in expected} == {"wandb", "mlflow"}
    doc = json.loads(invoke("compare", *trees, "--format", "json", "-j", "2").stdout)
    shown = {r["path"]: r["hyperparameters"] for r in doc["runs"]}
    for path, flat in expected.items():
        assert shown[path] == json.loads(json.dumps(flat)), path  # every key, typed and flattened
    # the DA6401 numpy-FFN sweep: its W&B config is a real sweep's, its keys vary
    sweep = [r for r in doc["runs"] if "da6401-numpy-ffn-sweep" in r["path"]]
    assert len(sweep) == 4 and all(isinstance(r["hyperparameters"].get("learning_rate"), float) for r in sweep)
    assert "learning_rate" in {e["hyperparameter"] for e in doc["effects"]}


def test_names_from_logs_cannot_break_the_markdown_or_the_terminal(tmp_path):
    from losslint.report.compare import markdown, render_text

    runs = [result_of(f"evil|name\n# heading {i} \x1b[31m", [1, 2], [1.0, 0.5 + i],
                      hparams={"k|ey\n": i, "opt": "<script>" if i % 2 else "<b>"}) for i in range(4)]
    c = compare(runs)
    assert "opt" in c.varying
    md = markdown(c, [])
    assert "\n# heading" not in md and "<script>" not in md and "&lt;script&gt;" in md and "evil\\|name" in md
    text = render_text(c, [])
    assert "\x1b" not in text and "\n# heading" not in text


def test_nothing_to_compare(tmp_path):
    # a folder with no training log is an input that could not be checked (exit 2, as for `check`)
    result = invoke("compare", tmp_path, "-j", "1")
    assert result.exit_code == 2 and "no runs found" in result.stdout
    assert f"{tmp_path}: no training log found" in result.output
    result = invoke("compare", tmp_path, "--format", "markdown", "-j", "1")
    assert "No runs found" in result.stdout


def test_jobs_do_not_change_the_comparison(ray_sweep):
    one = invoke("compare", ray_sweep, "--format", "json", "-j", "1").stdout
    two = invoke("compare", ray_sweep, "--format", "json", "-j", "2").stdout
    assert one == two
