"""W&B reader: binary run logs, legacy history, history exports and UI chart exports.

Expected values come from outside the reader: MANIFEST.md counts, each run's own `wandb-summary.json` (written by
W&B independently of the history records), the `logged.json` the fixture generator wrote from what it passed to
`wandb.log`, and the CSV files parsed here with the `csv` module.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losslint.errors import ReadError
from losslint.io.wandb import READER
from reader_support import read_grouped
from realworld_path import REALWORLD as _CORPUS
from realworld_path import realworld, tree_digests

REALWORLD = _CORPUS / "wandb"
FIXTURES = Path(__file__).parent / "data" / "wandb"
LOGGED = json.loads((FIXTURES / "logged.json").read_text())
FIXTURE_RUN = FIXTURES / LOGGED["basic"]["run_folder"]
DEFINE_METRIC_RUN = FIXTURES / LOGGED["define-metric"]["run_folder"]
DA6401 = REALWORLD / "da6401-numpy-ffn-sweep" / "wandb"
NANOGPT_RUN = REALWORLD / "nanogpt-run-jqe8zy9r" / "wandb" / "run-20241012_160630-jqe8zy9r"
CHART_EXPORT = REALWORLD / "nanogpt-ui-chart-export" / "wandb_export.csv"


def read_tree(root: Path) -> list:
    return read_grouped(READER, root)


def read_one(root: Path):
    (run,) = read_tree(root)
    return run


def last_values(run) -> dict[str, float]:
    return {tag: float(group["value"].iloc[-1]) for tag, group in run.data.groupby("tag", sort=False)}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --- binary run logs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id, steps, exit_code", [
    ("nqwecnan", 6, 0), ("6sr1oy55", 6, 0), ("kd3g5fta", 6, 0), ("yy2b2in7", 31, 0)])
def test_da6401_binary_history_matches_manifest_and_summary(run_id, steps, exit_code):
    (folder,) = realworld(DA6401).glob(f"run-*-{run_id}")
    run = read_one(folder)
    assert run.format == "wandb"
    # the history logs a whole-number `epoch` on its rows: that is the step; W&B's `_step` stays as a metric
    assert run.metrics() == ["_step", "eval/accuracy", "eval/loss", "test/accuracy", "train/loss"]
    assert any("`epoch` column" in note for note in run.notes)
    # MANIFEST: `steps` history records, each its own _step
    assert run.series("_step")["value"].tolist() == list(range(steps))
    assert run.series("train/loss")["step"].tolist() == run.series("train/loss")["epoch"].tolist()
    assert run.metadata["run_id"] == run_id
    assert run.metadata["exit_code"] == exit_code
    summary = json.loads((folder / "files" / "wandb-summary.json").read_text())
    shared = set(summary) & set(run.data["tag"])
    assert shared >= {"training_loss", "validation loss", "validation_accuracy", "test_accuracy"}
    for tag, value in last_values(run).items():
        if tag in summary:
            assert same(value, float(summary[tag])), tag
    assert run.hparams["optimizer"] == summary.get("optimizer", run.hparams["optimizer"])
    assert "_wandb" not in run.hparams and "wandb_version" not in run.hparams


def test_da6401_non_finite_losses_are_kept():
    nan_run = read_one(next(realworld(DA6401).glob("run-*-6sr1oy55")))
    assert nan_run.series("train/loss")["value"].isna().any()
    inf_run = read_one(next(DA6401.glob("run-*-kd3g5fta")))
    assert np.isposinf(inf_run.series("train/loss")["value"].iloc[-1])


def test_da6401_config_yaml_gives_hparams():
    folder = next(realworld(DA6401).glob("run-*-kd3g5fta"))
    run = read_one(folder)
    assert run.hparams["batch_size"] == 16
    assert run.hparams["optimizer"] == "nesterov"
    assert run.hparams["epsilon"] == pytest.approx(1e-8)  # `1e-08` is text to YAML 1.1; W&B wrote a float


def test_nanogpt_binary_history():
    run = read_one(realworld(NANOGPT_RUN))
    # MANIFEST: 13 history records with iter, lr, mfu, train/loss, val/loss
    for metric in ("train/loss", "eval/loss", "train/learning_rate"):
        assert len(run.series(metric)) == 13, metric
    # nanoGPT logs its own step, `iter` (every 200 iterations): the step, as the user plots it; `_step` is kept
    assert run.series("train/loss")["step"].tolist() == list(range(0, 2600, 200))
    assert run.series("_step")["value"].tolist() == list(range(13)) and "iter" not in run.metrics()
    summary = json.loads((NANOGPT_RUN / "files" / "wandb-summary.json").read_text())
    for tag, value in last_values(run).items():
        assert same(value, float(summary[tag])), tag
    assert np.allclose(run.series("train/loss")["wall_time"].iloc[-1], summary["_timestamp"])
    assert run.metadata["exit_code"] == 255
    assert any("exit code 255" in note for note in run.notes)


def test_fixture_matches_what_the_generator_logged():
    run = read_one(FIXTURE_RUN)
    rows = LOGGED["basic"]["rows"]
    expected = {"loss": [], "opt.lr": [], "val_loss": [], "validation accuracy": []}
    for row in rows:
        expected["loss"].append((row["step"], row["loss"]))
        expected["opt.lr"].append((row["step"], row["opt"]["lr"]))
        for key in ("val_loss", "validation accuracy"):
            if key in row:
                expected[key].append((row["step"], row[key]))
    for tag, points in expected.items():
        got = run.data[run.data["tag"] == tag]
        assert got["step"].tolist() == [s for s, _ in points], tag
        assert all(same(a, b) for a, b in zip(got["value"].tolist(), [v for _, v in points])), tag
    assert {"loss": "train/loss", "val_loss": "eval/loss", "validation accuracy": "eval/accuracy"}.items() <= \
        dict(zip(run.data["tag"], run.data["metric"])).items()
    assert any("phase" in note for note in run.notes)  # a text key is skipped, and said so
    assert run.hparams["learning_rate"] == 0.01 and run.hparams["batch_size"] == 32
    assert run.hparams["long_note"] == "x" * 70_000  # one record split over three blocks, reassembled
    assert run.metadata["display_name"] == "fixture-offline"
    # offline runs keep the summary only in the record log: it must agree with the last logged values
    for tag, value in last_values(run).items():
        assert same(value, float(run.metadata["summary"][tag])), tag


def test_define_metric_step_axis_replaces_step():
    run = read_one(DEFINE_METRIC_RUN)
    rows = LOGGED["define-metric"]["rows"]
    for tag in ("train/loss", "eval/loss", "train/learning_rate"):
        expected = [(row["train/global_step"], row[tag]) for row in rows if tag in row]
        got = run.data[run.data["tag"] == tag]
        assert list(zip(got["step"].tolist(), got["value"].tolist())) == expected, tag
    assert "train/global_step" not in set(run.data["tag"])  # the axis is a position, not a curve
    assert any("define_metric" in note for note in run.notes)


def _chunk_types(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, length, type) of every chunk, walked independently of the reader."""
    chunks, pos = [], 7
    while pos + 7 <= len(data):
        space = 32768 - pos % 32768
        if space < 7:
            pos += space
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunks.append((pos, length, kind))
        pos += 7 + length
    return chunks


