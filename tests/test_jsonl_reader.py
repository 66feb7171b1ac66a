"""JSON-lines reader: detectron2 metrics.json (real files) and hand-written edge cases."""
from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslint.errors import ReadError
from losslint.io.jsonl import READER
from reader_support import read_damaged
from realworld_path import REALWORLD, digests, realworld
from tensorboard_points import tensorboard_points

FRUIT = REALWORLD / "jsonl" / "detectron2-fruit" / "metrics.json"
WASTE = REALWORLD / "jsonl" / "detectron2-medical-waste" / "metrics.json"
FLOAT32_RTOL = 1e-6  # TensorBoard stores float32


def write(tmp_path: Path, text: str, name: str = "log.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_one(path: Path, aliases=None):
    runs = READER.read([path], "run", aliases)
    assert len(runs) == 1
    return runs[0]


# --- detectron2 ------------------------------------------------------------------------------------------------


def test_detectron2_metrics_json_is_sniffed_and_read():
    path = realworld(FRUIT)
    assert READER.can_read(path)
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    train = [r for r in lines if "total_loss" in r]
    run = read_one(path)
    loss = run.series("train/loss")
    assert loss["step"].tolist() == [r["iteration"] for r in train]
    assert loss["value"].tolist() == [r["total_loss"] for r in train]
    assert (loss["tag"] == "total_loss").all()
    assert run.series("train/learning_rate")["value"].tolist() == [r["lr"] for r in train]
    # bbox/APs is a bare NaN token at each of the 3 evaluations: kept as NaN values, not dropped
    # detectron2's COCO evaluator results are validation metrics: filed under eval/
    aps = run.series("eval/bbox/aps")
    assert len(aps) == 3 and aps["value"].isna().all()
    assert run.series("eval/bbox/ap")["value"].notna().all()


def test_detectron2_jsonl_equals_its_tensorboard_file():
    path = realworld(FRUIT)
    tb_dir = realworld(REALWORLD / "tensorboard" / "detectron2-fruit")
    tb = tensorboard_points(tb_dir)
    run = read_one(path)
    compared = 0
    for tag in ("total_loss", "loss_cls", "loss_box_reg", "lr", "fast_rcnn/cls_accuracy", "bbox/AP", "bbox/AP50"):
        rows = run.data[run.data["tag"] == tag]
        steps, values = tb[tag]
        assert rows["step"].tolist() == steps.tolist(), tag
        np.testing.assert_allclose(rows["value"].to_numpy(), values, rtol=FLOAT32_RTOL, err_msg=tag)
        compared += 1
    assert compared == 7


def test_detectron2_without_eval_rows():
    path = realworld(WASTE)
    run = read_one(path)
    rows = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert len(run.series("train/loss")) == rows
    assert not run.notes


def test_realworld_files_unchanged():
    paths = [realworld(FRUIT), realworld(WASTE)]
    before = digests(paths)
    for path in paths:
        read_one(path)
    assert digests(paths) == before


# --- can_read --------------------------------------------------------------------------------------------------


def test_can_read_by_name_and_sniff(tmp_path):
    assert READER.can_read(write(tmp_path, '{"step": 1}\n', "a.jsonl"))
    assert READER.can_read(write(tmp_path, '{"step": 1}\n', "a.ndjson"))
    assert READER.can_read(write(tmp_path, '{"iteration": 1, "loss": 2}\n{"iteration": 2, "loss": 1}\n', "x.json"))
    # one object on one line: a config or a W&B summary, unless detectron2's name says otherwise
    assert not READER.can_read(write(tmp_path, '{"lr": 0.1, "epochs": 3}\n', "config.json"))
    assert READER.can_read(write(tmp_path, '{"iteration": 19, "total_loss": 2.5}\n', "metrics.json"))
    assert not READER.can_read(write(tmp_path, '{"accuracy": 0.9, "f1": 0.8}\n', "metrics.json"))  # DVC-style
    # pretty-printed JSON
    assert not READER.can_read(write(tmp_path, '{\n  "iteration": 1\n}\n{\n  "iteration": 2\n}\n', "p.json"))
    assert not READER.can_read(write(tmp_path, "[1, 2]\n[3]\n", "list.json"))
    assert not READER.can_read(write(tmp_path, "", "empty.json"))
    assert not READER.can_read(write(tmp_path, '{"_runtime": 1}\n{"_runtime": 2}\n', "wandb-events.jsonl"))
    assert not READER.can_read(write(tmp_path, '{"step": 1}\n', "a.csv"))


def test_sniff_reads_only_the_head(tmp_path):
    # a first line is read to its end up to MAX_LINE_SNIFF_BYTES (DETR's 4-10 kB epoch lines); a longer one cannot
    # be confirmed as JSON lines
    from losslint.io.jsonl import MAX_LINE_SNIFF_BYTES

    long_line = json.dumps({"step": 1, "blob": "x" * 10_000})
    assert READER.can_read(write(tmp_path, long_line + "\n" + long_line + "\n", "big.json"))
    too_long = json.dumps({"step": 1, "blob": "x" * MAX_LINE_SNIFF_BYTES})
    assert not READER.can_read(write(tmp_path, too_long + "\n" + too_long + "\n", "huge.json"))


# --- parsing ---------------------------------------------------------------------------------------------------


def test_step_keys_in_order_of_preference(tmp_path):
    run = read_one(write(tmp_path, '{"global_step": 10, "iter": 1, "loss": 1.0}\n'
                                   '{"global_step": 20, "iter": 2, "loss": 0.5}\n'))
    assert run.series("train/loss")["step"].tolist() == [10, 20]
    # only the chosen step key is the step; a second counter stays a plain (non-canonical) metric
    assert run.series("iter")["value"].tolist() == [1.0, 2.0]
    run = read_one(write(tmp_path, '{"_step": 3, "loss": 1.0}\n{"_step": 4, "loss": 0.5}\n'))
    assert run.series("train/loss")["step"].tolist() == [3, 4]


def test_no_step_key_uses_line_order_with_a_note(tmp_path):
    run = read_one(write(tmp_path, '{"loss": 3.0}\n\n{"loss": 2.0}\n{"loss": 1.0}\n'))
    assert run.series("train/loss")["step"].tolist() == [0, 1, 2]
    assert any("no step key" in n for n in run.notes)


def test_nested_objects_are_flattened_with_slash(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "train": {"loss": 2.0}, "val": {"loss": 2.5, "acc": 0.5}}\n'
                                   '{"step": 2, "train": {"loss": 1.0}}\n'))
    assert run.series("train/loss")["value"].tolist() == [2.0, 1.0]
    assert run.series("eval/loss")["step"].tolist() == [1]
    assert run.series("eval/accuracy")["value"].tolist() == [0.5]
    assert set(run.data["tag"]) == {"train/loss", "val/loss", "val/acc"}


