"""HF Trainer trainer_state.json reader, on real Trainer output (tests/data/hf, written by make_hf_fixture.py) and
on the real-world files in /work/shared/realworld/trainer_state."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslint.errors import ReadError
from losslint.io.trainer_state import READER, eval_set_names, metric_name
from reader_support import read_damaged
from realworld_path import REALWORLD, digests, realworld
from tensorboard_points import tensorboard_points

HF = Path(__file__).parent / "data" / "hf"

TS = REALWORLD / "trainer_state"
# TensorBoard stores scalars as float32; trainer_state.json keeps the Python float.
FLOAT32_RTOL = 1e-6


def read_one(path: Path, name: str = "run", aliases=None):
    runs = READER.read([path], name, aliases)
    assert len(runs) == 1
    return runs[0]


def history(path: Path) -> list[dict]:
    return json.loads(path.read_text())["log_history"]


# --- the real Trainer runs written by tests/make_hf_fixture.py -------------------------------------------------


def test_fixture_series_match_log_history():
    path = HF / "single_eval" / "trainer_state.json"
    run = read_one(path)
    entries = history(path)
    train = [e for e in entries if "loss" in e and "step" in e]
    evals = [e for e in entries if "eval_loss" in e]
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [e["step"] for e in train]
    assert loss["value"].tolist() == [e["loss"] for e in train]
    assert loss["epoch"].tolist() == [e["epoch"] for e in train]
    assert run.series("train/grad_norm")["value"].tolist() == [e["grad_norm"] for e in train]
    assert run.series("train/learning_rate")["value"].tolist() == [e["learning_rate"] for e in train]
    assert run.series("eval/loss")["step"].tolist() == [e["step"] for e in evals]
    assert run.series("eval/accuracy")["value"].tolist() == [e["eval_accuracy"] for e in evals]
    assert (run.data["tag"][run.data["metric"] == "eval/loss"] == "eval_loss").all()


def test_fixture_runtime_keys_and_summary_stay_out_of_the_series():
    run = read_one(HF / "single_eval" / "trainer_state.json")
    assert set(run.metrics()) == {"train/loss", "train/grad_norm", "train/learning_rate", "eval/loss", "eval/accuracy"}
    summary = [e for e in history(HF / "single_eval" / "trainer_state.json") if "train_runtime" in e][0]
    assert run.metadata["train_summary"]["train_loss"] == summary["train_loss"]
    # the summary's average train_loss must not appear as a last point of the loss curve
    assert summary["train_loss"] not in run.series("train/loss")["value"].tolist()


def test_fixture_metadata_best_checkpoint_and_early_stopping():
    path = HF / "single_eval" / "trainer_state.json"
    state = json.loads(path.read_text())
    run = read_one(path)
    assert run.metadata["best_global_step"] == state["best_global_step"]
    assert run.metadata["best_metric"] == state["best_metric"]
    assert run.metadata["best_model_checkpoint"].endswith(f"checkpoint-{state['best_global_step']}")
    # the fixture script passes EarlyStoppingCallback(early_stopping_patience=3)
    assert run.metadata["early_stopping"]["patience"] == 3
    assert run.metadata["early_stopping"]["threshold"] == 0.0
    assert isinstance(run.metadata["early_stopping"]["patience_counter"], int)
    # best_metric is the lowest eval_loss (metric_for_best_model="eval_loss")
    assert run.metadata["best_metric"] == pytest.approx(run.series("eval/loss")["value"].min())


def test_fixture_two_eval_sets_are_named_per_set():
    run = read_one(HF / "two_eval_sets" / "trainer_state.json")
    evals = {m for m in run.metrics() if m.startswith("eval/")}
    assert evals == {"eval/clean/loss", "eval/clean/accuracy", "eval/noisy/loss", "eval/noisy/accuracy"}
    # the noisy set flips 40% of its labels: its loss must be the worse one at every eval
    clean = run.series("eval/clean/loss")["value"].to_numpy()
    noisy = run.series("eval/noisy/loss")["value"].to_numpy()
    assert (noisy > clean).all()


def test_checkpoint_copies_are_one_run_keyed_by_the_output_dir():
    out = HF / "single_eval"
    copies = sorted(out.rglob("trainer_state.json"))
    assert len(copies) == 3
    assert {READER.run_key(p) for p in copies} == {out}
    run = READER.read(copies, "run")[0]
    # the top-level file wins the tie at global_step 40: only it holds the end-of-training summary
    assert run.sources == [str(out / "trainer_state.json")]
    assert "train_summary" in run.metadata
    assert any("other copy" in note for note in run.notes)


def test_newest_checkpoint_wins_over_an_older_top_level_file(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-40").mkdir(parents=True)
    shutil.copy(HF / "single_eval" / "checkpoint-30" / "trainer_state.json", out / "trainer_state.json")
    shutil.copy(HF / "single_eval" / "checkpoint-40" / "trainer_state.json", out / "checkpoint-40")
    run = READER.read([out / "trainer_state.json", out / "checkpoint-40" / "trainer_state.json"], "run")[0]
    assert run.sources == [str(out / "checkpoint-40" / "trainer_state.json")]
    assert run.series("train/loss")["step"].max() == 40


def test_only_checkpoint_copies_reads_the_highest(tmp_path):
    for step in (30, 40):
        (tmp_path / f"checkpoint-{step}").mkdir()
        shutil.copy(HF / "single_eval" / f"checkpoint-{step}" / "trainer_state.json", tmp_path / f"checkpoint-{step}")
    paths = [tmp_path / "checkpoint-40" / "trainer_state.json", tmp_path / "checkpoint-30" / "trainer_state.json"]
    assert {READER.run_key(p) for p in paths} == {tmp_path}
    run = READER.read(paths, "run")[0]
    assert run.sources == [str(paths[0])]


def test_fixture_values_equal_its_own_tensorboard_logs():
    for name, pairs in (
        ("single_eval", {"train/loss": "train/loss", "train/learning_rate": "train/learning_rate",
                         "train/grad_norm": "train/grad_norm", "eval/loss": "eval/loss",
                         "eval/accuracy": "eval/accuracy"}),
        ("two_eval_sets", {"eval/clean/loss": "eval/clean_loss", "eval/noisy/accuracy": "eval/noisy_accuracy"}),
    ):
        run = read_one(HF / name / "trainer_state.json")
        tb = tensorboard_points(HF / name / "runs")
        for metric, tag in pairs.items():
            series = run.series(metric)
            steps, values = tb[tag]
            assert series["step"].tolist() == steps.tolist(), (name, metric)
            np.testing.assert_allclose(series["value"].to_numpy(), values, rtol=FLOAT32_RTOL, err_msg=metric)


def test_fixture_files_are_unchanged_by_reading():
    files = sorted(p for p in HF.rglob("*") if p.is_file())
    before = digests(files)
    for out in (HF / "single_eval", HF / "two_eval_sets"):
        READER.read(sorted(out.rglob("trainer_state.json")), "run")
    assert digests(files) == before


# --- real-world files ------------------------------------------------------------------------------------------


def test_realworld_six_eval_sets():
    path = realworld(TS / "trainer-state-viz-example" / "trainer_state.json")
    run = read_one(path)
    for group in range(6):
        for metric in ("loss", "accuracy"):
            series = run.series(f"eval/g{group}/{metric}")
            assert len(series) == 31  # one eval per epoch for 30 epochs, plus the eval at step 0
            assert series["step"].iloc[0] == 0
    assert "eval/loss" not in run.metrics()
    assert not any("runtime" in m or "per_second" in m for m in run.metrics())
    assert len(run.series("train/loss")) == 30


def test_realworld_predict_entries_without_step_are_left_out():
    path = realworld(TS / "cpt-rouge-summarization" / "trainer_state.json")
    run = read_one(path)
    stepless = [e for e in history(path) if "step" not in e]
    assert stepless and all(any(k.startswith("predict_") for k in e) for e in stepless)
    assert not any(m.startswith("predict") for m in run.metrics())
    assert not any("predict" in t for t in run.data["tag"])
    # ROUGE and gen_len are plain eval metrics, not eval sets called "rouge" or "gen"
    assert {"eval/loss", "eval/rouge-1", "eval/rouge-2", "eval/rouge-l", "eval/gen_len"} <= set(run.metrics())
    assert len(run.series("eval/rouge-1")) == 10
    assert any(f"{len(stepless)} log_history entries without a step" in n for n in run.notes)


def test_realworld_resumed_run_is_continuous():
    path = realworld(TS / "whisper-tiny-nob-resumed" / "trainer_state.json")
    run = read_one(path)
    loss = run.series("train/loss")
    assert len(loss) == sum(1 for e in history(path) if "loss" in e)
    assert np.all(np.diff(loss["step"].to_numpy()) > 0)
    assert loss["step"].iloc[-1] == 100_000
    assert len(run.series("eval/wer")) == 100
    assert run.metadata["best_model_checkpoint"] == "./checkpoint-98000"


def test_realworld_no_eval_and_rounded_loss():
    run = read_one(realworld(TS / "bert-weibo-rumor" / "trainer_state.json"))
    assert set(run.metrics()) == {"train/loss", "train/learning_rate"}
    assert run.series("train/loss")["value"].iloc[0] == 0.981  # older Trainer rounds the logged loss to 4 digits
    assert run.metadata["global_step"] == 25800


def test_realworld_early_stopping_state():
    run = read_one(realworld(TS / "whisper-v3-lora-tr" / "trainer_state.json"))
    assert run.metadata["best_global_step"] == 250
    assert run.metadata["early_stopping"] == {"patience": 5, "threshold": 0.0, "patience_counter": 5}


def test_realworld_last_checkpoint_copy_holds_the_same_series():
    top = read_one(realworld(TS / "whisper-large-v2-ja" / "trainer_state.json"))
    last = read_one(realworld(TS / "whisper-large-v2-ja-last-checkpoint" / "trainer_state.json"))
    assert top.data.equals(last.data)
    assert "train_summary" in top.metadata and "train_summary" not in last.metadata


def test_realworld_gpt2_trainer_state_equals_its_tensorboard_logs():
    path = realworld(TS / "hf-trainer-gpt2-lain" / "trainer_state.json")
    tb_dir = realworld(REALWORLD / "tensorboard" / "hf-trainer-gpt2-lain")
    run = read_one(path)
    tb = tensorboard_points(tb_dir)
    for metric in ("train/loss", "train/learning_rate"):
        steps, values = tb[metric]
        series = run.series(metric)
        assert series["step"].tolist() == steps.tolist()
        np.testing.assert_allclose(series["value"].to_numpy(), values, rtol=FLOAT32_RTOL)


def test_realworld_files_unchanged():
    files = sorted(realworld(TS).rglob("trainer_state.json"))
    before = digests(files)
    for path in files:
        read_one(path)
    assert digests(files) == before


# --- names -----------------------------------------------------------------------------------------------------


def test_eval_set_detection_needs_a_loss_key():
    keys = ["eval_loss", "eval_rouge-1", "eval_gen_len", "eval_wer", "eval_squad_v2_loss", "eval_squad_v2_f1",
            "eval__loss"]
    assert eval_set_names(keys) == ["squad_v2"]
    sets = eval_set_names(keys)
    assert metric_name("eval_squad_v2_f1", sets) == "eval/squad_v2/f1"
    assert metric_name("eval_squad_v2_loss", sets) == "eval/squad_v2/loss"
    assert metric_name("eval_wer", sets) == "eval/wer"
    assert metric_name("eval_gen_len", sets) == "eval/gen_len"
    assert metric_name("loss", sets) == "train/loss"
    assert metric_name("mean_token_accuracy", sets) == "train/mean_token_accuracy"
    assert metric_name("test_loss", sets) == "test/loss"
    assert metric_name("val_loss", sets) == "eval/loss"  # evaluate(metric_key_prefix="val")
    assert metric_name("learning_rate", sets) == "train/learning_rate"
    assert metric_name("grad_norm", sets) == "train/grad_norm"


def test_user_alias_wins(tmp_path):
    run = read_one(HF / "single_eval" / "trainer_state.json", aliases={"eval_accuracy": "eval/top1"})
    assert "eval/top1" in run.metrics() and "eval/accuracy" not in run.metrics()


# --- bad and odd input -----------------------------------------------------------------------------------------


def write_state(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trainer_state.json"
    path.write_text(text)
    return path


def test_entries_with_a_null_or_no_step_are_left_out(tmp_path):
    run = read_one(write_state(tmp_path, '{"log_history": [{"loss": 1.0, "step": null}, {"epoch": 1.0},'
                                         ' {"loss": 0.5, "step": 3}]}'))
    assert run.series("train/loss")["step"].tolist() == [3]
    assert any(n.startswith("2 log_history entries without a step") for n in run.notes)


def test_booleans_and_lists_are_not_numbers(tmp_path):
    run = read_one(write_state(tmp_path, '{"log_history": [{"loss": true, "step": 1}, {"loss": [1, 2], "step": 2},'
                                         ' {"loss": 0.5, "step": 3}]}'))
    assert run.series("train/loss")["step"].tolist() == [3]
    assert any("`loss`: 2 non-numeric" in n and "log_history[0]: True" in n for n in run.notes)


def test_nan_and_infinite_values_are_kept(tmp_path):
    path = write_state(tmp_path, '{"global_step": 3, "log_history": [\n'
                                 '{"loss": 1.0, "step": 1, "epoch": 0.1},\n'
                                 '{"loss": NaN, "step": 2, "epoch": 0.2},\n'
                                 '{"eval_loss": 0.5, "step": 2},\n'
                                 '{"loss": Infinity, "step": 3}]}')
    run = read_one(path)
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [1, 2, 3]
    assert loss["value"].iloc[0] == 1.0 and np.isnan(loss["value"].iloc[1]) and np.isposinf(loss["value"].iloc[2])
    assert run.series("eval/loss")["step"].tolist() == [2]  # the NaN logic must not invent eval points elsewhere
    assert np.isnan(loss["epoch"].iloc[2])


@pytest.mark.parametrize("text, fragment", [
    ('{"global_step": 3, "log_history": [\n{"loss": 1.0, "step": 1},\n{"loss": 0.9, "st', "truncated"),
    ("", "empty file"),
    ('{"global_step": 3}', "log_history"),
    ('[1, 2]', "log_history"),
    ('{"log_history": [{"loss": 1.0, "step": "five"}]}', "not a whole number"),
    ('{"log_history": [{"loss": 1.0, "step": true}]}', "step True is not a whole number"),
    ('{"log_history": [{"loss": 1.0, "step": 1e30}]}', "out of the int64 range"),  # would wrap around in int64
    ('{"log_history": [{"loss": 1.0, "step": 1}, 7]}', "log_history[1]"),
])
def test_bad_input_is_one_read_error(tmp_path, text, fragment):
    path = write_state(tmp_path, text)
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert fragment in info.value.text
    assert info.value.path == str(path)


def test_truncated_file_error_has_a_line(tmp_path):
    path = write_state(tmp_path, '{"global_step": 3, "log_history": [\n{"loss": 1.0, "step": 1},\n{"loss": 0.9, "st')
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert info.value.line == 3


def test_binary_garbage_is_a_read_error(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ReadError, match=r"binary data \(NUL byte\)"):
        READER.read([path], "run")
    path.write_bytes(b'{"log_history": [\xff\xfe]}')  # no NUL, still not text
    with pytest.raises(ReadError, match="UTF-8"):
        READER.read([path], "run")


def test_lfs_pointer_is_a_read_error(tmp_path):
    path = write_state(tmp_path, "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(ReadError, match="git lfs pull"):
        READER.read([path], "run")


def test_empty_log_history_is_an_empty_run_with_a_note(tmp_path):
    run = read_one(write_state(tmp_path, '{"global_step": 0, "log_history": []}'))
    assert run.data.empty and run.notes


def test_can_read_only_trainer_state_json(tmp_path):
    assert READER.can_read(Path("x/trainer_state.json"))
    assert not READER.can_read(Path("x/trainer_state.json.bak"))
    assert not READER.can_read(Path("x/config.json"))


STATE = (HF / "single_eval" / "checkpoint-30" / "trainer_state.json").read_bytes()


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(STATE)), junk=st.binary(max_size=8), at=st.integers(0, len(STATE)))
def test_damaged_file_reads_or_is_one_read_error(cut, junk, at):
    """Cut anywhere, bytes spliced in anywhere: a Run or a ReadError, never another exception."""
    runs = read_damaged(READER, STATE, cut, junk, at, "trainer_state.json")
    assert runs is None or len(runs) == 1


@pytest.mark.slow
def test_fixture_script_reproduces_the_committed_runs(tmp_path):
    """tests/make_hf_fixture.py still runs with the installed transformers and writes the committed runs again."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # the Trainer needs it
    script = Path(__file__).parent / "make_hf_fixture.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True, timeout=600)
    for name in ("single_eval", "two_eval_sets"):
        assert sorted(p.relative_to(tmp_path / name).parts[0] for p in (tmp_path / name).rglob("trainer_state.json")) \
            == ["checkpoint-30", "checkpoint-40", "trainer_state.json"]
        assert list((tmp_path / name / "runs").rglob("events.out.tfevents*"))
        new, old = read_one(tmp_path / name / "trainer_state.json"), read_one(HF / name / "trainer_state.json")
        assert new.metrics() == old.metrics()
        # same seeds, same data, CPU: the same curve up to float noise across machines
        np.testing.assert_allclose(new.series("train/loss")["value"].to_numpy(),
                                   old.series("train/loss")["value"].to_numpy(), rtol=1e-4)


