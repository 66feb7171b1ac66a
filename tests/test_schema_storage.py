"""The compact storage of `Run.data` (schema.py docstring): categorical names, int32/float32 only where exact, and
per-metric arrays for analysis that equal what a boolean mask per metric gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tb_fixtures as fx
from losslint.io.tensorboard import READER as TB
from losslint.schema import Run, compact_frame, frame_from_columns, metric_rows, wide_frame
from losslint.view import RunView


def test_names_are_sorted_categoricals_and_numbers_narrow_only_when_exact():
    data = frame_from_columns(["b", "a", "b", "c"], [1, 2, 3, 2**31], [0.5, 0.1, np.nan, np.inf],
                              [1.7e9 + 0.25, np.nan, 1.0, 2.0], None, ["B", "A", "B", "C"])
    assert isinstance(data["metric"].dtype, pd.CategoricalDtype)
    assert list(data["metric"].cat.categories) == ["a", "b", "c"]
    assert isinstance(data["tag"].dtype, pd.CategoricalDtype)
    assert data["step"].dtype == np.int64  # 2**31 does not fit int32
    assert data["value"].dtype == np.float64  # 0.1 is not a float32
    assert data["wall_time"].dtype == np.float64  # 1.7e9 + 0.25 is not a float32
    assert data["epoch"].dtype == np.float32  # all unknown: NaN is exact in float32

    small = frame_from_columns(["a"] * 3, [0, 1, 2], [0.5, -np.inf, np.nan], None, [0.0, 0.5, 1.0], ["a"] * 3)
    assert small["step"].dtype == np.int32
    assert small["value"].dtype == np.float32 and small["epoch"].dtype == np.float32


def test_wide_frame_gives_back_the_exact_values_in_wide_dtypes():
    rng = np.random.default_rng(0)
    values = rng.normal(size=500).astype(np.float32).astype(np.float64)  # float32 numbers, as TensorBoard logs
    values[::50] = np.nan
    data = frame_from_columns(np.where(np.arange(500) % 2, "train/loss", "eval/loss"), np.arange(500), values,
                              None, None, np.where(np.arange(500) % 2, "loss", "val_loss"))
    assert data["value"].dtype == np.float32
    wide = wide_frame(data)
    assert [str(t) for t in wide.dtypes] == ["object", "int64", "float64", "float64", "float64", "object"]
    np.testing.assert_array_equal(wide["value"].to_numpy(), values)
    assert wide["metric"].tolist() == np.where(np.arange(500) % 2, "train/loss", "eval/loss").tolist()


def test_a_concatenated_table_is_compacted_when_a_run_is_made_of_it():
    a = frame_from_columns(["z"] * 2, [0, 1], [1.0, 2.0], None, None, ["z"] * 2)
    b = frame_from_columns(["a"] * 2, [2, 3], [0.1, 0.2], None, None, ["a"] * 2)
    joined = pd.concat([a, b], ignore_index=True)  # different categories: pandas falls back to object
    run = Run("r", "test", [], joined)
    assert isinstance(run.data["metric"].dtype, pd.CategoricalDtype)
    assert list(run.data["metric"].cat.categories) == ["a", "z"]
    assert run.data["value"].dtype == np.float64
    assert compact_frame(run.data) is run.data  # already compact: returned as is
    assert run.metrics() == ["a", "z"]


def test_per_metric_arrays_equal_a_boolean_mask_per_metric_on_a_real_event_file(tmp_path):
    run = TB.read(fx.event_files(fx.write_torch_scalars(tmp_path / "run", points=3000)), "run")[0]
    data = run.data
    assert data["value"].dtype == np.float32  # simple_value is float32 in the file
    assert isinstance(data["metric"].dtype, pd.CategoricalDtype)
    wide = wide_frame(data)
    rows = dict(metric_rows(data))
    assert list(rows) == sorted(set(wide["metric"]))
    view = RunView(run)
    for metric, positions in rows.items():
        mask = wide["metric"].to_numpy() == metric
        np.testing.assert_array_equal(positions, np.flatnonzero(mask))
        series = view.series(metric)
        order = np.argsort(wide["step"].to_numpy()[mask], kind="stable")
        steps = wide["step"].to_numpy()[mask][order]
        last = np.r_[steps[1:] != steps[:-1], True]
        np.testing.assert_array_equal(series.all_steps, steps[last])
        np.testing.assert_array_equal(series.all_values, wide["value"].to_numpy()[mask][order][last])
        assert series.all_values.dtype == np.float64


@pytest.mark.parametrize("names", [["b", "a", "b"], np.array(["b", "a", "b"], dtype=object)])
def test_summary_and_series_agree_with_the_rows(names):
    run = Run("r", "test", [], frame_from_columns(names, [5, 1, 7], [1.0, 2.0, 3.0], None, None, ["B", "A", "B2"]))
    summary = run.summary()["metrics"]
    assert summary == {"a": {"points": 1, "first_step": 1, "last_step": 1, "source_tag": "A"},
                       "b": {"points": 2, "first_step": 5, "last_step": 7, "source_tag": "B"}}
    assert run.series("b")["step"].tolist() == [5, 7]
    assert run.series("missing").empty


def test_names_with_lone_surrogates_are_cleaned_in_the_categorical_columns():
    from losslint.textsafe import clean_run, unicode_clean

    bad = "train/lo\udcffss"  # a name decoded with surrogateescape from a non-UTF-8 log
    run = Run("r", "test", [], frame_from_columns([bad, "eval/loss", bad], [0, 0, 1], [1.0, 2.0, 0.5], None, None,
                                                  [bad, "val_loss", bad]))
    clean_run(run)
    for column in ("metric", "tag"):
        assert isinstance(run.data[column].dtype, pd.CategoricalDtype)
        for name in run.data[column].cat.categories:
            name.encode("utf-8")  # strict: no lone surrogates left
    assert run.data["metric"].tolist() == [unicode_clean(bad), "eval/loss", unicode_clean(bad)]
    assert RunView(run).metrics == sorted({unicode_clean(bad), "eval/loss"})


def test_two_logs_merged_into_one_run_keep_the_compact_storage():
    from losslint.io.tabular import merge_or_split

    train = Run("r", "jsonl", ["train.jsonl"], frame_from_columns(["train/loss"] * 2, [1, 2], [1.0, 0.5], None,
                                                                  None, ["loss"] * 2))
    evals = Run("r", "jsonl", ["eval.jsonl"], frame_from_columns(["eval/loss"], [2], [0.7], None, None,
                                                                 ["eval_loss"]))
    (merged,) = merge_or_split([train, evals], "r")
    assert isinstance(merged.data["metric"].dtype, pd.CategoricalDtype)
    assert list(merged.data["metric"].cat.categories) == ["eval/loss", "train/loss"]
    assert merged.data["step"].dtype == np.int32
    assert RunView(merged).series("eval/loss").all_values.tolist() == [0.7]


@pytest.mark.parametrize("from_arrays", [True, False])
def test_a_table_built_from_arrays_is_the_frame_the_public_constructor_builds(monkeypatch, from_arrays):
    # frame_from_columns goes through pandas' `_from_arrays` with one shared column index when pandas has it, through
    # `pd.DataFrame({...})` otherwise: the same frame either way, and a table that is changed changes only itself.
    if not from_arrays:
        monkeypatch.delattr(pd.DataFrame, "_from_arrays")
    rng = np.random.default_rng(4)
    for n in (0, 1, 7, 300):
        names = [f"m{i}" for i in rng.integers(0, 4, size=n)]
        steps, values = rng.integers(0, 10**6, size=n), rng.normal(size=n)
        got = frame_from_columns(names, steps, values, None, values.astype(np.float32), [f"t/{m}" for m in names])
        arrays = [got[c].array if isinstance(got[c].dtype, pd.CategoricalDtype) else got[c].to_numpy()
                  for c in got.columns]
        expected = pd.DataFrame(dict(zip(got.columns, arrays)))
        pd.testing.assert_frame_equal(got, expected)
        assert list(got.columns) == ["metric", "step", "value", "wall_time", "epoch", "tag"]
        assert got.columns.dtype == expected.columns.dtype and isinstance(got.index, pd.RangeIndex)
        assert list(got["metric"].astype(object)) == names and np.array_equal(got["value"], values)
    first = frame_from_columns(["a"], [1], [0.5], None, None, ["a"])
    second = frame_from_columns(["a"], [1], [0.5], None, None, ["a"])
    first["extra"] = 1.0
    first.loc[0, "value"] = 2.0
    assert list(second.columns) == ["metric", "step", "value", "wall_time", "epoch", "tag"]
    assert second["value"].iloc[0] == 0.5