def test_nan_and_infinity_tokens_are_values_and_missing_keys_are_not(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "loss": 1.0, "val_loss": NaN}\n'
                                   '{"step": 2, "loss": Infinity}\n'
                                   '{"step": 3, "loss": -Infinity, "val_loss": null}\n'
                                   '{"step": 4, "loss": NaN, "val_loss": 0.5}\n'))
    loss = run.series("train/loss")["value"].tolist()
    assert loss[0] == 1.0 and math.isinf(loss[1]) and loss[1] > 0 and math.isinf(loss[2]) and loss[2] < 0
    assert math.isnan(loss[3])
    val = run.series("eval/loss")
    assert val["step"].tolist() == [1, 4]
    assert math.isnan(val["value"].iloc[0]) and val["value"].iloc[1] == 0.5


def test_epoch_and_wall_time_columns(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "epoch": 0.5, "timestamp": 1700000000.5, "loss": 1.0}\n'
                                   '{"step": 2, "epoch": 1.0, "timestamp": 1700000001.5, "loss": 0.5}\n'))
    assert run.metrics() == ["train/loss"]
    loss = run.series("train/loss")
    assert loss["epoch"].tolist() == [0.5, 1.0]
    assert loss["wall_time"].tolist() == [1700000000.5, 1700000001.5]


