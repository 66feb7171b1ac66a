"""`losslint show` and `losslint export` on real files: the inventory and the long table are what the readers read."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from losslint import discover
from losslint.cli import main
from realworld_path import REALWORLD, tree_digests

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runs"


def test_show_json_is_the_runs_summary_on_the_fixtures():
    target = FIXTURES / "overfit"
    result = CliRunner().invoke(main, ["show", str(target), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = {entry["run"]: entry for entry in json.loads(result.stdout)}
    runs, errors = discover.load(target)
    assert not errors and set(shown) == {run.name for run in runs} and len(runs) == 5
    for run in runs:
        entry = shown[run.name]
        assert entry["format"] == run.format and entry["sources"] == run.sources
        loss = run.series("eval/loss")
        assert entry["metrics"]["eval/loss"] == {"points": len(loss), "first_step": int(loss["step"].min()),
                                                 "last_step": int(loss["step"].max()),
                                                 "source_tag": str(loss["tag"].iloc[0])}


def test_show_walks_the_whole_real_world_corpus_without_a_traceback():
    if not REALWORLD.is_dir():
        pytest.skip("realworld data not present")
    before = tree_digests(REALWORLD)
    result = CliRunner().invoke(main, ["show", str(REALWORLD), "--format", "json"])
    assert result.exit_code in (0, 1) and result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    runs = json.loads(result.stdout)
    # the HParams config at a logdir's root has no scalars: a run with a note, not a refusal
    assert len(runs) >= 45 and all(r["metrics"] or any("no scalar" in n for n in r["notes"]) for r in runs)
    refused = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    # the Git LFS pointer the MANIFEST marks as having nothing to read, refused with its reason
    assert len(refused) == 1 and "git lfs pull" in refused[0]
    assert tree_digests(REALWORLD) == before  # inputs are never modified


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_round_trips_every_point_including_nan_and_inf(tmp_path, suffix):
    log = tmp_path / "runs" / "exp" / "metrics.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text('{"step": 1, "loss": 2.0, "val_loss": 2.5}\n{"step": 2, "loss": NaN}\n'
                   '{"step": 3, "loss": Infinity, "val_loss": 1.5}\n', encoding="utf-8")
    out = tmp_path / f"table{suffix}"
    result = CliRunner().invoke(main, ["export", str(tmp_path / "runs"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        table = pd.read_csv(out)
    elif suffix == ".jsonl":
        table = pd.DataFrame([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()])
    else:
        table = pd.read_parquet(out)
    assert list(table.columns) == ["run", "format", "metric", "step", "value", "wall_time", "epoch", "tag"]
    assert set(table["run"]) == {"exp"} and set(table["format"]) == {"jsonl"}
    loss = table[table["metric"] == "train/loss"].sort_values("step")
    assert loss["step"].tolist() == [1, 2, 3]
    assert loss["value"].iloc[0] == 2.0 and math.isnan(loss["value"].iloc[1]) and loss["value"].iloc[2] == math.inf
    assert table[table["metric"] == "eval/loss"]["value"].tolist() == [2.5, 1.5]


def test_export_refuses_an_unknown_extension_and_skips_its_own_output(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n', encoding="utf-8")
    bad = CliRunner().invoke(main, ["export", str(log), "-o", str(tmp_path / "t.txt")])
    assert bad.exit_code == 2 and "unknown export format" in bad.output
    out = tmp_path / "again.jsonl"
    for _ in range(2):  # the second export scans a folder that now holds the first one's output
        result = CliRunner().invoke(main, ["export", str(tmp_path), "-o", str(out)])
        assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


@pytest.mark.parametrize("content, expected", [
    (b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": "high"}\n{"step": 3, "loss": 0.5}\n', 0),
    (b"\x00\x01\x02garbage\xff" * 20, 1),
    (b"", 1),
])
def test_show_gives_one_line_for_bad_input_and_never_changes_it(tmp_path, content, expected):
    log = tmp_path / "run" / "metrics.jsonl"
    log.parent.mkdir()
    log.write_bytes(content)
    result = CliRunner().invoke(main, ["show", str(tmp_path)])
    assert result.exit_code == expected, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception) or \
        isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == expected and all(str(log) in line for line in errors)
    assert log.read_bytes() == content