def test_fixture_exercises_fragmented_records():
    (binary,) = FIXTURE_RUN.glob("run-*.wandb")
    kinds = {kind for _, _, kind in _chunk_types(binary.read_bytes())}
    assert {1, 2, 3, 4} <= kinds


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _history_record(step: int, items: dict[str, str]) -> bytes:
    """A Record{history: HistoryRecord{item: [{key, value_json}], step: {num}}}, encoded by hand."""
    body = b"".join(_field(1, _field(1, k.encode()) + _field(16, v.encode())) for k, v in items.items())
    return _field(2, body + _field(2, b"\x08" + _varint(step)))


def _write_log(records: list[bytes]) -> bytes:
    """W&B's writer (wandb/sdk/internal/datastore.py `_write_data`), restated: pad a block tail shorter than a
    chunk header with zeros; split a record that does not fit into FIRST/MIDDLE/LAST (FIRST may be empty)."""
    import zlib

    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))

    def chunk(data: bytes, kind: int) -> None:
        out.extend(struct.pack("<IHB", zlib.crc32(data, zlib.crc32(bytes([kind]))), len(data), kind) + data)

    for record in records:
        space = 32768 - len(out) % 32768
        if space < 7:
            out.extend(bytes(space))
            space = 32768
        if len(record) + 7 <= space:
            chunk(record, 1)
            continue
        chunk(record[:space - 7], 2)
        rest = record[space - 7:]
        while len(rest) > 32768 - 7:
            chunk(rest[:32768 - 7], 3)
            rest = rest[32768 - 7:]
        chunk(rest, 4)
    return bytes(out)


