"""Discovery across formats: grouping files into runs, run names, dedupe, symlinks, unreadable files, file arguments."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from losslint.discover import discover, load
from losslint.io import readers
from realworld_path import REALWORLD

HF = Path(__file__).parent / "data" / "hf"

JSONL_RUN = '{"step": 1, "loss": 2.0, "val_loss": 2.5}\n{"step": 2, "loss": 1.0, "val_loss": 2.0}\n'
CSV_RUN = "step,loss,val_loss\n1,2.0,2.5\n2,1.0,2.0\n"


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def has_format(name: str) -> bool:
    return any(reader.format == name for reader in readers())


def test_run_names_are_posix_paths_relative_to_the_argument(tmp_path, monkeypatch):
    exp = make(tmp_path / "exp", {"a/b/run1/log.jsonl": JSONL_RUN, "a/run2/training_log.csv": CSV_RUN,
                                  "metrics.jsonl": JSONL_RUN})
    names = sorted(g.name for g in discover([exp]).groups)
    # a run at the argument itself is named after the argument's folder
    assert names == ["a/b/run1", "a/run2", "exp"]
    monkeypatch.chdir(tmp_path)
    assert sorted(g.name for g in discover(["./exp/a"]).groups) == ["b/run1", "run2"]
    # ... and a folder that is one run, given as a relative path, keeps the path as written
    assert [g.name for g in discover(["exp/a/run2"]).groups] == ["exp/a/run2"]


def test_directory_symlink_loop_is_one_error_and_the_walk_finishes(tmp_path):
    exp = make(tmp_path / "exp", {"r1/log.jsonl": JSONL_RUN, "r2/log.jsonl": JSONL_RUN})
    os.symlink("..", exp / "r1" / "up")  # r1/up -> exp: walking it would never end
    found = discover([exp])
    assert sorted(g.name for g in found.groups) == ["r1", "r2"]
    assert len(found.errors) == 1
    assert "loop" in found.errors[0].message and found.errors[0].path.endswith("up")


def test_second_link_to_a_walked_folder_is_not_an_error(tmp_path):
    # W&B keeps `wandb/latest-run` -> `run-<id>`: the run is read once, under its real name
    exp = make(tmp_path / "exp", {"run-b/log.jsonl": JSONL_RUN})
    os.symlink("run-b", exp / "a-latest")
    found = discover([exp])
    assert [g.name for g in found.groups] == ["run-b"]
    assert found.errors == []


def test_broken_symlink_is_reported(tmp_path):
    exp = make(tmp_path / "exp", {"r1/log.jsonl": JSONL_RUN})
    os.symlink(tmp_path / "gone.jsonl", exp / "r1" / "old.jsonl")
    found = discover([exp])
    assert [g.name for g in found.groups] == ["r1"]
    assert [e.message for e in found.errors] == ["broken symbolic link"]


@pytest.mark.parametrize("name, text", [("log.jsonl", JSONL_RUN), ("training_log.csv", CSV_RUN),
                                        ("trainer_state.json", '{"log_history": []}')])
def test_unreadable_file_is_one_error_and_the_other_runs_are_read(tmp_path, monkeypatch, name, text):
    exp = make(tmp_path / "exp", {"good/log.jsonl": JSONL_RUN, f"bad/{name}": text})
    bad = exp / "bad" / name
    if os.geteuid() == 0:
        # root reads a chmod 000 file anyway; simulate the permission error at the one place readers open files
        real_open, real_read_bytes = open, Path.read_bytes

        def refuse(path):
            if Path(path).resolve() == bad.resolve():
                raise PermissionError(13, "Permission denied", str(path))

        def guarded_read_bytes(self):
            refuse(self)
            return real_read_bytes(self)

        def guarded_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)):
                refuse(file)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(Path, "read_bytes", guarded_read_bytes)
        monkeypatch.setattr("builtins.open", guarded_open)
    else:
        bad.chmod(0)
    try:
        runs, errors = load([exp])
    finally:
        bad.chmod(0o644)
    assert [r.name for r in runs] == ["good"]
    assert len(errors) == 1
    assert errors[0].path == str(bad) and "Permission denied" in errors[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list a chmod 000 folder")
def test_unreadable_folder_is_one_error(tmp_path):
    exp = make(tmp_path / "exp", {"good/log.jsonl": JSONL_RUN, "locked/log.jsonl": JSONL_RUN})
    (exp / "locked").chmod(0)
    try:
        found = discover([exp])
    finally:
        (exp / "locked").chmod(0o755)
    assert [g.name for g in found.groups] == ["good"]
    assert len(found.errors) == 1 and "locked" in found.errors[0].path


def test_one_run_in_two_formats_is_counted_once(tmp_path):
    exp = make(tmp_path / "exp", {"r/log.jsonl": JSONL_RUN, "r/log.csv": CSV_RUN})
    found = discover([exp])
    assert len(found.groups) == 1
    group = found.groups[0]
    assert group.format == "jsonl"  # priority 40 beats csv's 50
    assert list(group.also) == ["csv"]
    runs, errors = load([exp])
    assert errors == [] and len(runs) == 1
    assert any("also logged as csv" in n for n in runs[0].notes)
    assert len(runs[0].series("train/loss")) == 2  # not doubled


def test_hf_output_dir_is_one_trainer_state_run():
    if not has_format("tensorboard"):
        pytest.skip("TensorBoard reader not available yet")
    runs, errors = load([HF / "single_eval"])
    assert errors == []
    assert len(runs) == 1
    run = runs[0]
    assert run.format == "trainer_state" and run.name == "single_eval"
    assert any("also logged as tensorboard" in n for n in run.notes)
    assert run.sources == [str(HF / "single_eval" / "trainer_state.json")]


def test_checkpoint_copies_are_never_reported_twice():
    found = discover([HF])
    assert sorted(g.name for g in found.groups) == ["single_eval", "two_eval_sets"]
    assert all(g.format == "trainer_state" for g in found.groups)
    assert all(len(g.files) == 3 for g in found.groups)  # top-level + two checkpoint copies, read as one


def test_file_argument_reads_the_whole_run(monkeypatch):
    monkeypatch.chdir(HF)
    runs, errors = load(["single_eval/checkpoint-30/trainer_state.json"])
    assert errors == [] and len(runs) == 1
    # the run that holds the file: the output dir, read from its newest copy (global_step 40, not 30)
    assert runs[0].name == "single_eval"
    assert runs[0].sources == ["single_eval/trainer_state.json"]
    assert runs[0].series("train/loss")["step"].max() == 40


def test_file_argument_for_a_csv_reads_its_folder(tmp_path, monkeypatch):
    make(tmp_path / "exp", {"r/metrics.csv": CSV_RUN, "r/extra.jsonl": '{"step": 2, "test_acc": 0.5}\n'})
    monkeypatch.chdir(tmp_path)
    found = discover(["exp/r/metrics.csv"])
    assert [(g.name, g.format) for g in found.groups] == [("exp/r", "jsonl")]
    assert list(found.groups[0].also) == ["csv"]


def test_same_file_through_two_arguments_is_read_once(tmp_path, monkeypatch):
    make(tmp_path / "exp", {"r/log.jsonl": JSONL_RUN})
    monkeypatch.chdir(tmp_path)
    found = discover(["exp", str(tmp_path / "exp"), "exp/r/log.jsonl", "./exp"])
    assert len(found.groups) == 1 and len(found.groups[0].files) == 1


def test_file_no_reader_claims_is_an_error(tmp_path):
    path = make(tmp_path, {"notes.txt": "hello"}) / "notes.txt"
    found = discover([path])
    assert found.groups == [] and "not a training log" in found.errors[0].message


def test_realworld_trees():
    for folder in ("trainer_state", "jsonl", "lightning_csv", "keras_csv"):
        if not (REALWORLD / folder).exists():
            pytest.skip("realworld data not present")
    found = discover([REALWORLD / "trainer_state"])
    assert sorted(g.name for g in found.groups) == sorted(p.name for p in (REALWORLD / "trainer_state").iterdir())
    runs, errors = load([REALWORLD / "jsonl", REALWORLD / "lightning_csv", REALWORLD / "keras_csv"])
    assert errors == []
    # several arguments: each run is named after the argument as given, then its folder below it
    assert sorted(Path(r.name).relative_to(REALWORLD).as_posix() for r in runs) == [
        "jsonl/detectron2-fruit", "jsonl/detectron2-medical-waste",
        "keras_csv/brain-tumor-cnn-appended/fit-1", "keras_csv/brain-tumor-cnn-appended/fit-2",
        "keras_csv/brain-tumor-cnn-appended/fit-3", "keras_csv/brain-tumor-cnn-appended/fit-4",
        "keras_csv/tomato-leaf-cnn", "lightning_csv/slm-training/version_0", "lightning_csv/slm-training/version_5",
        "lightning_csv/slm-training/version_8"]


def test_hf_fixture_copy_with_a_tensorboard_run_dir_only(tmp_path):
    """Without trainer_state.json, the Trainer's `runs/` TensorBoard logs are the run."""
    if not has_format("tensorboard"):
        pytest.skip("TensorBoard reader not available yet")
    shutil.copytree(HF / "single_eval" / "runs", tmp_path / "out" / "runs")
    found = discover([tmp_path / "out"])
    assert [g.format for g in found.groups] == ["tensorboard"]


