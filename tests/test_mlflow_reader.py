"""MLflow file-store reader. Expected values come from MANIFEST.md and from the metric files parsed here."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from losslint.errors import ReadError
from losslint.io.mlflow import READER
from reader_support import read_grouped
from realworld_path import REALWORLD, tree_digests

SWAHILI = REALWORLD / "mlflow" / "swahili-stt-keras-autolog"
SWAHILI_RUN = SWAHILI / "mlruns" / "1" / "ed05f9cd599442fe9a0c9222184710b8"


def read_tree(root: Path) -> list:
    return read_grouped(READER, root)


def make_store(root: Path, metrics: dict[str, str], params: dict[str, str] | None = None,
               meta: str = "run_id: abc\nrun_name: brave-fox\nstatus: 3\nlifecycle_stage: active\n") -> Path:
    experiment = root / "mlruns" / "7"
    run = experiment / "0123456789abcdef0123456789abcdef"
    (experiment / "tags").mkdir(parents=True)
    (experiment / "meta.yaml").write_text("experiment_id: '7'\nname: demo\nlifecycle_stage: active\n")
    (experiment / "tags" / "mlflow.note.content").write_text("experiment-level tag, not a run")
    (run / "params").mkdir(parents=True)
    (run / "tags").mkdir()
    (run / "meta.yaml").write_text(meta)
    for name, text in metrics.items():
        path = run / "metrics" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, text in (params or {}).items():
        (run / "params" / name).write_text(text)
    return run


def test_realworld_keras_autolog_run():
    if not SWAHILI.exists():
        pytest.skip("real-world data not present")
    (run,) = read_tree(SWAHILI)
    assert run.name == SWAHILI_RUN.name
    assert run.format == "mlflow"
    # MANIFEST: metrics/loss with 10 epoch points; the file's own lines give values and times
    lines = [line.split() for line in (SWAHILI_RUN / "metrics" / "loss").read_text().splitlines()]
    loss = run.series("train/loss")
    assert len(loss) == 10
    assert loss["step"].tolist() == [int(f[2]) for f in lines]
    assert loss["value"].tolist() == [float(f[1]) for f in lines]
    assert loss["wall_time"].tolist() == [int(f[0]) / 1000 for f in lines]
    assert run.hparams["epochs"] == 10 and run.hparams["opt_learning_rate"] == 0.002
    assert run.hparams["opt_nesterov"] is True and run.hparams["batch_size"] is None
    assert run.metadata["status"] == "FINISHED"
    assert run.metadata["run_id"] == SWAHILI_RUN.name
    assert run.metadata["tags"]["mlflow.autologging"] == "tensorflow"


def test_realworld_discovery_finds_one_run_and_changes_nothing():
    if not SWAHILI.exists():
        pytest.skip("real-world data not present")
    from losslint import discover

    before = tree_digests(SWAHILI)
    runs, errors = discover.load(SWAHILI)
    assert errors == []
    assert [(r.name, r.format) for r in runs] == [("mlruns/1/ed05f9cd599442fe9a0c9222184710b8", "mlflow")]
    assert tree_digests(SWAHILI) == before


def test_nested_names_legacy_lines_and_non_finite_values(tmp_path):
    make_store(tmp_path, {
        "train/loss": "1700000000000 2.5 0\n1700000001000 nan 1\n1700000002000 inf 2\n",
        "val_loss": "1700000000500 3.0\n1700000002500 2.0\n",  # MLflow < 1.0: no step column
    }, params={"lr": "1e-3", "optimizer": "adam", "layers": "4"})
    (run,) = read_tree(tmp_path)
    train = run.series("train/loss")
    assert train["tag"].iloc[0] == "train/loss"
    assert train["step"].tolist() == [0, 1, 2]
    assert train["value"].iloc[0] == 2.5 and math.isnan(train["value"].iloc[1]) and math.isinf(train["value"].iloc[2])
    val = run.series("eval/loss")
    assert val["step"].tolist() == [0, 1] and val["wall_time"].tolist() == [1700000000.5, 1700000002.5]
    assert run.hparams == {"lr": 0.001, "optimizer": "adam", "layers": 4}
    assert run.metadata["run_name"] == "brave-fox"


def test_malformed_metric_line_is_one_line_error(tmp_path):
    make_store(tmp_path, {"loss": "1700000000000 2.5 0\n1700000001000 abc 1\n1700000002000 1.0 2\n"})
    with pytest.raises(ReadError) as info:
        read_tree(tmp_path)
    assert info.value.line == 2 and info.value.path.endswith("metrics/loss")
    assert "\n" not in info.value.text


@pytest.mark.parametrize("tail", ["17000000", "1700000002000 1.5"])
def test_cut_last_line_is_a_note(tmp_path, tail):
    make_store(tmp_path, {"loss": "1700000000000 2.5 0\n1700000001000 2.0 1\n" + tail})
    (run,) = read_tree(tmp_path)
    assert run.series("train/loss")["value"].tolist() == [2.5, 2.0]
    assert any("cut off" in note for note in run.notes)


def test_failed_and_deleted_runs_are_noted(tmp_path):
    make_store(tmp_path, {"loss": "1 2.0 0\n"}, meta="run_id: abc\nstatus: 4\nlifecycle_stage: deleted\n")
    (run,) = read_tree(tmp_path)
    assert run.metadata["status"] == "FAILED"
    assert any("FAILED" in note for note in run.notes) and any("deleted" in note for note in run.notes)


def test_run_without_metrics_is_refused(tmp_path):
    make_store(tmp_path, {}, params={"lr": "0.1"})
    with pytest.raises(ReadError, match="without metrics"):
        read_tree(tmp_path)


def test_experiment_files_are_not_claimed(tmp_path):
    run = make_store(tmp_path, {"loss": "1 2.0 0\n"})
    experiment = run.parent
    assert not READER.can_read(experiment / "meta.yaml")
    assert not READER.can_read(experiment / "tags" / "mlflow.note.content")
    assert READER.can_read(run / "meta.yaml") and READER.run_key(run / "metrics" / "loss") == run


def test_params_are_typed_as_every_other_hyperparameter(tmp_path):
    # One rule for text hyperparameters (schema.typed_hparam), whether they come from MLflow, Ray Tune or argparse:
    # numbers, booleans and None get their type back; anything else, "1_000" included, stays the text it was.
    from losslint.schema import flat_hparams, typed_hparam

    params = {"lr": "1e-3", "epochs": "10", "nesterov": "true", "clip": "None", "patience": "Infinity",
              "width": "1_000", "act": "relu", "empty": ""}
    make_store(tmp_path, {"loss": "1700000000000 2.5 0\n"}, params=params)
    (run,) = read_tree(tmp_path)
    assert run.hparams == {"lr": 0.001, "epochs": 10, "nesterov": True, "clip": None, "patience": math.inf,
                           "width": "1_000", "act": "relu", "empty": ""}
    assert run.hparams == {key: typed_hparam(text) for key, text in params.items()} == flat_hparams(params)
