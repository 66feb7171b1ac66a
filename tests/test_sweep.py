"""The held-out test split (ground truth for the recommended stop, issue 12 item 6): `fixtures/finetune.py` writes it,
losslint never reads it, `benchmarks/sweep.py` draws the sweep, `benchmarks/quality.py --sweep` scores test regret.

Fast: no sweep is run here; one fine-tune of a few steps at most. Training floats are never compared exactly."""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from losslint.early_stop import OnlineStop

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path, name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


quality = load(ROOT / "benchmarks" / "quality.py", "bench_quality_sweep")


# ---------------------------------------------------------------------------------------------- test regret


def test_test_regret_is_relative_direction_aware_and_takes_the_last_evaluation_before_the_stop():
    steps = np.array([10, 20, 30, 40, 50])
    accuracy = np.array([0.5, 0.8, 0.9, 0.85, 0.72])  # best 0.9 at step 30
    at_stop, restored = quality.test_regret(steps, accuracy, "max", 45, restored_step=20)
    assert at_stop == pytest.approx((0.9 - 0.85) / 0.9)  # step 45: the evaluation of step 40
    assert restored == pytest.approx((0.9 - 0.8) / 0.9)
    assert quality.test_regret(steps, accuracy, "max", 30) == (0.0, 0.0)
    assert quality.test_regret(steps, accuracy, "max", None)[0] == pytest.approx((0.9 - 0.72) / 0.9)  # no stop
    assert quality.test_regret(steps, accuracy, "max", 5)[0] == pytest.approx((0.9 - 0.5) / 0.9)  # before the first
    perplexity = np.array([9.0, 4.0, 5.0])  # lower is better: best 4
    assert quality.test_regret(np.array([1, 2, 3]), perplexity, "min", 3)[0] == pytest.approx(0.25)
    assert quality.relative_regret(0.0, 0.0, "min") == 0.0 and str(quality.relative_regret(2.0, 2.0, "max")) == "0.0"