@pytest.mark.parametrize("block_tail", [0, 3, 6, 7, 8])
def test_block_padding_and_empty_first_chunk(tmp_path, block_tail):
    """A first record sized to leave `block_tail` bytes in block 0: under 7 is zero padding, 7 is an empty FIRST."""
    target = 32768 - 7 - 7 - block_tail  # file header, chunk header, then the tail left over
    filler = ""
    while len(record := _history_record(0, {"note": json.dumps(filler)})) < target:
        filler += "x" * max(1, (target - len(record)) // 2)
    assert len(record) == target
    records = [record, _history_record(1, {"loss": "1.25"}), _history_record(2, {"loss": "NaN"})]
    folder = tmp_path / "run-20250101_000000-pad12345"
    folder.mkdir()
    (folder / "run-pad12345.wandb").write_bytes(_write_log(records))
    run = read_one(folder)
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [1, 2]
    assert loss["value"].iloc[0] == 1.25 and math.isnan(loss["value"].iloc[1])


def _copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / FIXTURE_RUN.name
    shutil.copytree(FIXTURE_RUN, target)
    return next(target.glob("run-*.wandb"))


def test_truncated_file_reads_the_complete_records(tmp_path):
    binary = _copy_fixture(tmp_path)
    full = binary.read_bytes()
    whole = read_one(binary.parent).data
    chunks = _chunk_types(full)
    history_cut = chunks[len(chunks) * 3 // 4][0] + 9  # inside a late record
    for cut in (40_000, history_cut, len(full) - 3):
        binary.write_bytes(full[:cut])
        run = read_one(binary.parent)
        assert any("ends inside a record" in note for note in run.notes), cut
        # what was read is a prefix of the whole history
        part = run.data.reset_index(drop=True)
        head = whole.iloc[:0] if part.empty else whole[whole["step"] <= part["step"].max()]
        assert len(part) <= len(head)
        assert part[["tag", "step"]].values.tolist() == head[["tag", "step"]].values.tolist()[:len(part)]


def test_flipped_byte_is_a_checksum_error_at_that_chunk(tmp_path):
    binary = _copy_fixture(tmp_path)
    data = bytearray(binary.read_bytes())
    offset, length, _kind = _chunk_types(bytes(data))[40]
    data[offset + 7 + length // 2] ^= 0x01
    binary.write_bytes(bytes(data))
    with pytest.raises(ReadError) as info:
        READER.read([binary], "r")
    assert info.value.offset == offset
    assert "checksum" in info.value.message


def test_flipped_crc_byte_is_an_error(tmp_path):
    binary = _copy_fixture(tmp_path)
    data = bytearray(binary.read_bytes())
    offset = _chunk_types(bytes(data))[5][0]
    data[offset] ^= 0xFF
    binary.write_bytes(bytes(data))
    with pytest.raises(ReadError) as info:
        READER.read([binary], "r")
    assert info.value.offset == offset
    assert info.value.text.count("\n") == 0


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "not a W&B run log"),
    (b":W&B\x00\x00\x00" + bytes(20), "magic"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "Git LFS pointer"),
])
def test_bad_binary_files_give_one_line(tmp_path, content, message):
    folder = tmp_path / "run-20250101_000000-abcd1234"
    folder.mkdir()
    binary = folder / "run-abcd1234.wandb"
    binary.write_bytes(content)
    assert READER.can_read(binary)
    with pytest.raises(ReadError) as info:
        READER.read([binary], "r")
    assert message in info.value.text
    assert "\n" not in info.value.text


def test_garbage_protobuf_inside_valid_framing_is_an_error(tmp_path):
    import zlib

    payload = b"\x12\xff\xff\xff\xff\x0f"  # field 2 (history), length far past the record
    chunk = struct.pack("<IHB", zlib.crc32(payload, zlib.crc32(b"\x01")), len(payload), 1) + payload
    binary = tmp_path / "run-x.wandb"
    binary.write_bytes(b":W&B" + struct.pack("<HB", 0xBEE1, 0) + chunk)
    with pytest.raises(ReadError) as info:
        READER.read([binary], "r")
    assert info.value.offset == 7 and "protobuf" in info.value.message