def test_huge_integers_do_not_break_the_fast_path(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "ns": 1700000000123456789, "loss": 1.0}\n'
                                   '{"step": 2, "ns": 1700000001123456789, "loss": 0.5}\n'))
    assert run.series("ns")["value"].tolist() == [1.700000000123456789e18, 1.700000001123456789e18]


def test_truncated_final_line_is_dropped_with_a_note(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n{"step": 3, "lo'))
    assert run.series("train/loss")["step"].tolist() == [1, 2]
    assert any("line 3" in n and "cut short" in n for n in run.notes)


def test_malformed_middle_line_is_a_read_error_with_its_line(tmp_path):
    path = write(tmp_path, '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n\n{"step": 3 "loss": 1}\n{"step": 4}\n')
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert info.value.line == 4 and "invalid JSON" in info.value.message


def test_two_objects_on_one_line_is_a_read_error(tmp_path):
    path = write(tmp_path, '{"step": 1}\n{"step": 2}, {"step": 3}\n{"step": 4}\n')
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert info.value.line == 2


def test_a_line_that_is_not_an_object_is_a_read_error(tmp_path):
    path = write(tmp_path, '{"step": 1}\n[1, 2]\n{"step": 4}\n')
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert info.value.line == 2 and "object" in info.value.message


def test_non_numeric_values_give_one_note_per_key(tmp_path):
    lines = [f'{{"step": {i}, "loss": {v}, "phase": "train", "ok": true}}'
             for i, v in enumerate(["1.0", '"oops"', "0.8", '"bad"', "0.6"], start=1)]
    run = read_one(write(tmp_path, "\n".join(lines) + "\n"))
    assert run.series("train/loss")["step"].tolist() == [1, 3, 5]
    loss_notes = [n for n in run.notes if "`loss`" in n]
    assert len(loss_notes) == 1 and "2 non-numeric" in loss_notes[0] and "line 2" in loss_notes[0]
    assert len([n for n in run.notes if "`phase`" in n]) == 1
    assert len([n for n in run.notes if "`ok`" in n]) == 1  # booleans are not numbers
    assert set(run.metrics()) == {"train/loss"}


def test_many_skipped_keys_are_capped(tmp_path):
    row = {"step": 1, **{f"name{i}": "text" for i in range(12)}, "loss": 1.0}
    run = read_one(write(tmp_path, json.dumps(row) + "\n" + json.dumps({**row, "step": 2}) + "\n"))
    assert len(run.notes) == 6 and "7 more keys" in run.notes[-1]


def test_lines_without_the_step_key_are_left_out_with_a_note(tmp_path):
    run = read_one(write(tmp_path, '{"step": 1, "loss": 1.0}\n{"final_accuracy": 0.9}\n{"step": 2, "loss": 0.5}\n'))
    assert run.series("train/loss")["step"].tolist() == [1, 2]
    assert "final_accuracy" not in run.metrics()
    assert any("without `step`" in n and "line 2" in n for n in run.notes)


@pytest.mark.parametrize("text, fragment, line", [
    ('{"step": "abc", "loss": 1}\n', "not a whole number", 1),
    ('{"step": 1, "loss": 1}\n{"step": 2.5, "loss": 1}\n', "not a whole number", 2),
    ('{"step": 1, "loss": 1}\n{"step": NaN, "loss": 1}\n', "not a whole number", 2),
    ('{"step": 1, "loss": 1}\n{"step": true, "loss": 1}\n', "not a whole number", 2),
    ('{"step": 1e30, "loss": 1}\n', "out of the int64 range", 1),
    ("", "empty file", None),
    ("   \n\n", "empty file", None),
])
def test_bad_input_is_one_read_error(tmp_path, text, fragment, line):
    path = write(tmp_path, text)
    with pytest.raises(ReadError) as info:
        READER.read([path], "run")
    assert fragment in info.value.message and info.value.line == line


def test_binary_garbage_is_a_read_error(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"step": 1}\n' + bytes(range(256)))
    with pytest.raises(ReadError, match="binary"):
        READER.read([path], "run")
    path.write_bytes(b'{"step": 1}\n\xff\xfe\xfa{"step": 2}\n')
    with pytest.raises(ReadError, match="UTF-8") as info:
        READER.read([path], "run")
    assert info.value.line == 2


def test_file_is_unchanged(tmp_path):
    path = write(tmp_path, '{"step": 1, "loss": NaN}\n{"step": 2, "lo')
    before = digests([path])
    read_one(path)
    assert digests([path]) == before


def test_two_files_with_different_metrics_are_one_run(tmp_path):
    train = write(tmp_path, '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n', "train.jsonl")
    val = write(tmp_path, '{"step": 2, "val_loss": 0.7}\n', "eval.jsonl")
    runs = READER.read([train, val], "run")
    assert len(runs) == 1
    assert set(runs[0].metrics()) == {"train/loss", "eval/loss"} and len(runs[0].sources) == 2


def test_two_files_with_the_same_metrics_are_separate_runs(tmp_path):
    a = write(tmp_path, '{"step": 1, "loss": 1.0}\n', "seed0.jsonl")
    b = write(tmp_path, '{"step": 1, "loss": 2.0}\n', "seed1.jsonl")
    runs = READER.read([a, b], "run")
    assert sorted(r.name for r in runs) == ["run/seed0", "run/seed1"]
    assert all(len(r.series("train/loss")) == 1 for r in runs)


def test_fast_and_slow_parse_paths_agree(tmp_path, monkeypatch):
    """pyarrow's reader and the json-module fallback must give the same run, NaN/Infinity and nesting included."""
    pytest.importorskip("pyarrow")
    import losslint.io.jsonl as jsonl

    text = ('{"step": 1, "loss": 1.5, "val": {"loss": NaN, "acc": 0.5}, "lr": 0.1}\n'
            '\n'
            '{"step": 2, "loss": Infinity, "lr": 0.1}\n'
            '{"step": 3, "loss": -Infinity, "val": {"loss": 0.25, "acc": null}, "lr": 0.05}\n'
            '{"step": 4, "loss": NaN, "lr": 0.05, "epoch": 1}\n')
    path = write(tmp_path, text)
    assert jsonl._parse_with_arrow(path.read_bytes()) is not None  # the fast path does take this file
    fast = read_one(path)
    monkeypatch.setattr(jsonl, "_parse_with_arrow", lambda data: None)
    slow = read_one(path)
    assert fast.data.equals(slow.data)
    assert fast.series("eval/loss")["step"].tolist() == [1, 3]
    fruit = realworld(FRUIT)
    monkeypatch.undo()
    fast = read_one(fruit)
    monkeypatch.setattr(jsonl, "_parse_with_arrow", lambda data: None)
    assert fast.data.equals(read_one(fruit).data)


DETECTRON2_HEAD = (b'{"data_time": 0.005, "iteration": 19, "lr": 1.6e-05, "total_loss": 2.63}\n'
                   b'{"bbox/AP": 23.9, "bbox/APs": NaN, "iteration": 99}\n'
                   b'{"data_time": 0.005, "iteration": 39, "lr": 3.2e-05, "total_loss": 2.09}\n')


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(DETECTRON2_HEAD)), junk=st.binary(max_size=8), at=st.integers(0, len(DETECTRON2_HEAD)))
def test_damaged_file_reads_or_is_one_read_error(cut, junk, at):
    """Cut anywhere, bytes spliced in anywhere: a Run or a ReadError, never another exception."""
    runs = read_damaged(READER, DETECTRON2_HEAD, cut, junk, at, "metrics.jsonl")
    assert runs is None or len(runs) == 1


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**62, 2**62), st.text(max_size=3),
                     st.floats(allow_nan=True, allow_infinity=True))
