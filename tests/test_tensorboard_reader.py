"""TensorBoard reader: tbparse is the oracle for the points of every single file; run-level rules are checked
against what the fixtures were written to contain and against /work/shared/realworld/MANIFEST.md."""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tb_fixtures as fx
from losslint import discover
from losslint.errors import ReadError
from losslint.io.tensorboard import READER, parse_event_file
from losslint.io.tensorboard import reader as tb_module
from losslint.io.tensorboard import records as tfrecord
from realworld_path import REALWORLD as _CORPUS
from realworld_path import digests

REALWORLD = _CORPUS / "tensorboard"
LFS_RUN = "edge-git-lfs-pointer-flax-swe-gpt"
HPARAMS_ONLY_RUN = "keras-hparam-root"


def realworld_files() -> list[Path]:
    return fx.event_files(REALWORLD) if REALWORLD.is_dir() else []


def need_realworld() -> None:
    if not REALWORLD.is_dir():
        pytest.skip(f"{REALWORLD} not present")


# ---------------------------------------------------------------- oracle


def tbparse_rows(path: Path) -> pd.DataFrame:
    """The scalar points tbparse reports for one file: `scalars` plus the numeric scalar-shaped `tensors`."""
    from tbparse import SummaryReader

    reader = SummaryReader(str(path), pivot=False, extra_columns={"wall_time"}, event_types={"scalars", "tensors"})
    frames = []
    for table in (reader.scalars, reader.tensors):
        if table.empty:
            continue
        numeric = table["value"].map(lambda v: isinstance(v, (float, int, np.floating, np.integer))
                                     and not isinstance(v, (bool, np.bool_)))
        frames.append(table[numeric & ~table["tag"].str.startswith("_hparams_/")])
    if not frames:
        return _rows([], [], [], [])
    table = pd.concat(frames, ignore_index=True)
    return _rows(table["tag"], table["step"], table["value"].astype(float), table["wall_time"])


def reader_rows(path: Path) -> pd.DataFrame:
    scalars = parse_event_file(path)
    keep = scalars.kept()
    tags = np.array(scalars.tags + [""], dtype=object)[scalars.codes[keep]]
    return _rows(tags, scalars.steps[keep], scalars.values[keep], scalars.wall_times[keep])


def _rows(tags, steps, values, walls) -> pd.DataFrame:
    table = pd.DataFrame({"tag": pd.Series(list(tags), dtype=object), "step": np.asarray(steps, dtype=np.int64),
                          "value": np.asarray(values, dtype=np.float64),
                          "wall_time": np.asarray(walls, dtype=np.float64)})
    return table.sort_values(["tag", "step", "wall_time", "value"], kind="stable").reset_index(drop=True)


def assert_same_rows(path: Path) -> pd.DataFrame:
    mine, oracle = reader_rows(path), tbparse_rows(path)
    pd.testing.assert_frame_equal(mine, oracle, check_exact=True)
    return mine


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory) -> Path:
    return fx.write_torch_scalars(tmp_path_factory.mktemp("torch") / "run", points=10_000)


@pytest.fixture(scope="module")
def restart_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("restart") / "run"
    fx.write_torch_restart(directory)
    return directory


@pytest.fixture(scope="module")
def tensor_file(tmp_path_factory) -> Path:
    return fx.write_tensor_summaries(tmp_path_factory.mktemp("tf2") / "run")


@pytest.fixture(scope="module")
def session_start_file(tmp_path_factory) -> Path:
    return fx.write_session_start_restart(tmp_path_factory.mktemp("start") / "run")


# ---------------------------------------------------------------- tbparse agreement


def test_torch_files_match_tbparse(torch_run):
    files = fx.event_files(torch_run)
    assert len(files) == 3  # the main file and the two `add_scalars` writers
    for path in files:
        rows = assert_same_rows(path)
        assert len(rows) > 0
    main = reader_rows(sorted(torch_run.glob("events*"))[0])
    assert (main["tag"] == "train/loss").sum() == 10_000


def test_tensor_summaries_match_tbparse(tmp_path):
    path = fx.write_tensor_summaries(tmp_path / "run", integers=False)
    rows = assert_same_rows(path)
    assert sorted(rows["tag"].unique()) == ["epoch_accuracy", "epoch_loss", "f32", "half"]


def test_restart_files_match_tbparse_one_by_one(restart_run):
    for path in fx.event_files(restart_run):
        assert_same_rows(path)