def test_summary_without_history_is_refused(tmp_path):
    folder = tmp_path / "wandb" / "run-20250101_000000-abcd1234" / "files"
    folder.mkdir(parents=True)
    (folder / "wandb-summary.json").write_text('{"loss": 1.0, "_step": 3}')
    (folder / "config.yaml").write_text("lr:\n  value: 0.1\n")
    with pytest.raises(ReadError, match="without history"):
        read_tree(tmp_path)


def test_reading_never_changes_the_inputs(tmp_path):
    roots = [FIXTURES] + ([REALWORLD] if REALWORLD.exists() else [])
    before = {root: tree_digests(root) for root in roots}
    for root in roots:
        read_tree(root)
    assert {root: tree_digests(root) for root in roots} == before


def test_text_among_numbers_in_binary_is_noted_with_offset(tmp_path):
    records = [_history_record(0, {"loss": "2.0"}), _history_record(1, {"loss": '"diverged"'}),
               _history_record(2, {"loss": "1.0"})]
    folder = tmp_path / "run-20250101_000000-txt12345"
    folder.mkdir()
    data = _write_log(records)
    (folder / "run-txt12345.wandb").write_bytes(data)
    run = read_one(folder)
    assert run.series("train/loss")["step"].tolist() == [0, 2]
    (note,) = [n for n in run.notes if "non-numeric" in n]
    second_record = _chunk_types(data)[1][0]
    assert f"offset {second_record}" in note and "diverged" in note


_KEYS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200).filter(
    lambda k: not k.startswith("_") and k != "epoch")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(_KEYS, st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4),
                     min_size=1, max_size=30),
       first_step=st.integers(0, 10**12))
def test_any_history_round_trips(tmp_path_factory, rows, first_step):
    """Whatever keys (long, non-ASCII) and values (NaN, inf, huge) a run logs come back at their steps."""
    folder = tmp_path_factory.mktemp("h") / "run-20250101_000000-prop1234"
    folder.mkdir()
    records = [_history_record(first_step + i, {k: json.dumps(v) for k, v in row.items()})
               for i, row in enumerate(rows)]
    (folder / "run-prop1234.wandb").write_bytes(_write_log(records))
    run = read_one(folder)
    got = list(zip(run.data["tag"], run.data["step"], run.data["value"]))
    expected = [(k, first_step + i, v) for i, row in enumerate(rows) for k, v in row.items()]
    assert len(got) == len(expected)
    for (tag, step, value), (key, want_step, want) in zip(got, expected):
        assert (tag, step) == (key, want_step)
        assert same(value, want)


def test_resumed_run_is_noted(tmp_path):
    run_record = _field(17, _field(1, b"res12345") + _varint(18 << 3) + b"\x01")  # RunRecord{run_id, resumed}
    folder = tmp_path / "run-20250102_000000-res12345"
    folder.mkdir()
    (folder / "run-res12345.wandb").write_bytes(_write_log([run_record, _history_record(100, {"loss": "0.5"})]))
    run = read_one(folder)
    assert run.metadata["run_id"] == "res12345" and run.metadata["resumed"] is True
    assert run.series("train/loss")["step"].tolist() == [100]
    assert any("resumed W&B run res12345" in note for note in run.notes)


def test_discovery_of_a_real_wandb_directory_layout(tmp_path):
    """What `wandb.init` leaves in a project: symlinks to the latest run and its logs, logs/, files/ extras."""
    from losslint import discover

    wandb_dir = tmp_path / "project" / "wandb"
    run_dir = wandb_dir / FIXTURE_RUN.name
    shutil.copytree(FIXTURE_RUN, run_dir)
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "debug.log").write_text("2025-01-01 INFO wandb.init\n")
    (run_dir / "files").mkdir(exist_ok=True)  # git keeps no empty folder: the committed fixture may lack it
    (run_dir / "files" / "requirements.txt").write_text("torch==2.5\n")
    (run_dir / "files" / "wandb-metadata.json").write_text('{"os": "Linux", "python": "3.11"}')
    (run_dir / "files" / "media" / "table").mkdir(parents=True)
    (run_dir / "files" / "media" / "table" / "preds_3_abc.table.json").write_text('{"columns": ["a"], "data": [[1]]}')
    (wandb_dir / "latest-run").symlink_to(run_dir.name)
    (wandb_dir / "debug.log").symlink_to(f"{run_dir.name}/logs/debug.log")
    runs, errors = discover.load(tmp_path / "project")
    assert errors == []
    # named by its display name in place of the folder, which stays the run's path
    assert [(run.name, run.format) for run in runs] == [(f"wandb/{runs[0].display_name}", "wandb")]
    assert runs[0].metadata["folder_name"] == f"wandb/{FIXTURE_RUN.name}" and runs[0].path.endswith(FIXTURE_RUN.name)
    assert len(runs[0].series("train/loss")) == len(LOGGED["basic"]["rows"])


