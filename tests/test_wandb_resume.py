"""A W&B run resumed with `wandb.init(id=..., resume=...)`: its sibling `run-<date>_<time>-<id>/` folders are one run.

Expected values come from `tests/data/wandb_resume/logged.json`, what `make_wandb_fixtures.py` passed to `wandb.log`
in each session (the real `wandb` library wrote the folders), and from the rule stated in the reader: per key, the
later session replaces the earlier one's points from the step where it starts that key.
"""
from __future__ import annotations

import json
import math
import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from losslint import discover
from losslint.cli import main
from losslint.io.wandb import folder_session
from losslint.report.locations import relative_posix
from test_wandb_reader import _field, _history_record, _varint, _write_log

FIXTURE = Path(__file__).parent / "data" / "wandb_resume"
LOGGED = json.loads((FIXTURE / "logged.json").read_text())
RUN_ID = LOGGED["run_id"]
SESSIONS = LOGGED["sessions"]
FOLDERS = [FIXTURE / session["run_folder"] for session in SESSIONS]
METRIC = {"loss": "train/loss", "val_loss": "eval/loss"}


def folder_name(run) -> str:
    """The run's name by its folder (W&B runs are named by their display name; the folder name is kept)."""
    return run.metadata.get("folder_name", run.name)


def session_points(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(row["step"], row[key]) for row in rows if key in row]


def expected_points(key: str) -> list[tuple[int, float]]:
    """The later session wins from the step where it starts logging `key`."""
    earlier = session_points(SESSIONS[0]["rows"], key)
    later = session_points(SESSIONS[1]["rows"], key)
    resumes_at = later[0][0]
    return [point for point in earlier if point[0] < resumes_at] + later


def overwritten_steps() -> set[int]:
    steps = set()
    for key in METRIC:
        resumes_at = session_points(SESSIONS[1]["rows"], key)[0][0]
        steps |= {step for step, _ in session_points(SESSIONS[0]["rows"], key) if step >= resumes_at}
    return steps


def points(run, metric: str) -> list[tuple[int, float]]:
    series = run.series(metric)
    return list(zip(series["step"].tolist(), series["value"].tolist()))


def assert_is_the_resumed_run(run) -> None:
    for key, metric in METRIC.items():
        got, want = points(run, metric), expected_points(key)
        assert [step for step, _ in got] == [step for step, _ in want], metric
        assert all(a == b or (math.isnan(a) and math.isnan(b)) for (_, a), (_, b) in zip(got, want)), metric


def copy_sessions(tmp_path: Path, names: list[str]) -> Path:
    """The fixture's two session folders under new names (as W&B would have named them), in session order."""
    wandb_dir = tmp_path / "wandb"
    for folder, name in zip(FOLDERS, names):
        shutil.copytree(folder, wandb_dir / name)
    return wandb_dir


def test_the_fixture_is_a_real_resume_of_one_id():
    """What the test relies on: two folders, one id, overlapping steps with different values."""
    assert len(FOLDERS) == 2 and all(folder.is_dir() for folder in FOLDERS)
    assert all(folder.name.endswith(RUN_ID) for folder in FOLDERS)
    first, second = (session_points(s["rows"], "loss") for s in SESSIONS)
    assert second[0][0] <= first[-1][0]
    assert dict(first)[second[0][0]] != dict(second)[second[0][0]]


def test_sessions_are_one_run_on_one_step_axis():
    runs, errors = discover.load(FIXTURE)
    assert errors == []
    (run,) = runs
    assert folder_name(run) == SESSIONS[0]["run_folder"]
    assert_is_the_resumed_run(run)
    for metric in METRIC.values():
        steps = run.series(metric)["step"].tolist()
        assert steps == sorted(set(steps)), "one value per step, in step order"


def test_one_note_names_the_folders_and_one_counts_the_overwritten_steps():
    (run,), _ = discover.load(FIXTURE)
    joined = [note for note in run.notes if "folders read as one run" in note]
    assert len(joined) == 1
    assert all(folder.name in joined[0] for folder in FOLDERS)
    overwrite = [note for note in run.notes if "overwritten" in note]
    assert len(overwrite) == 1
    assert overwrite[0].startswith(FOLDERS[1].name)
    assert f" {len(overwritten_steps())} earlier step(s) overwritten" in overwrite[0]
    # the first session crashed (the generator finished it with exit code 1); its note says which folder
    assert f"{FOLDERS[0].name}: W&B recorded exit code 1 (the run crashed or was killed)" in run.notes