def test_session_start_purge_matches_tbparse(session_start_file):
    rows = assert_same_rows(session_start_file)
    # written: steps 0-9 = step, then START at step 5, then steps 5-11 = 100 + step
    assert rows["step"].tolist() == list(range(12))
    assert rows["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] + [100.0 + s for s in range(5, 12)]


def test_legacy_out_of_order_purge_matches_tbparse(tmp_path):
    rows = assert_same_rows(fx.write_legacy_out_of_order(tmp_path / "legacy"))
    loss = rows[rows["tag"] == "loss"]
    assert loss["step"].tolist() == list(range(9))
    assert loss["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 105.0, 106.0, 107.0, 108.0]
    assert len(rows[rows["tag"] == "acc"]) == 10  # only the out-of-order event's own tags are purged


@pytest.mark.parametrize("path", realworld_files(), ids=lambda p: p.relative_to(REALWORLD).as_posix())
def test_realworld_files_match_tbparse(path):
    if LFS_RUN in path.parts:
        with pytest.raises(ReadError, match="git lfs pull"):
            parse_event_file(path)
        return
    assert_same_rows(path)


# ---------------------------------------------------------------- values and run fields


def test_torch_run_fields(torch_run):
    before = digests(fx.event_files(torch_run))
    runs, errors = discover.load(torch_run)
    assert digests(fx.event_files(torch_run)) == before
    assert errors == []
    main = next(r for r in runs if r.name == "run")
    assert main.format == "tensorboard"
    assert main.sources == [str(p) for p in sorted(torch_run.glob("events*"))]
    loss = main.series("train/loss")
    assert len(loss) == 10_000
    assert loss["step"].tolist() == list(range(10_000))
    at = loss.set_index("step")["value"]
    assert math.isnan(at[5000]) and at[5001] == math.inf and at[5002] == -math.inf
    assert at[0] == pytest.approx(2.0, rel=1e-6)  # float32 on disk
    assert len(main.series("train/learning_rate")) == 10_000  # tag `lr`
    assert main.series("eval/loss")["step"].tolist() == list(range(499, 10_000, 500))  # tag `val/loss`
    assert main.data["wall_time"].notna().all() and main.data["epoch"].isna().all()
    assert main.metadata["file_versions"] == {sorted(torch_run.glob("events*"))[0].name: "brain.Event:2"}
    assert main.metadata["nonfinite_points"] == 3
    # `add_scalars` writes one sub-run per key; they are runs of their own, as TensorBoard shows them
    assert {r.name for r in runs} == {"run", "acc_train", "acc_val"}


def test_tensor_summary_values(tensor_file):
    run = READER.read([tensor_file], "tf2")[0]
    by_tag = {tag: group.set_index("step")["value"] for tag, group in run.data.groupby("tag")}
    assert set(by_tag) == {"count", "epoch_accuracy", "epoch_loss", "f32", "half"}  # no text, histogram
    assert len(by_tag["epoch_loss"]) == 30  # plugin metadata only on the first value of the tag
    assert math.isnan(by_tag["epoch_loss"][7])
    assert by_tag["epoch_loss"][3] == pytest.approx(0.25)
    assert by_tag["epoch_accuracy"][3] == 0.1  # double_val: exact
    assert by_tag["half"][5] == 2.5 and by_tag["count"][4] == 28.0 and by_tag["f32"][2] == 0.5
    # bare Keras names in the run folder itself are training-side metrics (schema.BARE_TRAIN_METRICS)
    assert len(run.series("train/loss")) == 30 and len(run.series("train/accuracy")) == 30


def test_restart_across_files_keeps_the_resumed_points(restart_run):
    first, second = fx.event_files(restart_run)
    before = digests([first, second])
    run = READER.read([second, first], "restart")[0]
    assert digests([first, second]) == before
    loss = run.series("train/loss")
    # first session: loss = 1/(step+1) for 0..99; second: 10+step for 60..149
    assert loss["step"].tolist() == list(range(150))
    assert loss["value"].tolist()[:60] == pytest.approx([1.0 / (s + 1) for s in range(60)])
    assert loss["value"].tolist()[60:] == pytest.approx([10.0 + s for s in range(60, 150)])
    assert len(run.series("train/learning_rate")) == 100  # only the first session logged lr
    assert run.metadata["step_regressions"] == [
        {"tag": "loss", "split": None, "file": second.name, "from_step": 99, "to_step": 60, "dropped_points": 40}]
    assert any("step regression" in note and "'loss'" in note for note in run.notes)
    assert run.sources == [str(first), str(second)]


def test_restarts_are_per_split_folder(restart_run, tmp_path):
    first, second = fx.event_files(restart_run)
    for split in ("train", "validation"):
        (tmp_path / "run" / split).mkdir(parents=True)
        shutil.copy(first, tmp_path / "run" / split / first.name)
    shutil.copy(second, tmp_path / "run" / "validation" / second.name)  # only validation was resumed
    runs, errors = discover.load(tmp_path / "run")
    assert errors == [] and len(runs) == 1
    run = runs[0]
    assert run.series("train/loss")["step"].tolist() == list(range(100))
    assert run.series("eval/loss")["step"].tolist() == list(range(150))
    assert [(r["split"], r["tag"], r["to_step"]) for r in run.metadata["step_regressions"]] == [("eval", "loss", 60)]


def test_file_order_uses_first_wall_time_not_name(tmp_path):
    """Writer counters `.9` and `.10` sort the wrong way by name; the first record's time does not."""
    early = fx.write_torch_restart(tmp_path / "src")
    target = tmp_path / "run"
    target.mkdir()
    shutil.copy(early[0], target / "events.out.tfevents.1.host.10")
    shutil.copy(early[1], target / "events.out.tfevents.1.host.9")
    run = READER.read(sorted(target.iterdir()), "run")[0]
    assert run.series("train/loss")["value"].iloc[-1] == 149 + 10.0
    assert run.metadata["step_regressions"][0]["to_step"] == 60


# ---------------------------------------------------------------- damaged and odd files


def test_truncated_last_record_is_tolerated(restart_run, tmp_path):
    _, second = fx.event_files(restart_run)
    cut = fx.copy_truncated(second, tmp_path / "run" / second.name, cut=7)
    run = READER.read([cut], "run")[0]
    # the second writer logged loss at steps 60..149; the last record is cut short
    assert run.series("train/loss")["step"].tolist() == list(range(60, 149))
    assert any("cut short" in note for note in run.notes)
    assert_same_rows(cut)  # tbparse stops at the same place


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_flipped_byte_is_a_checksum_error_at_its_record(restart_run, tmp_path, monkeypatch, implementation):
    first, _ = fx.event_files(restart_run)
    offsets = fx.record_offsets(first)
    record = offsets[50]
    target = fx.copy_with_flipped_byte(first, tmp_path / first.name, record + 20)
    monkeypatch.setenv(tfrecord.VERIFY_ENV, "1")
    if implementation == "python":
        monkeypatch.setattr(tfrecord, "C_CRC32C", None)
    with pytest.raises(ReadError) as caught:
        READER.read([target], "run")
    assert caught.value.offset == record
    assert "checksum" in caught.value.message
    assert caught.value.path == str(target)


def test_verify_travels_as_a_read_option_not_through_the_environment(restart_run, tmp_path, monkeypatch):
    from losslint.engine import check_paths
    from losslint.io.base import ReadOptions

    first, _ = fx.event_files(restart_run)
    record = fx.record_offsets(first)[50]
    fx.copy_with_flipped_byte(first, tmp_path / "run" / first.name, record + 20)
    monkeypatch.setenv(tfrecord.VERIFY_ENV, "0")  # the explicit option wins over the environment
    _, errors = check_paths(tmp_path, read_options=ReadOptions(verify=True), jobs=2)
    assert len(errors) == 1 and "checksum" in errors[0].message
    _, errors = check_paths(tmp_path)
    assert errors == []
    assert os.environ[tfrecord.VERIFY_ENV] == "0"


def test_flipped_length_byte_is_reported_even_without_checking(restart_run, tmp_path, monkeypatch):
    first, _ = fx.event_files(restart_run)
    record = fx.record_offsets(first)[10]
    target = fx.copy_with_flipped_byte(first, tmp_path / first.name, record + 6)  # length becomes huge
    monkeypatch.setenv(tfrecord.VERIFY_ENV, "0")
    scalars = parse_event_file(target)  # the records before the bad length are kept, the fault reported
    assert scalars.fault is not None and scalars.fault.offset == record and scalars.records == 10
    with pytest.raises(ReadError) as caught:
        READER.read([target], "run")
    assert caught.value.offset == record and caught.value.runs


def test_checking_defaults_follow_the_available_implementation(monkeypatch):
    monkeypatch.delenv(tfrecord.VERIFY_ENV, raising=False)
    monkeypatch.setattr(tfrecord, "C_CRC32C", None)
    assert tfrecord.checksum_function() is None
    monkeypatch.setenv(tfrecord.VERIFY_ENV, "1")
    assert tfrecord.checksum_function() is tfrecord.crc32c_python
    monkeypatch.setattr(tfrecord, "C_CRC32C", len)
    monkeypatch.setenv(tfrecord.VERIFY_ENV, "0")
    assert tfrecord.checksum_function() is None
    monkeypatch.delenv(tfrecord.VERIFY_ENV)
    assert tfrecord.checksum_function() is len


def test_crc32c_known_answers():
    # RFC 3720 B.4 test vectors and the common "123456789" check value
    assert tfrecord.crc32c_python(b"123456789") == 0xE3069283
    assert tfrecord.crc32c_python(bytes(32)) == 0x8A9136AA
    assert tfrecord.crc32c_python(b"\xff" * 32) == 0x62A8AB43
    if tfrecord.C_CRC32C is not None:
        assert tfrecord.C_CRC32C(b"123456789") == 0xE3069283


@pytest.mark.parametrize("pair_min_count", [None, 1], ids=["as-shipped", "two-bytes-per-lookup"])
def test_vectorised_checksums_equal_the_reference(restart_run, monkeypatch, pair_min_count):
    if pair_min_count is not None:  # the two-bytes-per-lookup CRC only runs on big groups: force it here
        monkeypatch.setattr(tfrecord, "_PAIR_MIN_COUNT", pair_min_count)
    data = fx.event_files(restart_run)[0].read_bytes()
    framing = tfrecord.frame_records(data)
    buf = np.frombuffer(data, np.uint8)
    got = tfrecord._checksums(data, buf, framing.payload_starts, framing.lengths, tfrecord.crc32c_python)
    want = [tfrecord.mask(tfrecord.crc32c_python(data[s:s + n]))
            for s, n in zip(framing.payload_starts.tolist(), framing.lengths.tolist())]
    assert got.tolist() == want
    assert len(framing) >= tfrecord._VECTOR_MIN_COUNT  # so the vectorised branch did run


def test_framing_shortcut_finds_what_walking_finds(torch_run, restart_run, tmp_path):
    main = sorted(torch_run.glob("events*"))[0]
    cut = fx.copy_truncated(main, tmp_path / "cut" / main.name, cut=3)
    for path in [main, cut, *fx.event_files(restart_run)]:
        data = path.read_bytes()
        shortcut, walked = tfrecord._frame_at_once(data), tfrecord._frame_by_walking(data)
        assert shortcut is not None, path
        assert shortcut.offsets.tolist() == walked.offsets.tolist() == fx.record_offsets(path)[:len(walked)]
        assert shortcut.lengths.tolist() == walked.lengths.tolist()
        assert shortcut.truncated_at == walked.truncated_at
    assert tfrecord._frame_at_once(cut.read_bytes()).truncated_at == fx.record_offsets(main)[-1]


def test_vectorised_decoding_equals_the_protobuf_parser(tmp_path, torch_run, monkeypatch):
    edge = fx.write_layout_edge_cases(tmp_path / "edge")
    files = [edge, sorted(torch_run.glob("events*"))[0]]
    if REALWORLD.is_dir():
        files += [REALWORLD / "detectron2-fruit" / "events.out.tfevents.1628430255.db4a6b63f2f6.1641.3",
                  *sorted((REALWORLD / "lightning-naf-dqn-rl").rglob("*tfevents*"))]
    fast = {path: parse_event_file(path) for path in files}
    data = edge.read_bytes()
    framing = tfrecord.frame_records(data)
    decoded = tb_module._fast_simple_values(np.frombuffer(data, np.uint8), framing.payload_starts, framing.lengths)
    # all but the 128-byte tag (two-byte length) and the zero wall time (field omitted) take the vectorised path
    assert len(decoded.records) == 40 * (len(fx.LAYOUT_EDGE_POINTS) - 2)
    monkeypatch.setattr(tb_module, "_fast_simple_values", lambda buf, starts, lengths: None)
    for path in files:
        slow = parse_event_file(path)
        got = fast[path]
        assert (np.array(got.tags, dtype=object)[got.codes] == np.array(slow.tags, dtype=object)[slow.codes]).all()
        for name in ("steps", "values", "wall_times"):
            np.testing.assert_array_equal(getattr(got, name), getattr(slow, name), err_msg=f"{path} {name}")
        assert got.purges == slow.purges
    rows = assert_same_rows(edge)
    assert len(rows) == 40 * len(fx.LAYOUT_EDGE_POINTS)


def _random_events():
    from hypothesis import strategies as st

    tags = st.text(min_size=0, max_size=140)
    steps = st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(0, 300))
    walls = st.one_of(st.just(0.0), st.floats(allow_nan=True), st.floats(1e9, 2e9))
    values = st.floats(width=32, allow_nan=True)
    return st.lists(st.tuples(tags, steps, values, walls), min_size=1, max_size=40)


def _check_fast_equals_parser(events, decoded_counts: list[int]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    records = [event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])).SerializeToString()
        for tag, step, value, wall in events]
    data = b"".join(tfrecord.frame(record) for record in records)
    framing = tfrecord.frame_records(data)
    decoded = tb_module._fast_simple_values(np.frombuffer(data, np.uint8), framing.payload_starts, framing.lengths)
    decoded_counts.append(len(decoded.records))
    for point, record in enumerate(decoded.records.tolist()):
        event = event_pb2.Event.FromString(records[record])
        assert decoded.tags[decoded.tag_ids[point]] == event.summary.value[0].tag
        assert decoded.steps[point] == event.step
        np.testing.assert_array_equal(decoded.values[point], event.summary.value[0].simple_value)
        np.testing.assert_array_equal(decoded.walls[point], event.wall_time)