def test_every_realworld_wandb_file_is_claimed_and_read():
    from losslint import discover

    root = realworld(REALWORLD)
    found = discover.discover([root])
    claimed = {Path(f) for group in found.groups for f in group.files}
    assert claimed == {p for p in root.rglob("*") if p.is_file()}
    assert {group.format for group in found.groups} == {"wandb"}
    runs, errors = discover.load(root)
    assert errors == []
    # MANIFEST: 4 da6401 runs, 1 nanoGPT run, 2 legacy runs, and 8 runs in the chart export
    assert len(runs) == 15
    assert all(len(run.data) for run in runs)


# --- legacy wandb-history.jsonl -------------------------------------------------------------------------------


@pytest.mark.parametrize("folder, rows, loss_points", [
    ("cdaut-mnist-mlp-run-st277t0v", 4000, 4000), ("cdaut-tictactoe-run-tbayonq6", 4883, 4882)])
def test_legacy_history_jsonl(folder, rows, loss_points):
    root = realworld(REALWORLD / folder)
    run = read_one(root)
    assert run.metrics() == ["train/loss"]
    assert len(run.series("train/loss")) == loss_points
    history = [json.loads(line) for line in (root / "wandb-history.jsonl").read_text().splitlines()]
    assert len(history) == rows
    with_loss = [row for row in history if "loss" in row]
    assert run.series("train/loss")["step"].tolist() == [row["_step"] for row in with_loss]
    assert run.series("train/loss")["wall_time"].tolist() == [row["_timestamp"] for row in with_loss]
    summary = json.loads((root / "wandb-summary.json").read_text())
    assert same(run.series("train/loss")["value"].iloc[-1], summary["loss"])
    assert any("non-scalar" in note for note in run.notes)  # gradient histograms from wandb.watch


def test_legacy_history_cut_last_line_is_a_note(tmp_path):
    (tmp_path / "wandb-history.jsonl").write_text('{"loss": 1.5, "_step": 0}\n{"loss": 1.2, "_step": 1}\n{"lo')
    run = read_one(tmp_path)
    assert run.series("train/loss")["value"].tolist() == [1.5, 1.2]
    assert any("cut off" in note for note in run.notes)


def test_legacy_history_bad_middle_line_is_an_error(tmp_path):
    (tmp_path / "wandb-history.jsonl").write_text('{"loss": 1.5, "_step": 0}\nnot json\n{"loss": 1, "_step": 2}\n')
    with pytest.raises(ReadError) as info:
        read_tree(tmp_path)
    assert info.value.line == 2


def test_strings_among_numbers_are_skipped_with_their_line(tmp_path):
    (tmp_path / "wandb-history.jsonl").write_text(
        '{"loss": 1.5, "_step": 0}\n{"loss": "oops", "_step": 1}\n{"loss": 1.1, "_step": 2}\n')
    run = read_one(tmp_path)
    assert run.series("train/loss")["step"].tolist() == [0, 2]
    (note,) = [n for n in run.notes if "non-numeric" in n]
    assert "line 2" in note and "'oops'" in note


def test_numbers_logged_as_text_are_read_as_numbers_with_a_note(tmp_path):
    """`wandb.log({"loss": f"{loss: .4f}"})` (a 2020 cats-vs-dogs run): W&B keeps the strings, the reader takes the
    numbers and says so; words and other notations stay text."""
    (tmp_path / "wandb-history.jsonl").write_text(
        '{"loss": " 0.163", "acc": " 0.73", "_step": 5393}\n{"val_loss": " 0.2035", "_step": 5394}\n'
        '{"loss": "1e-1", "phase": "train", "_step": 5395}\n{"loss": "nan", "_step": 5396}\n'
        '{"loss": "0.1_0", "_step": 5397}\n')
    run = read_one(tmp_path)
    assert run.series("train/loss")["value"].tolist() == [0.163, 0.1]
    assert run.series("eval/loss")["value"].tolist() == [0.2035]
    (note,) = [n for n in run.notes if "text holding a number" in n]
    assert note.startswith("4 value(s)") and "acc, loss, val_loss" in note
    (skipped,) = [n for n in run.notes if "non-numeric" in n]
    assert "'loss'" in skipped and "2 non-numeric" in skipped