def test_a_split_subfolder_argument_reads_its_whole_run():
    """`losslint check run/validation` means the run, not half of it: Keras writes train/ and validation/ apart."""
    imdb = REALWORLD / "tensorboard" / "keras-imdb"
    if not imdb.is_dir():
        pytest.skip("realworld data not present")
    found = discover([imdb / "validation"])
    assert len(found.groups) == 1 and not found.errors
    group = found.groups[0]
    assert sorted(Path(f).parent.name for f in group.files) == ["train", "validation"]
    assert Path(group.key) == imdb.resolve()


def test_several_arguments_prefix_run_names_with_the_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make(tmp_path, {"a/hf/metrics.jsonl": '{"step": 1, "loss": 1.0}\n',
                    "b/hf/metrics.jsonl": '{"step": 1, "loss": 1.0}\n'})
    assert [g.name for g in discover(["a", "b"]).groups] == ["a/hf", "b/hf"]
    assert [g.name for g in discover(["a"]).groups] == ["hf"]
    # an absolute argument is named as given, too: two `.../hf` folders stay apart
    found = discover([str(tmp_path / "a" / "hf"), str(tmp_path / "b" / "hf")])
    assert [g.name for g in found.groups] == [str(tmp_path / "a" / "hf"), str(tmp_path / "b" / "hf")]
    runs, errors = load(["a", "b"])
    assert not errors and [(r.name, r.path) for r in runs] == [("a/hf", "a/hf"), ("b/hf", "b/hf")]


def test_run_names_left_equal_are_told_apart(tmp_path, monkeypatch):
    """A file argument and a folder argument whose runs end up with one name: the folder relative to the working
    directory names them instead."""
    monkeypatch.chdir(tmp_path)
    make(tmp_path, {"x/hf/metrics.jsonl": '{"step": 1, "loss": 1.0}\n',
                    "y/x/hf/metrics.jsonl": '{"step": 1, "loss": 1.0}\n'})
    names = [g.name for g in discover(["x/hf/metrics.jsonl", "y"]).groups]
    assert len(set(names)) == 2, names