def test_vectorised_decoding_property():
    from hypothesis import given, settings

    decoded_counts: list[int] = []
    settings(max_examples=150, deadline=None, derandomize=True)(given(_random_events())(
        lambda events: _check_fast_equals_parser(events, decoded_counts)))()
    assert sum(decoded_counts) > 100  # the vectorised path did decode, not only the fallback


@pytest.mark.parametrize("length", [3, 8, 13, 24])
def test_string_grouping_is_exact(length):
    rng = np.random.default_rng(length)
    # 40 distinct strings that share all but one byte (more than the peeled ones, so hashing runs too)
    base = bytearray(b"q" * length)
    words = []
    for number in range(40):
        word = bytearray(base)
        word[number % length] = 65 + number
        words.append(bytes(word))
    picks = rng.integers(0, len(words), 500)
    text = b"".join(b"|" + words[i] for i in picks)
    buf = np.frombuffer(text, np.uint8)
    starts = np.arange(len(picks)) * (length + 1) + 1
    group, first = tb_module._same_strings(buf, starts, length)
    got = [bytes(buf[s:s + length]) for s in starts[first]]
    assert len(set(got)) == len(got) == len(set(picks.tolist()))
    assert [got[g] for g in group] == [words[i] for i in picks]


def test_framing_shortcut_steps_aside_for_a_header_inside_a_payload(tmp_path):
    edge = fx.write_layout_edge_cases(tmp_path / "edge")
    data = edge.read_bytes()
    assert tfrecord._frame_at_once(data) is None  # the fake header in the text value breaks the exact chain
    framing = tfrecord.frame_records(data)
    assert framing.offsets.tolist() == fx.record_offsets(edge)