def _write_run(folder: Path, eval_loss: list[float], test_accuracy: list[float]) -> None:
    """A JSONL run (eval every 10 steps) with a test_split.json beside its format folder, as finetune.py lays out."""
    (folder / "jsonl").mkdir(parents=True)
    lines = []
    for i, loss in enumerate(eval_loss):
        step = 10 * (i + 1)
        lines.append({"step": step, "train/loss": 2.0 * 0.8 ** i})
        lines.append({"step": step, "eval/loss": loss, "eval/accuracy": 0.5})
    (folder / "jsonl" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    document = {"kind": "losslint-finetune-test-split", "version": 1, "task": "classify", "metric": "accuracy",
                "direction": "max", "examples": 8,
                "evaluations": [{"step": 10 * (i + 1), "loss": 0.0, "accuracy": a}
                                for i, a in enumerate(test_accuracy)]}
    (folder / "test_split.json").write_text(json.dumps(document, indent=1) + "\n")


def test_test_regret_rows_score_every_method_at_its_stop_on_a_hand_made_sweep(tmp_path):
    # eval loss: a clear U, best at step 60; test accuracy best (0.90) at step 70, 0.60 at the end (step 200)
    eval_loss = [1.0, 0.8, 0.6, 0.5, 0.45, 0.40, 0.41, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]
    test_accuracy = [0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.90] + [0.89 - 0.02 * i for i in range(13)]
    _write_run(tmp_path / "000-classify", eval_loss, test_accuracy)
    cases = quality.sweep_cases(tmp_path, jobs=1)
    assert [c.name for c in cases] == ["000-classify/jsonl"] and cases[0].label == "classify"
    rows, used, _, nonfinite = quality.test_regret_rows(cases)
    assert used == 1 and nonfinite == 0
    early = cases[0].result.early_stop
    steps = np.arange(10, 201, 10)
    # the callbacks' online stop, fed the evaluations one at a time: after the U's bottom, before the end
    online = OnlineStop().replay(steps, np.array(eval_loss))
    assert online.stop and 60 < steps[online.index] < 200 and steps[online.best_index] == 60
    for method in rows:
        stop = {"losslint": early.recommended_stop_step, "end": None, quality.ONLINE: int(steps[online.index])}.get(
            method, (early.baselines.get(method) or {}).get("stop_step"))
        index = len(steps) - 1 if stop is None else int(np.searchsorted(steps, stop, side="right")) - 1
        assert rows[method].regrets == [pytest.approx((0.90 - test_accuracy[index]) / 0.90)], method
        # restore-best keeps the best eval loss up to the stop: step 60 once the stop is past it
        best_upto = int(np.argmin(eval_loss[: index + 1]))
        assert rows[method].kept == [pytest.approx((0.90 - test_accuracy[best_upto]) / 0.90)], method
        assert rows[method].saved == [pytest.approx(0.0 if stop is None else (200 - stop) / (200 - 10))], method
    assert early.recommended_stop_step == 60  # the U's bottom: test regret (0.90 - 0.88) / 0.90
    assert rows["end"].regrets == [pytest.approx((0.90 - 0.65) / 0.90)]
    lines, targets = quality.sweep_report(tmp_path, jobs=1)
    assert any(line.startswith("test regret on 1 runs") for line in lines)
    assert [t[0] for t in targets][0] == "sweep: losslint mean test regret < every baseline's"


def test_a_test_metric_turning_non_finite_is_counted_apart(tmp_path):
    eval_loss = [1.0, 0.8, 0.6, 0.5, 0.45, 0.40, 0.5, 0.7, 0.9, 1.1]
    _write_run(tmp_path / "001-lm", eval_loss, [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, float("nan"), 0.1, 0.1, 0.1])
    rows, used, before, nonfinite = quality.test_regret_rows(quality.sweep_cases(tmp_path, jobs=1))
    assert used == 0 and nonfinite == 1 and rows["losslint"].regrets == []
    assert before.get("losslint") == 1 and before.get("end", 0) == 0


# ---------------------------------------------------------------------------------------------- the sweep's grid


def test_sweep_settings_are_reproducible_and_cover_the_grid():
    sweep = load(ROOT / "benchmarks" / "sweep.py", "bench_sweep")
    settings = sweep.sweep_settings(120, seed=0)
    assert settings == sweep.sweep_settings(120, seed=0)
    assert settings[:10] == sweep.sweep_settings(10, seed=0)  # a smaller sweep is a prefix of a larger one
    assert len({s["name"] for s in settings}) == 120
    assert {s["task"] for s in settings} == {"classify", "lm", "reverse"}
    for key in ("learning_rate", "batch_size", "label_noise", "steps", "n_train"):
        assert len({s[key] for s in settings}) >= 3, key
    assert any(s["label_noise"] > 0 for s in settings if s["task"] != "classify")
    for s in settings:
        spe = -(-s["n_train"] // s["batch_size"])
        assert s["epochs"] * spe >= s["steps"] and 2 <= s["eval_steps"] <= s["steps"] // 10
    assert all(s["steps"] <= 8 for s in sweep.sweep_settings(5, seed=0, max_steps=8))


# ---------------------------------------------------------------------------------------------- finetune.py


def finetune():
    pytest.importorskip("torch")
    return load(ROOT / "fixtures" / "finetune.py", "losslint_fixture_finetune")


@pytest.mark.parametrize("task", ["classify", "lm", "reverse"])
def test_the_test_split_is_new_disjoint_and_leaves_training_data_alone(task):
    import dataclasses

    import torch

    ft = finetune()
    size = dataclasses.replace(ft.SIZES["quick"], eval_examples=64)
    scenario = dataclasses.replace(ft.SCENARIOS["overfit"], task=task, n_train=128)
    chains = ft.make_chains(size)
    plain = ft.make_task_data(task, scenario, size, chains, data_seed=5)
    data = ft.add_test_split(plain, task, size, chains, data_seed=5, n_test=64)
    for name in ("train_x", "train_y", "eval_x", "eval_y"):
        assert torch.equal(getattr(plain, name), getattr(data, name)), name
    assert data.test_x.shape == (64, *plain.eval_x.shape[1:]) and data.test_y.shape == (64, *plain.eval_y.shape[1:])

    def rows(x, y):
        return [tuple(r) for r in (torch.cat([x, y[:, -1:]], 1) if task == "lm" else x).tolist()]

    test_rows = rows(data.test_x, data.test_y)
    assert len(set(test_rows)) == 64
    assert not set(test_rows) & set(rows(plain.train_x, plain.train_y) + rows(plain.eval_x, plain.eval_y))
    again = ft.add_test_split(plain, task, size, chains, data_seed=5, n_test=64)
    assert torch.equal(again.test_x, data.test_x)  # its own seeded generator


def test_token_noise_touches_only_sequence_training_targets():
    import dataclasses

    import torch

    ft = finetune()
    size = dataclasses.replace(ft.SIZES["quick"], eval_examples=64)
    chains = ft.make_chains(size)
    scenario = dataclasses.replace(ft.SCENARIOS["overfit"], task="lm", n_train=128, label_noise=0.3)
    plain = ft.make_task_data("lm", scenario, size, chains, data_seed=5)
    noisy = ft.add_token_noise(plain, "lm", size.vocab, 0.3, data_seed=5)
    changed = (noisy.train_y != plain.train_y).float().mean().item()
    assert 0.15 < changed < 0.35  # 30% replaced by a uniform token, ~1/32 of them by the same one
    assert torch.equal(noisy.eval_y, plain.eval_y) and torch.equal(noisy.train_x, plain.train_x)
    assert ft.add_token_noise(plain, "classify", size.vocab, 0.3, 5) is plain


def test_finetune_writes_the_test_split_and_show_does_not_see_it(tmp_path):
    finetune()
    out = tmp_path / "runs"
    subprocess.run([sys.executable, str(ROOT / "fixtures" / "finetune.py"), "--scenario", "overfit", "--size", "quick",
                    "--max-steps", "24", "--formats", "jsonl", "--test-examples", "48", "--threads", "1",
                    "--out", str(out), "--pretrained-cache", str(tmp_path / "cache")],
                   check=True, cwd=ROOT, capture_output=True)
    document = json.loads((out / "overfit" / "test_split.json").read_text(encoding="utf-8"))
    assert document["kind"] == "losslint-finetune-test-split" and document["version"] == 1
    assert (document["task"], document["metric"], document["direction"], document["examples"]) == \
        ("classify", "accuracy", "max", 48)
    eval_steps = sorted({e["step"] for e in map(json.loads, (out / "overfit" / "jsonl" / "metrics.jsonl")
                                                .read_text(encoding="utf-8").splitlines()) if "eval/loss" in e})
    assert [e["step"] for e in document["evaluations"]] == eval_steps == [12, 24]
    for evaluation in document["evaluations"]:
        assert set(evaluation) == {"step", "loss", "accuracy"} and math.isfinite(evaluation["loss"])
        assert 0 <= evaluation["accuracy"] <= 1 and (evaluation["accuracy"] * 48) % 1 == pytest.approx(0, abs=1e-9)
    info = json.loads((out / "overfit" / "run_info.json").read_text(encoding="utf-8"))
    assert info["test_split"] == "test_split.json"
    assert list((tmp_path / "cache").glob("pretrained-quick-24-torch*.pt"))  # cached for the next call

    from click.testing import CliRunner

    from losslint.cli import main

    shown = CliRunner().invoke(main, ["show", str(out), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    runs = json.loads(shown.stdout)
    assert [r["run"] for r in runs] == ["overfit/jsonl"]
    assert all(not m.startswith("test") for r in runs for m in r["metrics"])
    assert all("test_split" not in s for r in runs for s in r["sources"])
    assert "test_split" not in shown.output
    text = CliRunner().invoke(main, ["show", str(out)])
    assert text.exit_code == 0 and "test" not in text.output.replace(str(tmp_path), "")
