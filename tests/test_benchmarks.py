"""Smoke tests of the benchmark harnesses: their scoring arithmetic, their inputs, and a `--quick` run.
Timings are printed by the harnesses, never asserted here."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


quality = load("quality")
bench = load("bench")


def test_confusion_and_scores_match_hand_counts():
    labels = ("good-fit", "overfitting", "diverged")
    truth = ["good-fit", "good-fit", "overfitting", "overfitting", "overfitting", "diverged"]
    pred = ["good-fit", "overfitting", "overfitting", "overfitting", "good-fit", "weird"]
    matrix = quality.confusion(truth, pred, labels)
    assert matrix.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 0, 1]]
    by = {s.label: s for s in quality.scores(matrix, labels)}
    assert by["good-fit"].precision == pytest.approx(1 / 2) and by["good-fit"].recall == pytest.approx(1 / 2)
    assert by["overfitting"].precision == pytest.approx(2 / 3) and by["overfitting"].recall == pytest.approx(2 / 3)
    assert by["diverged"].f1 == 0.0 and by["diverged"].support == 1
    assert quality.macro_f1(by.values()) == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)


def test_macro_f1_ignores_labels_absent_from_truth_and_predictions():
    labels = ("good-fit", "overfitting", "no-signal")
    matrix = quality.confusion(["good-fit", "overfitting"], ["good-fit", "overfitting"], labels)
    assert quality.macro_f1(quality.scores(matrix, labels)) == 1.0


def test_regret_is_relative_and_direction_aware():
    loss = np.array([2.0, 1.0, 0.5, 0.8, 1.0])
    at_stop, kept = quality.regret_at(loss, 3, "min")
    assert at_stop == pytest.approx((0.8 - 0.5) / 0.5) and kept == 0.0
    assert quality.regret_at(loss, 1, "min") == pytest.approx(((1.0 - 0.5) / 0.5, (1.0 - 0.5) / 0.5))
    accuracy = np.array([0.5, 0.8, 0.9, 0.85])
    assert quality.regret_at(accuracy, 3, "max")[0] == pytest.approx((0.9 - 0.85) / 0.9)
    assert quality.saved_share(0, 1000, 250) == pytest.approx(0.75)
    assert quality.saved_share(0, 1000, 1000) == 0.0


def test_hf_tree_input_is_read_as_trainer_state_runs(tmp_path):
    pytest.importorskip("losslint.io.trainer_state", reason="trainer_state reader not written yet")
    from losslint.discover import load as load_runs

    bench.write_hf_tree(tmp_path, 6)
    runs, errors = load_runs([tmp_path])
    assert errors == [] and len(runs) == 6
    assert {r.format for r in runs} == {"trainer_state"}
    state = json.loads((tmp_path / "run-0000" / "trainer_state.json").read_text())
    logged_losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    run0 = next(r for r in runs if r.name == "run-0000")
    np.testing.assert_allclose(run0.series("train/loss")["value"].to_numpy(), logged_losses)


@pytest.mark.slow  # five fresh interpreters: ~10 s of CPU, more wall time on a busy machine
def test_quick_bench_readers_agree_row_for_row(tmp_path):
    pytest.importorskip("losslint.io.tensorboard", reason="TensorBoard reader not written yet")
    pytest.importorskip("tbparse")
    proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), "--quick", "--reps", "1",
                           "--sections", "tb,jsonl", "--inputs", str(tmp_path)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "ERROR" not in out
    identical = next(line for line in out.splitlines() if "rows identical" in line)
    assert identical.rstrip().endswith("PASS"), out
    rows = {line.split()[1]: line.split() for line in out.splitlines()
            if line.startswith(("tb ", "jsonl ")) and len(line.split()) > 2}
    assert rows["jsonl-losslint"][-1] == rows["jsonl-pandas"][-1]  # same row digest as pandas.read_json
    expected_tb = bench.QUICK_STEPS + 2 * (bench.QUICK_STEPS // bench.EVAL_EVERY)
    assert rows["tb-losslint"][2] == f"{expected_tb:,}"


@pytest.mark.slow  # a moto server, a 2-worker LocalCluster and two checks: ~30 s on a busy two-core machine
def test_remote_section_prints_the_dask_over_local_ratio(tmp_path):
    for module in ("moto.server", "s3fs", "distributed"):
        pytest.importorskip(module)
    proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), "--sections", "remote", "--runs", "12",
                           "--reps", "1", "--inputs", str(tmp_path)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" not in proc.stdout, proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("remote ")]
    assert [row[1] for row in rows] == ["remote-local-jobs2", "remote-dask-s3"] and all(r[2] == "12" for r in rows)
    assert "Dask executor on the bucket / --jobs 2 on local disk = " in proc.stdout


def test_quality_scores_every_synthetic_run_once(tmp_path):
    pytest.importorskip("losslint.engine", reason="engine not written yet")
    cases = quality.synthetic_cases(1, 0, via_files=False, jobs=1)
    assert sorted(c.label for c in cases) == sorted(quality.VERDICTS)
    assert all(c.result is not None and c.result.verdict in quality.VERDICTS for c in cases)
    panels = []
    lines, targets = quality.corpus_report("synthetic", cases, 0.95, 5, synthetic=True, panels=panels)
    text = "\n".join(lines)
    assert "confusion matrix" in text and "macro-F1" in text
    matrix_rows = [line.split() for line in lines if line.startswith("  ") and line.split()[:1]
                   and line.split()[0] in quality.VERDICTS and len(line.split()) == 8]
    assert sum(int(x) for row in matrix_rows for x in row[1:]) == len(cases)
    assert [t[0] for t in targets] == [
        "synthetic: macro-F1 >= 0.95",
        "synthetic: losslint mean regret <= best baseline's while saving more",
        "synthetic: losslint median regret <= best baseline's while saving more",
        "synthetic: no baseline has both lower regret (mean and median) and more compute saved"]
    # the trade-off table re-checks the runs at every tolerance, the default (1%) among them
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("trade-off"))) + 2:][:len(quality.TOLERANCES)]
    assert [float(row.split()[0]) for row in table] == list(quality.TOLERANCES)
    # the figure gets one panel per corpus, with the sweep's points
    (panel,) = panels
    assert [tolerance for tolerance, _ in panel[2]] == list(quality.TOLERANCES)
    quality.tradeoff_figure(panels, tmp_path / "tradeoff.png")
    assert (tmp_path / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _result_with_stops(values, losslint_stop, baseline_stops):
    from losslint.findings import EarlyStop, Result
    from losslint.schema import Run, frame_from_records

    steps = [100 * (i + 1) for i in range(len(values))]
    records = [("eval/loss", s, v, float("nan"), float("nan")) for s, v in zip(steps, values)]
    records += [("train/loss", s, 1.0, float("nan"), float("nan")) for s in range(0, 1001, 50)]
    run = Run("r", "synthetic", [], frame_from_records(records))
    early = EarlyStop("eval/loss", "default", best_step=None, recommended_stop_step=losslint_stop,
                      baselines={name: {"stop_step": step} for name, step in baseline_stops.items()})
    return Result(run=run, verdict="overfitting", findings=[], early_stop=early)


def test_stop_rows_score_each_method_at_its_stop_step():
    values = [3.0, 2.0, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]  # best 1.0 at step 300; run spans steps 0..1000
    result = _result_with_stops(values, 400, {"hf_patience_1": 400, "prechelt_gl5": None})
    rows, used, _, nonfinite = quality.stop_rows([quality.Case("r", "overfitting", "u", result)])
    assert used == 1 and nonfinite == 0
    assert rows["losslint"].regrets == [pytest.approx(0.2)] and rows["losslint"].kept == [0.0]
    assert rows["losslint"].saved == [pytest.approx(0.6)]
    # a baseline that never fires stops at the last evaluation and saves nothing
    assert rows["prechelt_gl5"].regrets == [pytest.approx(3.0)] and rows["prechelt_gl5"].saved == [0.0]
    assert rows["end"].regrets == [pytest.approx(3.0)] and rows["end"].saved == [0.0]


def test_stop_rows_count_runs_turning_nan_separately():
    values = [3.0, 2.0, 1.0, float("nan"), float("nan")]
    result = _result_with_stops(values, 300, {"hf_patience_1": None})
    rows, used, before_nan, nonfinite = quality.stop_rows([quality.Case("r", "diverged", "nan", result)])
    assert used == 0 and nonfinite == 1
    assert before_nan.get("losslint") == 1 and before_nan.get("hf_patience_1", 0) == 0
    assert rows["losslint"].regrets == []


def test_dominated_by_names_the_baselines_better_on_both_counts():
    def row(method, regrets, saved):
        return quality.StopRow(method, list(regrets), list(regrets), list(saved), ["good-fit"] * len(regrets))

    rows = {"losslint": row("losslint", [0.01, 0.02, 0.03], [0.2, 0.2, 0.2]),
            "cheap": row("cheap", [0.0, 0.01, 0.02], [0.5, 0.5, 0.5]),     # lower regret and more saved: dominates
            "greedy": row("greedy", [0.5, 0.5, 0.5], [0.9, 0.9, 0.9]),     # saves more, at a higher regret
            "end": row("end", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])}            # lower regret, saves nothing
    assert quality.dominated_by(rows) == ["cheap"]
    del rows["cheap"]
    assert quality.dominated_by(rows) == []


def test_bench_report_section_prints_the_report_to_check_ratio(tmp_path):
    pytest.importorskip("losslint.engine")
    corpus = Path(__file__).resolve().parent.parent / "fixtures" / "runs" / "overfit"
    proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), "--sections", "report", "--reps", "1",
                           "--corpus", str(corpus)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if "the check, --jobs 2" in line)
    assert "x wall" in line and ("PASS" in line or "FAIL" in line), proc.stdout


def test_the_baseline_command_runs_the_baseline_tree_from_the_repository_root(tmp_path):
    """`--baseline SRC`: the command must import SRC's losslint even where the working directory holds another
    (`python -c` puts the working directory ahead of PYTHONPATH)."""
    fake = tmp_path / "losslint"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "cli.py").write_text("def main():\n    print('baseline tree')\n")
    root = Path(__file__).resolve().parent.parent
    assert (root / "losslint" / "cli.py").is_file()
    proc = subprocess.run(bench.losslint_command(tmp_path), cwd=root, env=bench.child_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "baseline tree", proc.stderr


def test_bench_sweep_tree_is_a_sweep_compare_reads(tmp_path):
    from losslint.compare import compare, sweep_of
    from losslint.engine import check_paths

    bench.write_sweep_tree(tmp_path, 12)
    results, errors = check_paths(tmp_path, jobs=1)
    assert errors == [] and len(results) == 12
    assert len(sweep_of(results)) == 12  # every run has the same settings keys, and they vary
    comparison = compare(results)
    assert {e.hyperparameter for e in comparison.effects} >= {"learning_rate", "label_noise"}


def test_bench_compare_section_prints_the_compare_to_check_ratio(tmp_path):
    pytest.importorskip("losslint.engine")
    proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), "--quick", "--sections", "compare",
                           "--reps", "1", "--inputs", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for what in ("--format json", "-o DIR"):
        line = next(line for line in proc.stdout.splitlines() if f"`compare` {what}" in line)
        assert "x check" in line and ("PASS" in line or "FAIL" in line), proc.stdout


def test_many_metric_event_file_is_what_tbparse_and_losslint_read(tmp_path):
    # the `mem` section's numpy-built event file: same rows from tbparse and from losslint, CRCs valid, across the
    # step varint's 1-, 2- and 3-byte widths (steps 1..16,500)
    pytest.importorskip("tbparse")
    from tbparse import SummaryReader

    from losslint.io.tensorboard.reader import parse_event_file

    path = bench.write_many_metrics(tmp_path / "run" / "events.out.tfevents.1.bench", 2, 16_500, chunk_steps=7_000)
    oracle = SummaryReader(str(path), pivot=False, event_types={"scalars"}).scalars
    scalars = parse_event_file(path, verify=True)  # checksums checked: a bad CRC is a ReadError
    tags = np.array(scalars.tags, dtype=object)[scalars.codes]
    assert len(oracle) == len(tags) == 2 * 16_500
    assert set(oracle["tag"]) == set(bench.many_metric_tags(2))
    assert (bench.rows_digest(tags, scalars.steps, scalars.values)
            == bench.rows_digest(oracle["tag"], oracle["step"], oracle["value"]))