def test_garbage_is_one_clear_error(tmp_path):
    target = fx.write_garbage(tmp_path / "events.out.tfevents.123.garbage")
    with pytest.raises(ReadError) as caught:
        READER.read([target], "run")
    assert caught.value.offset == 0
    assert "not a valid TensorBoard event file" in caught.value.message


def test_empty_files(restart_run, tmp_path):
    empty = tmp_path / "solo" / "events.out.tfevents.1.empty"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    with pytest.raises(ReadError, match=r"no scalar summaries \(hparams/graph only\)"):
        READER.read([empty], "solo")
    first, _ = fx.event_files(restart_run)
    (tmp_path / "pair").mkdir()
    good = Path(shutil.copy(first, tmp_path / "pair" / first.name))
    other = tmp_path / "pair" / "events.out.tfevents.9999999999.empty"
    other.write_bytes(b"")
    run = READER.read([good, other], "pair")[0]
    assert len(run.series("train/loss")) == 100
    assert any("empty event file" in note for note in run.notes)


def test_lfs_pointer_in_place_of_an_event_file(tmp_path):
    target = tmp_path / "events.out.tfevents.1626280018.host.1.v2"
    target.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 25500000\n")
    with pytest.raises(ReadError, match="git lfs pull"):
        READER.read([target], "run")