def test_sources_metadata_and_step_regressions():
    (run,), _ = discover.load(FIXTURE)
    assert [Path(source).parent.name for source in run.sources] == [folder.name for folder in FOLDERS]
    assert relative_posix(run.sources[0], FIXTURE) == f"{SESSIONS[0]['run_folder']}/run-{RUN_ID}.wandb"
    assert run.metadata["run_id"] == RUN_ID
    assert run.metadata["display_name"] == "fixture-resumed"  # only the first session was given a name
    assert [Path(folder).name for folder in run.metadata["run_folders"]] == [folder.name for folder in FOLDERS]
    # the run ends as its last session ended: finished normally, summary at the last step logged
    assert run.metadata["exit_code"] == 0
    assert run.metadata["summary"]["_step"] == SESSIONS[1]["rows"][-1]["step"]
    regressions = {entry["tag"]: entry for entry in run.metadata["step_regressions"]}
    assert set(regressions) == set(METRIC)
    for key, entry in regressions.items():
        earlier = session_points(SESSIONS[0]["rows"], key)
        resumes_at = session_points(SESSIONS[1]["rows"], key)[0][0]
        assert entry["from_step"] == earlier[-1][0] and entry["to_step"] == resumes_at
        assert entry["dropped_points"] == sum(step >= resumes_at for step, _ in earlier)


@pytest.mark.parametrize("names", [
    # W&B appends -<n> to a second folder of one id started in the same second
    ["offline-run-20250101_000000-resume-fix_1", "offline-run-20250101_000000-resume-fix_1-1"],
    ["offline-run-20250101_000000-resume-fix_1-9", "offline-run-20250101_000000-resume-fix_1-10"],
    # an offline session resumed online (or the reverse): the start time orders them, not the prefix
    ["run-20250101_000000-resume-fix_1", "offline-run-20250101_000500-resume-fix_1"],
])
def test_sessions_are_ordered_by_start_time_then_w_and_b_suffix(tmp_path, names):
    wandb_dir = copy_sessions(tmp_path, names)
    runs, errors = discover.load(wandb_dir)
    assert errors == []
    (run,) = runs
    assert folder_name(run) == names[0]
    assert_is_the_resumed_run(run)


def test_folder_session_reads_the_id_from_the_record_log_name():
    record = [f"run-{RUN_ID}.wandb"]
    assert folder_session(Path(f"offline-run-20250101_000000-{RUN_ID}-3"), record) == (RUN_ID, ("20250101_000000", 3))
    assert folder_session(Path("run-20250101_000000-a-b-2"), []) == ("a-b-2", ("20250101_000000", 0))
    assert folder_session(Path("latest-run"), record) is None
    assert folder_session(Path("wandb"), record) is None