def test_empty_history_file_is_an_error(tmp_path):
    (tmp_path / "wandb-history.jsonl").write_text("")
    with pytest.raises(ReadError, match="empty file"):
        read_tree(tmp_path)


# --- UI chart export ------------------------------------------------------------------------------------------


def test_realworld_chart_export_splits_runs():
    path = realworld(CHART_EXPORT)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    mean_columns = {i: col.split(" - ")[0] for i, col in enumerate(header)
                    if " - " in col and not col.endswith(("__MIN", "__MAX"))}
    expected = {run: sum(1 for row in body if row[i] != "") for i, run in mean_columns.items()}
    assert len(expected) == 8  # MANIFEST: 8 runs of train/loss

    runs = READER.read([path], "export")
    assert {run.name: len(run.data) for run in runs} == {f"export/{k}": v for k, v in expected.items()}
    for run in runs:
        assert run.metrics() == ["train/loss"]
        assert run.data["step"].is_monotonic_increasing
    longest = max(runs, key=lambda r: len(r.data))
    assert len(longest.data) == len(body) == 386  # MANIFEST: 386 rows; one run logged every step


def test_chart_export_groups_envelopes_gaps_and_bad_cells(tmp_path):
    path = tmp_path / "wandb_export_2025.csv"
    path.write_text(
        '"Step","Group: sweep-a - val/loss","Group: sweep-a - val/loss__MIN","Group: sweep-a - val/loss__MAX",'
        '"run - b - train_loss","run - b - train_loss__MIN","run - b - train_loss__MAX"\n'
        '"0","2.5","2.0","3.0","4","4","4"\n'
        '"10","","","","3.5","3.5","3.5"\n'
        '"20","1.5","1.0","2.0","oops","",""\n'
        '"30","NaN","","","Infinity","",""\n')
    assert READER.can_read(path)
    runs = {run.name: run for run in READER.read([path], "x")}
    assert set(runs) == {"x/sweep-a", "x/run - b"}
    val = runs["x/sweep-a"].series("eval/loss")
    assert val["step"].tolist() == [0, 20, 30]
    assert val["value"].tolist()[:2] == [2.5, 1.5] and math.isnan(val["value"].iloc[2])
    train = runs["x/run - b"].series("train/loss")
    assert train["step"].tolist() == [0, 10, 30]
    assert np.isposinf(train["value"].iloc[-1])
    assert any("line 4" in note and "oops" in note for note in runs["x/run - b"].notes)


def test_chart_export_with_fractional_epoch_axis(tmp_path):
    path = tmp_path / "wandb_export.csv"
    path.write_text("epoch,r1 - loss\n0.5,2.0\n1.0,1.5\n1.5,1.2\n")
    (run,) = READER.read([path], "x")
    assert run.series("train/loss")["epoch"].tolist() == [0.5, 1.0, 1.5]
    assert run.series("train/loss")["step"].tolist() == [0, 1, 2]
    assert any("not an integer step" in note for note in run.notes)


def test_chart_export_malformed_row_is_an_error(tmp_path):
    path = tmp_path / "wandb_export.csv"
    path.write_text("Step,r1 - loss\n0,2.0\n1,1.5,9,9\n")
    with pytest.raises(ReadError) as info:
        READER.read([path], "x")
    assert info.value.line == 3


def test_plain_csv_is_not_claimed(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,val_loss\n0,1,2\n")
    assert not READER.can_read(path)


# --- run.history() exports -------------------------------------------------------------------------------------


def _history_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "_step": [0, 1, 2, 3],
        "_runtime": [1.0, 2.0, 3.0, 4.0],
        "_timestamp": [1.7e9, 1.7e9 + 1, 1.7e9 + 2, 1.7e9 + 3],
        "training_loss": [2.0, 1.5, float("nan"), 1.0],
        "validation loss": [None, 1.8, None, 1.4],
        "epoch": [0, 0, 1, 1],
    })