def test_unreadable_file(tmp_path):
    as_directory = tmp_path / "events.out.tfevents.1.dir"
    as_directory.mkdir()
    with pytest.raises(ReadError, match="cannot read"):
        READER.read([as_directory], "run")
    locked = tmp_path / "events.out.tfevents.2.locked"
    locked.write_bytes(b"")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that ignore file permissions")
        with pytest.raises(ReadError, match="cannot read"):
            READER.read([locked], "run")
    finally:
        locked.chmod(0o644)


def test_hparams_only_subfolder_merges_into_its_run(restart_run, tmp_path):
    first, _ = fx.event_files(restart_run)
    run_dir = tmp_path / "runs" / "Jun29_06-31-19_host"
    run_dir.mkdir(parents=True)
    shutil.copy(first, run_dir / first.name)
    fx.write_torch_hparams_only(run_dir / "1719642696.8209522")
    runs, errors = discover.load(tmp_path / "runs")
    assert errors == []
    assert [r.name for r in runs] == ["Jun29_06-31-19_host"]
    assert runs[0].hparams == {"lr": 0.01, "optimizer": "adam"}
    assert len(runs[0].sources) == 2


def test_hparams_only_run_is_a_note_not_an_error(tmp_path):
    """A valid event file with nothing to check (an HParams config, a graph) is a run with a note, not an
    unreadable input: a healthy experiment folder must not fail its check (exit 2)."""
    path = fx.write_torch_hparams_only(tmp_path / "hp")
    run = READER.read([path], "hp")[0]
    assert run.data.empty and run.hparams == {"lr": 0.01, "optimizer": "adam"}
    assert any("no scalar summaries" in note and "hparams only" in note for note in run.notes)
    graph = fx.write_torch_graph_only(tmp_path / "graph")
    run = READER.read([graph], "graph")[0]
    assert run.data.empty and any("no scalar summaries" in note for note in run.notes)