@pytest.mark.parametrize("broken", [0, 1])
def test_an_unreadable_session_is_an_error_and_the_other_still_forms_the_run(tmp_path, broken):
    wandb_dir = copy_sessions(tmp_path, [folder.name for folder in FOLDERS])
    record_log = wandb_dir / FOLDERS[broken].name / f"run-{RUN_ID}.wandb"
    data = bytearray(record_log.read_bytes())
    data[len(data) // 2] ^= 0xFF
    record_log.write_bytes(bytes(data))
    runs, errors = discover.load(wandb_dir)
    (error,) = errors
    assert error.path == str(record_log) and "checksum mismatch" in error.message
    (run,) = runs
    kept = 1 - broken
    assert folder_name(run) == FOLDERS[kept].name
    assert run.sources == [str(wandb_dir / FOLDERS[kept].name / f"run-{RUN_ID}.wandb")]
    rows = SESSIONS[kept]["rows"]
    for key, metric in METRIC.items():
        assert points(run, metric) == session_points(rows, key)
    assert not any("folders read as one run" in note for note in run.notes)


def test_cli_show_and_check_count_one_run(tmp_path):
    result = CliRunner().invoke(main, ["show", str(FIXTURE), "--format", "json"])
    assert result.exit_code == 0, result.output
    (shown,) = json.loads(result.stdout)
    # named by the run's display name in its wandb/ folder; the path is the first session's folder
    assert shown["run"] == SESSIONS[0]["run_folder"].rsplit("/", 1)[0] + "/" + shown["display_name"]
    assert shown["path"].endswith(SESSIONS[0]["run_folder"]) and shown["run_id"] == RUN_ID
    assert [Path(source).parent.name for source in shown["sources"]] == [folder.name for folder in FOLDERS]
    assert shown["metrics"]["train/loss"]["points"] == len(expected_points("loss"))
    result = CliRunner().invoke(main, ["check", str(FIXTURE), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    (checked,) = json.loads(result.stdout)["runs"]
    assert checked["run"] == shown["run"] and checked["path"] == shown["path"]
    # the overlap is the run resuming itself under its own id: D002 informs, it does not gate CI
    (d002,) = [f for f in checked["findings"] if f["code"] == "D002"]
    assert d002["severity"] == "info" and "resumed run" in d002["message"]


def test_two_folder_arguments_are_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(FIXTURE)
    runs, errors = discover.load([session["run_folder"] for session in reversed(SESSIONS)])
    assert errors == []
    (run,) = runs
    assert folder_name(run) == SESSIONS[0]["run_folder"]
    assert_is_the_resumed_run(run)


def test_only_sibling_folders_join(tmp_path):
    """Copies of one run in two projects stay two runs; another id beside them stays its own run."""
    for project in ("a", "b"):
        shutil.copytree(FOLDERS[0], tmp_path / project / "wandb" / FOLDERS[0].name)
    other = tmp_path / "a" / "wandb" / "run-20250101_000000-other01"
    other.mkdir()
    (other / "run-other01.wandb").write_bytes(_write_log([_history_record(0, {"loss": "1.0"})]))
    runs, errors = discover.load(tmp_path)
    assert errors == []
    assert sorted(folder_name(run) for run in runs) == sorted([f"a/wandb/{FOLDERS[0].name}",
                                                               f"b/wandb/{FOLDERS[0].name}", f"a/wandb/{other.name}"])
    assert not any("folders read as one run" in note for run in runs for note in run.notes)


def _run_record(run_id: str, resumed: bool = False) -> bytes:
    body = _field(1, run_id.encode()) + (_varint(18 << 3) + b"\x01" if resumed else b"")
    return _field(17, body)  # Record{run: RunRecord{run_id, resumed}}


def test_a_session_marked_resumed_loses_its_note_once_joined(tmp_path):
    wandb_dir = tmp_path / "wandb"
    for name, records in (
        ("run-20250101_000000-abc123", [_run_record("abc123")]
         + [_history_record(s, {"loss": "1.0"}) for s in range(3)]),
        ("run-20250102_000000-abc123", [_run_record("abc123", resumed=True)]
         + [_history_record(s, {"loss": "0.5"}) for s in range(3, 5)]),
    ):
        (wandb_dir / name).mkdir(parents=True)
        (wandb_dir / name / "run-abc123.wandb").write_bytes(_write_log(records))
    (run,), errors = discover.load(wandb_dir)
    assert errors == []
    assert points(run, "train/loss") == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.5), (4, 0.5)]
    assert not any("not among the folders read" in note for note in run.notes)
    assert not any("overwritten" in note for note in run.notes) and "step_regressions" not in run.metadata
    # the resumed session alone still says where its earlier steps are
    (alone,), _ = discover.load(wandb_dir / "run-20250102_000000-abc123")
    assert any("resumed W&B run abc123" in note and "not among the folders read" in note for note in alone.notes)


def test_a_folder_whose_run_record_names_another_id_is_not_joined(tmp_path):
    """The folder and record-log names say one id, the RUN record another (a renamed copy): two runs."""
    wandb_dir = tmp_path / "wandb"
    for name, run_id in (("run-20250101_000000-abc123", "abc123"), ("run-20250102_000000-abc123", "zzz999")):
        (wandb_dir / name).mkdir(parents=True)
        (wandb_dir / name / "run-abc123.wandb").write_bytes(
            _write_log([_run_record(run_id), _history_record(0, {"loss": "1.0"})]))
    runs, errors = discover.load(wandb_dir)
    assert errors == []
    assert sorted(run.metadata["run_id"] for run in runs) == ["abc123", "zzz999"]
    assert sorted(folder_name(run) for run in runs) == ["run-20250101_000000-abc123", "run-20250102_000000-abc123"]


def test_history_only_folders_join_by_the_folder_name_id(tmp_path):
    """wandb 0.8 folders hold `wandb-history.jsonl` and no record log: the folder name gives the id."""
    wandb_dir = tmp_path / "wandb"
    sessions = {"run-20200127_142807-st277t0v": [(s, 1.0 / (s + 1)) for s in range(5)],
                "run-20200128_090000-st277t0v": [(s, 0.1 / (s + 1)) for s in range(3, 7)]}
    for name, rows in sessions.items():
        (wandb_dir / name).mkdir(parents=True)
        (wandb_dir / name / "wandb-history.jsonl").write_text(
            "".join(json.dumps({"_step": step, "loss": value}) + "\n" for step, value in rows))
    (run,), errors = discover.load(wandb_dir)
    assert errors == []
    first, second = sessions.values()
    assert points(run, "train/loss") == first[:3] + second
    assert run.metadata["run_id"] == "st277t0v"
    assert any(note.startswith("run-20200128_090000-st277t0v resumes at step 3") and " 2 earlier step(s)" in note
               for note in run.notes)


def test_a_joined_group_survives_the_trip_to_a_worker_process():
    (group,) = discover.discover([FIXTURE]).groups
    assert [Path(part.key).name for part in group.parts] == [folder.name for folder in FOLDERS]
    (run,), errors = discover.read_group(pickle.loads(pickle.dumps(group)))
    assert errors == []
    assert_is_the_resumed_run(run)


def test_reading_never_changes_the_inputs():
    from realworld_path import tree_digests

    before = tree_digests(FIXTURE)
    discover.load(FIXTURE)
    assert tree_digests(FIXTURE) == before