@pytest.mark.parametrize("suffix", ["csv", "csv-index", "json", "jsonl", "parquet"])
def test_history_exports(tmp_path, suffix):
    frame = _history_frame()
    path = tmp_path / f"history.{suffix.split('-')[0]}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "csv-index":
        frame.to_csv(path)  # pandas' default writes the index as an unnamed first column
    elif suffix == "json":  # scan_history() rows saved with json.dump: null where a key was not logged
        path.write_text(json.dumps([{k: (None if v != v and k != "training_loss" else v) for k, v in row.items()}
                                    for row in frame.to_dict("records")]))
    elif suffix == "jsonl":  # ... or one row per line, leaving such keys out
        path.write_text("".join(json.dumps({k: v for k, v in row.items() if v == v or k == "training_loss"}) + "\n"
                                for row in frame.to_dict("records")))
    else:
        frame.to_parquet(path)
    assert READER.can_read(path)
    (run,) = read_tree(path)
    assert run.metrics() == ["eval/loss", "train/loss"]
    train = run.series("train/loss")
    if suffix.startswith("json"):
        # JSON keeps a logged NaN (the NaN token) apart from a key not logged (absent or null)
        assert train["step"].tolist() == [0, 1, 2, 3]
        assert train["value"].tolist()[:2] == [2.0, 1.5] and math.isnan(train["value"].iloc[2])
        assert train["wall_time"].tolist() == frame["_timestamp"].tolist()
        assert train["epoch"].tolist() == [0.0, 0.0, 1.0, 1.0]
    else:
        # pandas writes NaN to CSV as an empty cell and to parquet as a float NaN, the same as a key that was
        # not logged on that row: a logged NaN cannot survive `run.history().to_csv()`, so it reads as a gap
        assert train["step"].tolist() == [0, 1, 3]
        assert train["value"].tolist() == [2.0, 1.5, 1.0]
        assert train["wall_time"].tolist() == frame["_timestamp"].iloc[[0, 1, 3]].tolist()
        assert train["epoch"].tolist() == [0.0, 0.0, 1.0]
    val = run.series("eval/loss")
    assert val["step"].tolist() == [1, 3] and val["value"].tolist() == [1.8, 1.4]


def test_two_history_exports_in_one_folder_stay_two_runs(tmp_path):
    for name in ("a.csv", "b.csv"):
        _history_frame().to_csv(tmp_path / name, index=False)
    runs = read_tree(tmp_path)
    assert sorted(run.name for run in runs) == ["a.csv", "b.csv"]


# --- registry -------------------------------------------------------------------------------------------------


def test_registry_offers_wandb_files_to_wandb_first(tmp_path):
    from losslint import discover

    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "wandb-history.jsonl").write_text('{"loss": 1.0, "_step": 0, "_timestamp": 1.0}\n')
    (tmp_path / "legacy" / "wandb-events.jsonl").write_text('{"system.cpu": 5, "_runtime": 1}\n')
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "wandb_export.csv").write_text("Step,r1 - loss\n0,1.0\n")
    _history_frame().to_csv(tmp_path / "export" / "history.csv", index=False)
    shutil.copytree(FIXTURE_RUN, tmp_path / "wandb" / FIXTURE_RUN.name)
    found = discover.discover([tmp_path])
    assert found.errors == []
    formats = {group.name: group.format for group in found.groups}
    assert formats == {"legacy": "wandb", "export/wandb_export.csv": "wandb", "export/history.csv": "wandb",
                       f"wandb/{FIXTURE_RUN.name}": "wandb"}


# --- display name, run id and the history's own step column ------------------------------------------------------


def test_runs_are_named_by_display_name_where_unique(tmp_path, monkeypatch):
    from losslint.discover import load

    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURE_RUN, tmp_path / "a" / "wandb" / FIXTURE_RUN.name)
    runs, errors = load(["a"])
    assert errors == [] and [(r.name, r.run_id) for r in runs] == [("wandb/fixture-offline", FIXTURE_RUN.name[-8:])]
    assert runs[0].display_name == "fixture-offline" and runs[0].path == f"a/wandb/{FIXTURE_RUN.name}"
    # a second copy of the run (same display name) beside it: both go back to their folders
    twin = FIXTURE_RUN.name.replace("145121", "145122")
    shutil.copytree(FIXTURE_RUN, tmp_path / "a" / "wandb" / twin)
    (tmp_path / "a" / "wandb" / twin / f"run-{FIXTURE_RUN.name[-8:]}.wandb").rename(
        tmp_path / "a" / "wandb" / twin / "run-other000.wandb")
    runs, errors = load(["a"])
    names = sorted(r.name for r in runs)
    assert len(names) == 2 and all(name.startswith("wandb/") and "fixture-offline" not in name for name in names)