# --- a Trainer state saved under another name ------------------------------------------------------------------


def test_a_state_saved_under_another_json_name_is_read_by_content(tmp_path):
    """`trainer_state_first.json` beside `trainer_state.json` (an author keeping an earlier run): two runs, each
    read; a JSON file that is not a Trainer state is left alone."""
    from losslint.discover import discover, load

    state = HF / "single_eval" / "trainer_state.json"
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(state, out / "trainer_state.json")
    shutil.copy(state, out / "trainer_state_first.json")
    (out / "config.json").write_text(json.dumps({"architectures": ["Bert"], "global_step": 3}))
    assert not READER.can_read(out / "trainer_state_first.json")  # not by its name: by its content, when no
    assert READER.claims_by_content(out / "trainer_state_first.json")  # reader claimed the file by name
    assert not READER.claims_by_content(out / "config.json")
    found = discover([tmp_path])
    assert sorted(g.name for g in found.groups if g.format == "trainer_state") == [
        "results", "results/trainer_state_first.json"]
    runs, errors = load([tmp_path])
    assert errors == []
    first = next(r for r in runs if r.name.endswith("trainer_state_first.json"))
    assert len(first.series("eval/loss")) == len(read_one(state).series("eval/loss")) > 0
    assert first.path == "results/trainer_state_first.json" or first.path.endswith("results/trainer_state_first.json")


