"""CSV logger reader: real Lightning and Keras CSVLogger files, and hand-written edge cases."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslint.errors import ReadError
from losslint.io.csvlog import READER
from reader_support import read_damaged
from realworld_path import REALWORLD, digests, realworld

KERAS_APPENDED = REALWORLD / "keras_csv" / "brain-tumor-cnn-appended" / "training_log.csv"
KERAS_TOMATO = REALWORLD / "keras_csv" / "tomato-leaf-cnn" / "training_log.csv"
LIGHTNING = REALWORLD / "lightning_csv" / "slm-training"
WANDB_EXPORT = REALWORLD / "wandb" / "nanogpt-ui-chart-export" / "wandb_export.csv"


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_one(path: Path):
    runs = READER.read([path], "run")
    assert len(runs) == 1
    return runs[0]


# --- Keras -----------------------------------------------------------------------------------------------------


def test_keras_appended_fits_are_split_into_runs():
    path = realworld(KERAS_APPENDED)
    rows = rows_of(path)
    epochs = [int(r["epoch"]) for r in rows]
    starts = [0] + [i for i in range(1, len(epochs)) if epochs[i] < epochs[i - 1]]
    assert len(starts) == 4  # the manifest: four fits appended into one file
    runs = READER.read([path], "keras")
    assert [r.name for r in runs] == ["keras/fit-1", "keras/fit-2", "keras/fit-3", "keras/fit-4"]
    for run, start, stop in zip(runs, starts, starts[1:] + [len(rows)]):
        fit = rows[start:stop]
        val = run.series("eval/loss")
        assert val["step"].tolist() == [int(r["epoch"]) for r in fit]
        assert val["value"].tolist() == [float(r["val_loss"]) for r in fit]
        assert run.series("train/loss")["value"].tolist() == [float(r["loss"]) for r in fit]
        assert run.series("train/learning_rate")["value"].tolist() == [float(r["learning_rate"]) for r in fit]
        assert any("4 Keras fits" in n for n in run.notes)
        assert run.metadata["logger"] == "keras"


def test_keras_single_fit_steps_are_epochs():
    path = realworld(KERAS_TOMATO)
    rows = rows_of(path)
    run = read_one(path)
    assert set(run.metrics()) == {"train/loss", "train/accuracy", "eval/loss", "eval/accuracy"}
    acc = run.series("eval/accuracy")
    assert acc["step"].tolist() == list(range(len(rows)))
    assert acc["value"].tolist() == [float(r["val_accuracy"]) for r in rows]
    assert acc["epoch"].tolist() == [float(r["epoch"]) for r in rows]


# --- Lightning -------------------------------------------------------------------------------------------------


def test_lightning_sparse_rows():
    path = realworld(LIGHTNING / "version_0" / "metrics.csv")
    rows = rows_of(path)
    run = read_one(path)
    step_rows = [r for r in rows if r["train_loss_step"]]
    loss = run.series("train/loss")
    assert (loss["tag"] == "train_loss_step").all()
    assert loss["step"].tolist() == [int(r["step"]) for r in step_rows]
    assert loss["value"].tolist() == [float(r["train_loss_step"]) for r in step_rows]
    assert loss["epoch"].tolist() == [float(r["epoch"]) for r in step_rows]
    val_rows = [r for r in rows if r["val_loss"]]
    assert run.series("eval/loss")["value"].tolist() == [float(r["val_loss"]) for r in val_rows]
    assert len(val_rows) == 10  # epochs 0-9 (manifest)
    # no empty cell became a point
    assert len(run.data) == sum(1 for r in rows for k, v in r.items() if v and k not in ("step", "epoch"))
    assert run.metadata["logger"] == "lightning"


def test_lightning_resumed_version_starts_where_the_first_ended():
    first = read_one(realworld(LIGHTNING / "version_0" / "metrics.csv")).series("train/loss")
    resumed = read_one(realworld(LIGHTNING / "version_5" / "metrics.csv")).series("train/loss")
    assert resumed["step"].min() > first["step"].max()
    assert resumed["epoch"].min() == 10


def test_lightning_hparams_yaml_is_read(tmp_path):
    write(tmp_path, "epoch,step,train_loss\n0,9,1.5\n0,19,1.2\n", "metrics.csv")
    write(tmp_path, "lr: 0.001\nbatch_size: 32\n", "hparams.yaml")
    run = read_one(tmp_path / "metrics.csv")
    assert run.hparams == {"lr": 0.001, "batch_size": 32}
    write(tmp_path, "model: !!python/object:foo.Bar {}\n", "hparams.yaml")
    run = read_one(tmp_path / "metrics.csv")
    assert run.hparams == {} and any("hparams.yaml" in n for n in run.notes)


# --- W&B exports are someone else's ----------------------------------------------------------------------------


def test_wandb_export_is_declined_but_does_not_crash():
    path = realworld(WANDB_EXPORT)
    assert not READER.can_read(path)
    READER.read([path], "run")  # read directly it is a plain step-column CSV; it must not raise


def test_realworld_files_unchanged():
    paths = [realworld(KERAS_APPENDED), realworld(KERAS_TOMATO), *sorted(realworld(LIGHTNING).rglob("*.csv"))]
    before = digests(paths)
    for path in paths:
        READER.read([path], "run")
    assert digests(paths) == before


# --- can_read --------------------------------------------------------------------------------------------------


def test_can_read_needs_a_step_or_epoch_column(tmp_path):
    assert READER.can_read(write(tmp_path, "Step,loss\n1,2\n", "a.csv"))
    assert READER.can_read(write(tmp_path, '"global_step","loss"\n1,2\n', "b.csv"))
    assert READER.can_read(write(tmp_path, "\ufeffepoch,loss\n0,2\n", "bom.csv"))
    assert READER.can_read(write(tmp_path, "iteration\tloss\n1\t2\n", "c.tsv"))
    assert not READER.can_read(write(tmp_path, "name,score\nx,2\n", "d.csv"))
    assert not READER.can_read(write(tmp_path, "step,loss\n1,2\n", "e.txt"))
    assert not READER.can_read(write(tmp_path, "", "empty.csv"))
    (tmp_path / "bin.csv").write_bytes(b"step,\x00\xff\xfe\n")
    wide = ",".join(f"train/metric_number_{i}" for i in range(400)) + ",step\n"
    assert len(wide) > 4096 and READER.can_read(write(tmp_path, wide + ",".join(["1"] * 401) + "\n", "wide.csv"))
    # a NUL byte is in no CSV: binary or zero-filled, claimed so that reading it says so (never a silent skip)
    assert READER.can_read(tmp_path / "bin.csv")
    with pytest.raises(ReadError, match="NUL"):
        READER.read([tmp_path / "bin.csv"], "bin")
    (tmp_path / "u16.csv").write_bytes("step,loss\n1,2\n".encode("utf-16"))
    assert READER.can_read(tmp_path / "u16.csv")
    assert READER.read([tmp_path / "u16.csv"], "u16")[0].data["value"].tolist() == [2.0]


# --- values and errors -----------------------------------------------------------------------------------------


def test_written_nan_is_a_value_and_an_empty_cell_is_not(tmp_path):
    run = read_one(write(tmp_path, "step,loss,val_loss\n1,1.0,\n2,nan,0.5\n3,inf,NaN\n4,-inf,\n"))
    loss = run.series("train/loss")["value"].tolist()
    assert loss[0] == 1.0 and math.isnan(loss[1]) and loss[2] == math.inf and loss[3] == -math.inf
    val = run.series("eval/loss")
    assert val["step"].tolist() == [2, 3]
    assert val["value"].iloc[0] == 0.5 and math.isnan(val["value"].iloc[1])


def test_text_in_a_metric_column_is_skipped_with_one_note(tmp_path):
    run = read_one(write(tmp_path, "step,loss,phase\n1,1.0,warmup\n2,oops,main\n3,0.5,main\n4,bad,main\n"))
    assert run.series("train/loss")["step"].tolist() == [1, 3]
    notes = [n for n in run.notes if "`loss`" in n]
    assert len(notes) == 1 and "2 non-numeric" in notes[0] and "line 3" in notes[0]
    assert "phase" not in run.metrics()


def test_generic_step_column_and_wall_time(tmp_path):
    run = read_one(write(tmp_path, "iteration,wall_time,loss,val_acc\n100,1700000000,2.0,\n200,1700000010,1.0,0.8\n"))
    assert set(run.metrics()) == {"train/loss", "eval/accuracy"}
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [100, 200] and loss["wall_time"].tolist() == [1.7e9, 1.7e9 + 10]
    assert run.metadata["logger"] == "generic"


def test_tsv(tmp_path):
    run = read_one(write(tmp_path, "step\tloss\n1\t0.5\n2\t0.25\n", "log.tsv"))
    assert run.series("train/loss")["value"].tolist() == [0.5, 0.25]


def test_fractional_epoch_only_is_stepped_in_order(tmp_path):
    run = read_one(write(tmp_path, "epoch,loss\n0.5,2.0\n1.0,1.5\n1.5,1.0\n"))
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [0, 1, 2] and loss["epoch"].tolist() == [0.5, 1.0, 1.5]
    assert any("fractional" in n for n in run.notes)


def test_rows_without_a_step_are_left_out(tmp_path):
    run = read_one(write(tmp_path, "step,loss\n1,1.0\n,0.7\n\n3,0.5\n"))
    assert run.series("train/loss")["step"].tolist() == [1, 3]
    assert any("1 row(s) without `step`" in n and "line 3" in n for n in run.notes)


@pytest.mark.parametrize("text, fragment, line", [
    ("step,loss\n1,1.0\nabc,0.5\n", "not a number", 3),
    ("step,loss\n1,1.0\n2.5,0.5\n", "not a whole number", 3),
    ("step,loss\n1e30,1.0\n", "out of the int64 range", 2),
    ("step,loss\n1,1.0\n2,0.5\n3,0.4,extra,cells\n", "malformed CSV", 4),
    ("", "empty file", None),
    ("name,score\nx,1\n", "no step column", 1),
])
def test_bad_input_is_one_read_error(tmp_path, text, fragment, line):
    path = write(tmp_path, text)
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert fragment in info.value.message and info.value.line == line


def test_binary_garbage_is_a_read_error(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"step,loss\n1,2\n" + bytes(range(256)))
    with pytest.raises(ReadError, match="binary"):
        READER.read([path], "run")


def test_file_is_unchanged(tmp_path):
    path = write(tmp_path, "epoch,loss\n0,1\n1,0.5\n0,2\n")
    before = digests([path])
    READER.read([path], "run")
    assert digests([path]) == before


def test_two_csv_files_in_one_directory(tmp_path):
    a = write(tmp_path, "epoch,loss\n0,1.0\n1,0.5\n", "seed0.csv")
    b = write(tmp_path, "epoch,loss\n0,2.0\n1,1.5\n", "seed1.csv")
    runs = READER.read([a, b], "run")
    assert sorted(r.name for r in runs) == ["run/seed0", "run/seed1"]
    appended = write(tmp_path, "epoch,loss\n0,1.0\n1,0.5\n0,2.0\n", "seed2.csv")
    runs = READER.read([a, appended], "run")
    assert sorted(r.name for r in runs) == ["run/seed0", "run/seed2/fit-1", "run/seed2/fit-2"]


LIGHTNING_HEAD = b"epoch,step,train_loss_step,val_loss\n0,49,7.6,\n0,99,7.5,\n0,99,,7.2\n1,149,nan,\n"


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(LIGHTNING_HEAD)), junk=st.binary(max_size=8), at=st.integers(0, len(LIGHTNING_HEAD)))
def test_damaged_file_reads_or_is_one_read_error(cut, junk, at):
    """Cut anywhere, bytes spliced in anywhere: Runs or a ReadError, never another exception."""
    read_damaged(READER, LIGHTNING_HEAD, cut, junk, at, "metrics.csv")

# --- a Keras History saved with pandas: no step column -----------------------------------------------------------

HISTORY = {"loss": [0.9, 0.6, 0.45, 0.4], "accuracy": [0.6, 0.7, 0.8, 0.85],
           "val_loss": [0.8, 0.65, 0.6, 0.62], "val_accuracy": [0.62, 0.7, 0.74, 0.73],
           "learning_rate": [1e-3, 1e-3, 5e-4, 5e-4]}


@pytest.mark.parametrize("index", [True, False])
def test_history_saved_with_pandas_row_order_is_the_epoch(tmp_path, index):
    """`pd.DataFrame(history.history).to_csv(path)` (an unnamed index column) and `..., index=False` (none)."""
    import pandas as pd

    path = tmp_path / "history.csv"
    pd.DataFrame(HISTORY).to_csv(path, index=index)
    assert path.read_text().startswith(",loss," if index else "loss,")
    assert READER.can_read(path)
    run = READER.read([path], "run")[0]
    loss = run.series("eval/loss")
    assert loss["step"].tolist() == [0, 1, 2, 3] and loss["value"].tolist() == HISTORY["val_loss"]
    assert loss["epoch"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert run.series("train/learning_rate")["value"].tolist() == HISTORY["learning_rate"]
    assert "Unnamed: 0" not in run.metrics() and "epoch" not in run.metrics()
    word = "unnamed first column" if index else "row order is the epoch"
    assert any(word in note for note in run.notes)


@pytest.mark.parametrize("index", [True, False])
def test_a_history_saved_through_a_windows_text_stream_reads_as_written(tmp_path, index):
    """`to_csv` into a file opened in text mode on Windows writes every line ending as \\r\\r\\n: a blank line
    after each row. The blank lines are no epochs: the index column is still whole numbers, row order counts the
    rows that hold values."""
    import pandas as pd

    text = pd.DataFrame(HISTORY).to_csv(index=index, lineterminator="\r\n")
    path = tmp_path / "history.csv"
    path.write_bytes(text.replace("\r\n", "\r\r\n").encode())
    run = READER.read([path], "run")[0]
    loss = run.series("eval/loss")
    assert loss["step"].tolist() == [0, 1, 2, 3] and loss["value"].tolist() == HISTORY["val_loss"]


def test_histories_appended_with_their_index_are_split_into_fits(tmp_path):
    import pandas as pd

    path = tmp_path / "history.csv"
    pd.DataFrame(HISTORY).to_csv(path)
    pd.DataFrame(HISTORY).to_csv(path, mode="a", header=False)  # a second fit appended, index back at 0
    runs = READER.read([path], "run")
    assert [r.name for r in runs] == ["run/fit-1", "run/fit-2"]


def test_a_history_is_checked_end_to_end(tmp_path):
    import pandas as pd

    from losslint.engine import check_paths

    (tmp_path / "cnn").mkdir()
    pd.DataFrame(HISTORY).to_csv(tmp_path / "cnn" / "history.csv")
    results, errors = check_paths([tmp_path], jobs=1)
    assert errors == [] and [r.run.name for r in results] == ["cnn"]
    assert results[0].monitored_metric == "eval/loss"


def test_data_tables_without_a_loss_are_not_histories(tmp_path):
    import pandas as pd

    pd.DataFrame({"sepal_length": [5.1, 4.9], "species": ["setosa", "setosa"]}).to_csv(tmp_path / "iris.csv")
    assert not READER.can_read(tmp_path / "iris.csv")
    assert not READER.can_read(write(tmp_path, "loss,,val_loss\n1,2,3\n", "blank_header.csv"))


@pytest.mark.parametrize("text, fragment, line", [
    (",loss,val_loss\n0,1.0,1.1\nx,0.9,1.0\n", "not a whole number", 3),
    (",loss,val_loss\n0,1.0,1.1\n1.5,0.9,1.0\n", "not a whole number", 3),
    ("loss,val_loss\n1.0,1.1\n0.9,1.0,7\n", "malformed CSV", 3),
])
def test_bad_history_input_is_one_read_error(tmp_path, text, fragment, line):
    path = write(tmp_path, text)
    assert READER.can_read(path)
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert fragment in info.value.message and info.value.line == line


def test_history_text_in_a_metric_is_a_note(tmp_path):
    run = READER.read([write(tmp_path, "loss,val_loss\n1.0,1.1\noops,1.0\n0.8,0.9\n")], "run")[0]
    assert run.series("train/loss")["step"].tolist() == [0, 2]
    assert any("non-numeric" in note for note in run.notes)