def test_json_output_keeps_run_id_and_display_name(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from losslint.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURE_RUN, tmp_path / "wandb" / FIXTURE_RUN.name)
    (run,) = json.loads(CliRunner().invoke(main, ["check", "wandb", "--format", "json", "-j", "1"]).stdout)["runs"]
    assert run["run"] == "fixture-offline" and run["display_name"] == "fixture-offline"
    assert run["run_id"] == FIXTURE_RUN.name[-8:] and run["path"] == f"wandb/{FIXTURE_RUN.name}"


def test_a_display_name_with_a_slash_keeps_the_folder():
    from losslint.discover import load

    folder = realworld(_CORPUS.parent / "realworld-labeled" / "wandb" / "kure-embedding-gradspikes-trdb5r76" / "wandb"
                       / "run-20241212_042909-trdb5r76")
    (run,), errors = load([folder])
    assert errors == [] and "/" in run.display_name and run.name == folder.name


@pytest.mark.parametrize("column", ["iter", "step", "global_step", "train/global_step", "trainer/global_step",
                                    "epoch"])
def test_a_history_export_with_its_own_step_column_uses_it(tmp_path, column):
    """`run.history()` saved with pandas, from a loop that logs its own step every 10 calls (`_step` counts calls)."""
    rows = [{"_step": i, column: i * 10, "loss": 1.0 / (i + 1), "_runtime": float(i)} for i in range(12)]
    for row in rows[3::4]:
        row["val_loss"] = 0.5 + row["_step"] / 100
    path = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run = READER.read([path], "h")[0]
    assert run.series("train/loss")["step"].tolist() == [i * 10 for i in range(12)]
    assert run.series("eval/loss")["step"].tolist() == [30, 70, 110]
    kept = run.series("_step")
    assert kept["value"].tolist() == list(range(12)) and kept["step"].tolist() == [i * 10 for i in range(12)]
    assert column not in run.metrics() and any(f"`{column}` column" in note for note in run.notes)
    as_json = tmp_path / "history.json"
    pd.DataFrame(rows).to_json(as_json, orient="records")
    run = READER.read([as_json], "h")[0]
    assert run.series("eval/loss")["step"].tolist() == [30, 70, 110]
    assert run.series("_step")["value"].tolist() == list(range(12))


def test_a_binary_history_with_iter_uses_it_as_the_step(tmp_path):
    records = [_history_record(i, {"iter": str(i * 250), "train/loss": str(3.0 - i / 10)}) for i in range(6)]
    folder = tmp_path / "run-20250101_000000-iter1234"
    folder.mkdir()
    (folder / "run-iter1234.wandb").write_bytes(_write_log(records))
    run = read_one(folder)
    assert run.series("train/loss")["step"].tolist() == [0, 250, 500, 750, 1000, 1250]
    assert run.series("_step")["value"].tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("rows, why", [
    # a per-batch loss logged with a whole epoch: two points at one epoch, so `_step` stays the step
    ([{"_step": i, "epoch": i // 4, "loss": 1.0 / (i + 1)} for i in range(12)], "repeats"),
    # a fractional epoch (HF `train/epoch`) is not a step
    ([{"_step": i, "epoch": i / 4, "loss": 1.0 / (i + 1)} for i in range(12)], "fractional"),
    # text in the column
    ([{"_step": i, "iter": "n/a" if i == 5 else i * 10, "loss": 1.0 / (i + 1)} for i in range(12)], "text"),
    # logged on too few of the rows
    ([{"_step": i, "iter": 7, "loss": 1.0} if i == 0 else {"_step": i, "loss": 1.0 / (i + 1)} for i in range(12)],
     "sparse"),
])
def test_a_step_column_that_cannot_be_the_step_is_not_used(tmp_path, rows, why):
    path = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run = READER.read([path], "h")[0]
    assert run.series("train/loss")["step"].tolist() == list(range(12)), why
    assert "_step" not in run.metrics() and not any("column (as" in note for note in run.notes)