def test_logdir_with_an_hparams_config_at_its_root_checks_clean(restart_run, tmp_path):
    """TF2's HParams layout: the experiment config at the logdir's root, one session per sub-folder."""
    from click.testing import CliRunner

    from losslint.cli import main

    fx.write_torch_hparams_only(tmp_path / "hparam_tuning")
    fx.write_torch_graph_only(tmp_path / "hparam_tuning" / "graph")
    first, _ = fx.event_files(restart_run)
    (tmp_path / "hparam_tuning" / "run-0").mkdir()
    shutil.copy(first, tmp_path / "hparam_tuning" / "run-0" / first.name)
    result = CliRunner().invoke(main, ["check", str(tmp_path / "hparam_tuning"), "--format", "json",
                                       "--fail-on", "error", "-j", "1"])
    assert result.exit_code != 2, result.output
    doc = json.loads(result.stdout)
    assert doc["errors"] == []
    notes = {run["run"]: run["notes"] for run in doc["runs"]}
    assert any("no scalar summaries" in n for n in notes["hparam_tuning"])
    assert any("no scalar summaries" in n for n in notes["graph"])
    assert not any("no scalar summaries" in n for n in notes["run-0"])


# ---------------------------------------------------------------- grouping


@pytest.mark.parametrize("sub, key", [
    ("train", "run"), ("validation", "run"), ("val", "run"), ("eval", "run"), ("test", "run"),
    ("1719642696.8209522", "run"), ("version_0", "run/version_0"), ("acc_train", "run/acc_train")])
def test_run_key(tmp_path, sub, key):
    path = tmp_path / "run" / sub / "events.out.tfevents.1.host"
    assert READER.run_key(path) == tmp_path / key


def test_can_read():
    assert READER.can_read(Path("events.out.tfevents.1690485354.host.80091.0.v2"))
    assert READER.can_read(Path("x/events.out.tfevents.1.host.0.profile-empty"))
    assert not READER.can_read(Path("metrics.csv"))


# ---------------------------------------------------------------- real-world runs (MANIFEST.md)