_VALUES = st.recursive(_SCALARS, lambda inner: st.dictionaries(st.sampled_from("abc"), inner, max_size=2) |
                       st.lists(inner, max_size=2), max_leaves=4)
_ROWS = st.lists(st.dictionaries(st.sampled_from(["step", "loss", "val", "x"]), _VALUES, max_size=4),
                 min_size=1, max_size=5)


@settings(max_examples=80, deadline=None)
@given(rows=_ROWS)
def test_fast_and_slow_paths_agree_on_any_json_lines(rows):
    """Whatever JSON-lines content: the pyarrow path gives the run the json-module path gives, or declines."""
    pytest.importorskip("pyarrow")
    import losslint.io.jsonl as jsonl

    data = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    fast = jsonl._parse_with_arrow(data)
    if fast is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        path.write_bytes(data)
        outcomes = []
        for parse_with_arrow in (jsonl._parse_with_arrow, lambda data: None):
            original = jsonl._parse_with_arrow
            jsonl._parse_with_arrow = parse_with_arrow
            try:
                outcomes.append(read_one(path))
            except ReadError as exc:
                outcomes.append(exc.text)
            finally:
                jsonl._parse_with_arrow = original
    fast_run, slow_run = outcomes
    if isinstance(fast_run, str) or isinstance(slow_run, str):
        assert _without_values([fast_run]) == _without_values([slow_run])
    else:
        assert fast_run.data.equals(slow_run.data)
        assert _without_values(fast_run.notes) == _without_values(slow_run.notes)