def test_a_state_committed_under_a_source_file_name_is_found_in_a_walk(tmp_path):
    """A Trainer state committed as `baselines/lrqa/__init__.py` (the labelled QuALITY run) is a run; Python
    source beside it, a notebook that prints a state in its first cell and a checkpoint are not."""
    from losslint.discover import discover, load

    state = (HF / "single_eval" / "trainer_state.json").read_bytes()
    pkg = tmp_path / "baselines" / "lrqa"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_bytes(state)
    (pkg / "model.py").write_text("import torch\n\nclass Reader(torch.nn.Module):\n    pass\n")
    (pkg / "explore.ipynb").write_text(json.dumps({"cells": [{"outputs": [state.decode()]}], "global_step": 1,
                                                   "log_history": []}, indent=1))
    (pkg / "weights.pt").write_bytes(state)  # a binary name is never opened to sniff
    found = discover([tmp_path])
    assert [(g.format, g.name) for g in found.groups] == [("trainer_state", "baselines/lrqa/__init__.py")]
    assert found.errors == []
    runs, errors = load([tmp_path])
    assert errors == [] and len(runs) == 1
    assert len(runs[0].series("eval/loss")) == len(read_one(HF / "single_eval" / "trainer_state.json").series(
        "eval/loss")) > 0
    # named on the command line, the same file is read by its content too
    runs, errors = load([pkg / "__init__.py"])
    assert errors == [] and len(runs) == 1


def test_a_renamed_state_cut_short_is_one_error(tmp_path):
    text = (HF / "single_eval" / "trainer_state.json").read_text()
    bad = tmp_path / "state_backup.json"
    bad.write_text(text[: len(text) // 2])
    assert READER.claims_by_content(bad)
    with pytest.raises(ReadError, match="truncated"):
        READER.read([bad], "run")