# metric -> points, from the tag counts in MANIFEST.md (sub-folder = split; `test/` is the TF2 validation writer)
EXPECTED_POINTS = {
    "keras-imdb": {"train/loss": 20, "eval/loss": 20, "train/accuracy": 20, "eval/accuracy": 20},
    "keras-reuters-mod1": {"train/loss": 20, "eval/loss": 20, "train/accuracy": 20, "eval/accuracy": 20},
    "keras-hw07-lstm-plateau": {"train/loss": 15, "eval/loss": 15},
    "keras-hw08-autoencoder-rising-loss": {"train/loss": 10, "eval/loss": 10},
    "keras-swahili-stt-mlflow-artifact": {"train/loss": 10},
    "lightning-satd/version_0": {"train/loss": 240, "eval/loss": 120, "train/learning_rate": 240, "epoch": 360},
    "lightning-naf-dqn-rl/version_0": {"episode/Return": 21780, "episode/MSE Loss": 1742},
    "lightning-aics-seg/version_0": {"hp_metric": 1},
    "lightning-sparse-resnet-multirun/version_114": {"eval/loss": 3, "eval/accuracy": 3, "FLOPS": 10},
    "detectron2-fruit": {"train/loss": 15, "train/learning_rate": 15, "eval/bbox/ap": 3},
    "tf2-cifar-cnn-original": {"train/loss": 15, "eval/loss": 15, "train/accuracy": 15, "eval/accuracy": 15},
    "tf2-cifar-cnn-all-regularizers": {"train/loss": 15, "eval/loss": 15},
    "tf2-mnist-subtask-adam": {"train/loss": 100, "eval/loss": 100},
    # 100 points (steps 0-99), then a session resumed at step 91 with 241 points: 91 + 241 kept
    "tf2-textgen-resumed": {"train/loss": 332, "train/accuracy": 332},
    # main file: 6 loss/lr points; the final-eval file: one eval point
    "hf-trainer-gpt2-lain/runs/Jun29_06-31-19_6a29ce405cda": {"train/loss": 6, "train/learning_rate": 6,
                                                              "eval/loss": 1},
}
REFUSED = {LFS_RUN: "git lfs pull"}


@pytest.fixture(scope="module")
def realworld_load():
    need_realworld()
    before = digests(realworld_files())
    runs, errors = discover.load(REALWORLD)
    assert digests(realworld_files()) == before
    return {run.name: run for run in runs}, errors


def test_realworld_runs_have_the_manifest_points(realworld_load):
    runs, _ = realworld_load
    for name, expected in EXPECTED_POINTS.items():
        assert name in runs, name
        summary = runs[name].summary()["metrics"]
        got = {metric: summary[metric]["points"] for metric in expected if metric in summary}
        assert got == expected, name
        assert runs[name].format == "tensorboard"


def test_realworld_refusals(realworld_load):
    runs, errors = realworld_load
    by_run = {}
    for error in errors:
        for run_dir in REFUSED:
            if f"/{run_dir}/" in error.path + "/":
                by_run[run_dir] = error.message
    assert set(by_run) == set(REFUSED)
    for run_dir, reason in REFUSED.items():
        assert reason in by_run[run_dir]
    assert not any(name.startswith(tuple(REFUSED)) for name in runs)
    assert len(errors) == len(REFUSED)


def test_realworld_hparams_config_at_a_logdir_root_is_a_note(realworld_load):
    runs, _ = realworld_load
    run = runs[HPARAMS_ONLY_RUN]
    assert run.data.empty and any("no scalar summaries" in note for note in run.notes)


def test_realworld_resumed_run(realworld_load):
    runs, _ = realworld_load
    run = runs["tf2-textgen-resumed"]
    loss = run.series("train/loss")
    assert loss["step"].tolist() == list(range(332))
    regressions = run.metadata["step_regressions"]
    assert {(r["tag"], r["from_step"], r["to_step"], r["dropped_points"]) for r in regressions} == {
        ("loss", 99, 91, 9), ("accuracy", 99, 91, 9)}
    assert len(run.sources) == 3  # the 40-byte file of the crashed start is one of them
    assert list(run.metadata["file_versions"].values()) == ["brain.Event:2"] * 3


def test_realworld_relogged_point_is_not_a_restart(realworld_load):
    runs, _ = realworld_load
    run = runs["hf-trainer-gpt2-lain/runs/Jun29_06-31-19_6a29ce405cda"]
    # MANIFEST: train/epoch 7 points in the main file, and the final-eval file logs it once more at the last step
    epoch = run.series("epoch")
    assert epoch["step"].tolist() == [500, 1000, 1500, 2000, 2500, 3000, 3100]
    assert run.metadata["step_regressions"] == []
    assert len(run.sources) == 3  # the hparams-only `<timestamp>/` sub-run is part of the run
    assert run.hparams["num_train_epochs"] == 100.0


def test_realworld_lightning_epoch_column(realworld_load):
    runs, _ = realworld_load
    loss = runs["lightning-satd/version_0"].series("train/loss")
    # Lightning logs `epoch` at every step where it logs train_loss (MANIFEST: epoch 360 = 240 train + 120 val)
    assert loss["epoch"].notna().all()
    assert loss["epoch"].is_monotonic_increasing