def _without_values(texts: list) -> list:
    """Messages with the quoted offending value blanked: pyarrow shows a list [0, 0.0] as [0.0, 0.0]."""
    return [re.sub(r"`(\w+)` .* is not", r"`\1` ... is not", re.sub(r"(line \d+: ).*\)$", r"\1...)", str(t)))
            for t in texts]


# --- JSON lines under any name: MAE/DeiT/timm `log.txt` ------------------------------------------------------------


def write_mae_log(path: Path, epochs: int, start: int = 0) -> Path:
    """What MAE's main_finetune.py (and DeiT's main.py) append after each epoch, byte for byte."""
    import json as _json

    path.parent.mkdir(parents=True, exist_ok=True)
    for epoch in range(start, start + epochs):
        train_stats = {"lr": 1e-3 * 0.9 ** epoch, "loss": 2.0 / (epoch + 1)}
        test_stats = {"acc1": 50.0 + epoch, "acc5": 80.0 + epoch / 2, "loss": 1.5 / (epoch + 1) + 0.1}
        log_stats = {**{f"train_{k}": v for k, v in train_stats.items()},
                     **{f"test_{k}": v for k, v in test_stats.items()},
                     "epoch": epoch, "n_parameters": 86_000_000}
        with open(path, mode="a", encoding="utf-8") as f:
            f.write(_json.dumps(log_stats) + "\n")
    return path


def test_json_lines_named_log_txt_are_read_by_content(tmp_path):
    from losslint.discover import load

    log = write_mae_log(tmp_path / "output_dir" / "log.txt", 6)
    assert READER.can_read(log)
    runs, errors = load([tmp_path])
    assert errors == [] and [(r.name, r.format) for r in runs] == [("output_dir", "jsonl")]
    loss = runs[0].series("train/loss")
    assert loss["step"].tolist() == list(range(6)) and loss["epoch"].tolist() == [float(e) for e in range(6)]
    assert runs[0].series("train/learning_rate")["value"].iloc[0] == pytest.approx(1e-3)
    assert any("`epoch`" in note and "is the step" in note for note in runs[0].notes)


def test_a_log_txt_after_one_epoch_is_read_too(tmp_path):
    log = write_mae_log(tmp_path / "log.txt", 1)
    assert READER.can_read(log)
    assert READER.read([log], "run")[0].series("train/loss")["step"].tolist() == [0]