def test_realworld_keras_epoch_column(realworld_load):
    runs, _ = realworld_load
    run = runs["keras-imdb"]
    loss = run.series("eval/loss")  # tag epoch_loss, one point per epoch at step = epoch (MANIFEST: 20 epochs)
    assert loss["epoch"].tolist() == [float(e) for e in range(20)]
    iterations = run.series("eval/loss_vs_iterations")  # step = iterations: no epoch to read off
    assert iterations["epoch"].isna().all()


def test_realworld_show_json_through_the_cli(realworld_load):
    from click.testing import CliRunner

    from losslint.cli import main

    result = CliRunner().invoke(main, ["show", str(REALWORLD), "--format", "json"])
    assert result.exit_code == 1, result.output  # refused runs are reported, exit 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    shown = {entry["run"]: entry for entry in json.loads(result.stdout)}
    for name, expected in EXPECTED_POINTS.items():
        assert {m: shown[name]["metrics"][m]["points"] for m in expected} == expected
    for reason in REFUSED.values():
        assert reason in result.stderr


def test_realworld_single_run_exit_zero():
    need_realworld()
    from click.testing import CliRunner

    from losslint.cli import main

    result = CliRunner().invoke(main, ["show", str(REALWORLD / "keras-imdb"), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [entry["run"] for entry in shown] == ["keras-imdb"]
    assert shown[0]["metrics"]["eval/loss"]["points"] == 20
    assert shown[0]["metrics"]["train/loss"]["points"] == 20


# ---------------------------------------------------------------- window by window (big files)


def _scalars_fields(scalars):
    # tags by name: how tags are numbered (in order of first decoding) is not part of the result
    names = [scalars.tags[code] for code in scalars.codes.tolist()]
    purges = [(before, step, scalars.tags[code] if code >= 0 else None) for before, step, code in scalars.purges]
    return (names, sorted(scalars.tags), scalars.steps.tolist(), scalars.values.astype(float).tobytes(),
            scalars.wall_times.tobytes(), purges, scalars.file_version, scalars.records,
            scalars.truncated_at, scalars.hparams, scalars.non_scalar_tags, scalars.first_wall_time)


@pytest.mark.parametrize("window", [997, 1 << 12, 1 << 14, 1 << 16])
def test_window_by_window_parse_equals_the_whole_file_parse(torch_run, restart_run, session_start_file, tmp_path,
                                                            monkeypatch, window):
    from losslint.io.tensorboard import reader as tb

    files = [*fx.event_files(torch_run), *fx.event_files(restart_run), *fx.event_files(session_start_file),
             fx.write_layout_edge_cases(tmp_path / "edge"), fx.write_legacy_out_of_order(tmp_path / "legacy")]
    files.append(fx.copy_truncated(files[0], tmp_path / "cut" / files[0].name, cut=7))
    files.append(fx.copy_truncated(files[0], tmp_path / "cut3" / files[0].name, cut=3))
    whole = [_scalars_fields(parse_event_file(path)) for path in files]
    monkeypatch.setattr(tb, "_WINDOW", window)
    monkeypatch.setattr(tb, "_WINDOWED_MIN_BYTES", 0)
    opened = []
    original_open = tb._open_binary
    monkeypatch.setattr(tb, "_open_binary", lambda path: opened.append(path) or original_open(path))
    for path, expected in zip(files, whole):
        assert _scalars_fields(parse_event_file(path)) == expected, path
    assert len(opened) == len(files)  # every file went window by window


def test_a_corrupt_big_file_is_read_whole_and_reported_as_before(restart_run, tmp_path, monkeypatch):
    from losslint.io.tensorboard import reader as tb

    first = fx.event_files(restart_run)[0]
    record = fx.record_offsets(first)[3]
    target = fx.copy_with_flipped_byte(first, tmp_path / first.name, record + 6)  # length becomes huge
    whole = parse_event_file(target)
    assert whole.fault is not None  # the records before the bad length are kept, the fault names its offset
    monkeypatch.setattr(tb, "_WINDOW", 1 << 12)
    monkeypatch.setattr(tb, "_WINDOWED_MIN_BYTES", 0)
    windowed = parse_event_file(target)
    assert str(windowed.fault) == str(whole.fault) and windowed.fault.offset == whole.fault.offset
    assert _scalars_fields(windowed) == _scalars_fields(whole)