def test_a_log_txt_of_lines_wider_than_the_sniff_is_read_by_content(tmp_path):
    """DETR's log.txt: per-layer losses and COCO numbers make each epoch's line 4-10 kB, wider than the 4 kB
    sniff; it is read to the end of its first line."""
    from losslint.io.jsonl import SNIFF_BYTES

    log = tmp_path / "outputs" / "log.txt"
    log.parent.mkdir()
    with open(log, "w", encoding="utf-8") as f:
        for epoch in range(5):
            stats = {"train_loss": 20.0 / (epoch + 1), "test_loss": 15.0 / (epoch + 1) + 1.0, "epoch": epoch,
                     **{f"train_loss_ce_{k}_{layer}": 0.5 for k in range(60) for layer in range(3)},
                     "test_coco_eval_bbox": [0.1 * epoch] * 12}
            f.write(json.dumps(stats) + "\n")
    assert log.read_text(encoding="utf-8").index("\n") > SNIFF_BYTES
    assert READER.can_read(log)
    [run] = READER.read([log], "run")
    assert run.series("test/loss")["step"].tolist() == list(range(5))


def test_a_resumed_log_txt_steps_by_epoch_not_by_line(tmp_path):
    log = write_mae_log(tmp_path / "log.txt", 5)
    write_mae_log(log, 4, start=3)  # crashed after epoch 4, resumed from the epoch-3 checkpoint
    steps = READER.read([log], "run")[0].series("train/loss")["step"].tolist()
    assert steps == [0, 1, 2, 3, 4, 3, 4, 5, 6]


def test_text_files_that_are_not_json_line_logs_are_left_alone(tmp_path):
    import json as _json

    structured = tmp_path / "debug-internal.log"  # wandb's structured log: JSON lines without numbers
    structured.write_text("".join(_json.dumps({"time": "2025-01-01T00:00:00", "level": "INFO", "msg": m}) + "\n"
                                  for m in ("start", "stop")))
    plain = tmp_path / "output.log"
    plain.write_text("epoch 1 loss 0.5\nepoch 2 loss 0.4\n")
    config = tmp_path / "args.txt"
    config.write_text('{"lr": 0.001, "batch_size": 64}\n')  # one line, no step or epoch: a config
    source = tmp_path / "train.py"
    source.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n')
    for path in (structured, plain, config, source):
        assert not READER.can_read(path), path.name


def test_bad_log_txt_lines_are_one_error_or_a_note(tmp_path):
    log = write_mae_log(tmp_path / "log.txt", 3)
    text = log.read_text()
    cut = tmp_path / "cut" / "log.txt"
    cut.parent.mkdir()
    cut.write_text(text + '{"train_loss": 0.3, "epo')  # killed mid-line
    run = READER.read([cut], "run")[0]
    assert len(run.series("train/loss")) == 3 and any("cut short" in n or "truncated" in n for n in run.notes)
    broken = tmp_path / "broken" / "log.txt"
    broken.parent.mkdir()
    lines = text.splitlines(keepends=True)
    broken.write_text(lines[0] + "not json\n" + "".join(lines[1:]))
    with pytest.raises(ReadError) as info:
        READER.read([broken], "run")
    assert info.value.line == 2


def test_llama_factory_trainer_log_steps_by_current_steps(tmp_path):
    """LLaMA-Factory's trainer_log.jsonl: `current_steps` is the Trainer's global step (evaluations every 500 steps
    land on their step, not on their line number); its progress keys are bookkeeping, not curves."""
    from losslint.view import RunView

    lines = []
    for step in range(10, 1010, 10):
        lines.append({"current_steps": step, "total_steps": 1000, "loss": 2.0 / (1 + step / 100), "lr": 1e-4,
                      "epoch": step / 500, "percentage": step / 10, "elapsed_time": "0:00:32",
                      "remaining_time": "6:01:13"})
        if step % 500 == 0:
            lines.append({"current_steps": step, "total_steps": 1000, "eval_loss": 1.0 / (1 + step / 500),
                          "epoch": step / 500, "percentage": step / 10})
    path = tmp_path / "trainer_log.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    [run] = READER.read([path], "run")
    assert run.series("eval/loss")["step"].tolist() == [500, 1000]
    assert run.series("train/loss")["step"].tolist()[:2] == [10, 20]
    assert not any("no step key" in note for note in run.notes)
    assert not {"percentage", "total_steps", "current_steps"} & set(RunView(run).judged_metrics())
