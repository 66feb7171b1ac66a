"""HF Trainer `trainer_state.json` (every transformers version that writes one).

`log_history` entries are told apart by their keys, not their position:

- an entry with any `eval_*` key is an evaluation;
- an entry with `train_runtime` is the end-of-training summary: kept out of the series (its `train_loss` is an
  average, not a point on the curve) and stored in `run.metadata["train_summary"]`;
- an entry without `step` (`Seq2SeqTrainer.predict()` writes `predict_*` entries that way) is left out, with a note;
- every other entry with a step is a training log (`loss`, `learning_rate`, `grad_norm`, custom keys).

Names follow what the Trainer's own TensorBoard callback writes (`eval_x` -> `eval/x`, `test_x` -> `test/x`,
anything else -> `train/x`), then `canonical_metric`; a key that names its own split (`val_loss`, from
`evaluate(metric_key_prefix="val")`) keeps it. Several eval sets (`eval_dataset={"a": ..., "b": ...}`) give
keys `eval_<set>_<metric>`; a set is recognised by its `eval_<set>_loss` key (the Trainer always reports a loss per
set), so `eval_g0_accuracy` becomes `eval/g0/accuracy` while `eval_rouge-1`, `eval_gen_len` and `eval_wer` stay plain
metrics (`eval/rouge-1`, ...).

Skipped, by design: run-time and throughput keys (`*_runtime`, `*_samples_per_second`, `*_steps_per_second`,
`*_tokens_per_second`) and counters (`total_flos`, `num_input_tokens_seen`). They measure the machine, not the model,
and no rule reads them.

A run directory holds the same run several times: `<output_dir>/trainer_state.json` and one copy per
`checkpoint-<N>/` (and `last-checkpoint/` when pushed to the Hub). They are one run keyed by the output directory;
only the newest copy (highest `global_step`, the top-level file on a tie) is read. A state saved under another
name (`trainer_state_first.json`, or a state committed as `__init__.py`) is recognised by its content when no
reader claims the file by its name, and is a run of its own.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame
from . import fs
from .base import BINARY_SUFFIXES, Reader, ReadOptions
from .fs import as_path
from .tabular import bad_step_message, is_whole_step, load_text, long_frame, short_repr

FORMAT = "trainer_state"
FILE_NAME = "trainer_state.json"

_CHECKPOINT_DIR = re.compile(r"^(?:checkpoint-(?P<step>\d+)|last-checkpoint)$")
_GLOBAL_STEP = re.compile(rb'"global_step"\s*:\s*(\d+)')
_EVAL_SET_LOSS = re.compile(r"^eval_(?P<name>.+)_loss$")

THROUGHPUT_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_tokens_per_second")
COUNTER_KEYS = frozenset({"total_flos", "num_input_tokens_seen"})
POSITION_KEYS = frozenset({"step", "epoch"})
SUMMARY_KEY = "train_runtime"
# Head bytes to peek at for `global_step`: the Trainer writes keys sorted, so it comes before `log_history`.
PEEK_BYTES = 4096


# Text that is JSON but never a Trainer state: a notebook may print one in its first cell's output.
_NOT_A_STATE_SUFFIXES = BINARY_SUFFIXES | {".ipynb"}


def is_renamed_state(path: Path) -> bool:
    """A Trainer state saved under another name (`trainer_state_first.json`, `state.json`, even `__init__.py`):
    recognised by its head. `TrainerState.save_to_json` writes sorted keys, so `global_step` and `log_history` open
    the file."""
    if path.suffix.lower() in _NOT_A_STATE_SUFFIXES or path.name == FILE_NAME:
        return False
    try:
        with fs.open_binary(path) as fh:
            head = fh.read(PEEK_BYTES)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"log_history"' in head and _GLOBAL_STEP.search(head) is not None


def is_skipped_key(key: str) -> bool:
    return key in COUNTER_KEYS or key in POSITION_KEYS or key.endswith(THROUGHPUT_SUFFIXES)


def eval_set_names(keys: Sequence[str]) -> list[str]:
    """Names of the eval sets in `eval_<set>_<metric>` keys, longest first (so `a_b` wins over `a`)."""
    names = {m.group("name") for key in keys if (m := _EVAL_SET_LOSS.match(key))}
    return sorted(names, key=len, reverse=True)


def metric_name(key: str, eval_sets: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    """Canonical name of one log_history key (see the module docstring for the rules)."""
    if aliases and any(a.strip().lower() == key.strip().lower() for a in aliases):
        return canonical_metric(key, aliases=aliases)
    if key.startswith("eval_"):
        rest = key[len("eval_"):]
        for name in eval_sets:
            if rest.startswith(name + "_"):
                metric = canonical_metric("eval_" + rest[len(name) + 1:], aliases=aliases)
                return f"eval/{name}/{metric[len('eval/'):]}" if metric.startswith("eval/") else f"eval/{name}/{metric}"
        return canonical_metric(key, aliases=aliases)
    if key.startswith("test_"):
        return canonical_metric("test/" + key[len("test_"):], aliases=aliases)
    # `evaluate(metric_key_prefix="val")` logs `val_loss`: a split the key names itself wins over the train default
    named = canonical_metric(key, aliases=aliases)
    if named != key.strip():
        return named
    return canonical_metric("train/" + key, aliases=aliases)


class TrainerStateReader(Reader):
    format = FORMAT
    priority = 10

    def can_read(self, path: Path) -> bool:
        return path.name == FILE_NAME

    def claims_by_content(self, path: Path) -> bool:
        return is_renamed_state(path)

    def run_key(self, path: Path) -> Path:
        if path.name != FILE_NAME:
            return path  # a state saved under another name (`trainer_state_first.json`) is a run of its own
        parent = path.parent
        return parent.parent if _CHECKPOINT_DIR.match(parent.name) else parent

    def owns(self, key: Path, other: Path) -> bool:
        # HF Trainer: <output_dir>/runs/<date_host>/... event files belong to the trainer_state.json run
        return key in other.parents and other.relative_to(key).parts[:1] == ("runs",)

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        chosen, others = newest_copy([as_path(p) for p in paths])
        state = load_state(chosen)
        run = state_to_run(state, chosen, name, aliases)
        if others:
            run.notes.append(f"read {chosen.parent.name}/{chosen.name} (global_step {state.get('global_step')}); "
                             f"{len(others)} other copy(ies) of the same run not read")
        return [run]


def _checkpoint_step(path: Path) -> int | None:
    m = _CHECKPOINT_DIR.match(path.parent.name)
    return int(m.group("step")) if m and m.group("step") else None


def _is_checkpoint_copy(path: Path) -> bool:
    return _CHECKPOINT_DIR.match(path.parent.name) is not None


def peek_global_step(path: Path) -> int:
    """`global_step` from the head of the file; -1 when it cannot be told cheaply (that copy then ranks last)."""
    try:
        with fs.open_binary(path) as fh:
            head = fh.read(PEEK_BYTES)
    except OSError:
        return -1
    m = _GLOBAL_STEP.search(head)
    if m:
        return int(m.group(1))
    step = _checkpoint_step(path)
    return step if step is not None else -1


def newest_copy(paths: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The copy to read (highest global_step; the top-level file wins a tie) and the others."""
    if len(paths) == 1:
        return paths[0], []
    ranked = sorted(paths, key=lambda p: (peek_global_step(p), not _is_checkpoint_copy(p), str(p)))
    return ranked[-1], ranked[:-1]


def load_state(path: Path) -> dict[str, Any]:
    text = load_text(path)  # empty, binary, non-UTF-8 and LFS-pointer files are refused there
    try:
        state = json.loads(text)  # takes the bare NaN/Infinity tokens json.dumps writes for non-finite floats
    except json.JSONDecodeError as exc:
        # A Trainer state always ends with its closing brace; without it the writer was cut off mid-file.
        truncated = not text.rstrip().endswith("}")
        detail = "the file ends mid-document (truncated?)" if truncated else exc.msg
        raise ReadError(path, f"invalid JSON: {detail}", line=exc.lineno) from None
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise ReadError(path, "no `log_history` list: not a Trainer state file")
    return state


def key_columns(entries: list[dict]) -> dict[str, tuple[list[int], list[Any]]]:
    """key -> (indices of the entries that hold it, its values there), in one pass over the entries.

    One pass in Python costs what `pandas.DataFrame(entries)` costs on a big log (it walks the dicts too) and avoids
    its per-file overhead, which dominated reading a tree of small runs; a key's presence is exact, so a logged NaN
    is never mistaken for a missing key."""
    columns: dict[str, tuple[list[int], list[Any]]] = {}
    for i, entry in enumerate(entries):
        for key, value in entry.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [])
            column[0].append(i)
            column[1].append(value)
    return columns


def to_floats(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, which are not numbers): booleans, strings, lists and nulls are not numbers."""
    numeric = np.fromiter((type(v) is int or type(v) is float for v in values), dtype=bool, count=len(values))
    out = np.full(len(values), np.nan)
    try:
        out[numeric] = [v for v, ok in zip(values, numeric) if ok]
    except OverflowError:  # an int beyond float range
        for i in np.flatnonzero(numeric):
            try:
                out[i] = float(values[i])
            except OverflowError:
                numeric[i] = False
    return out, ~numeric


def _steps(path: Path, entries: list[dict], columns: dict[str, tuple[list[int], list[Any]]]) -> np.ndarray:
    """The step of every entry (NaN where it has none); a step that is not a whole number is a `ReadError`."""
    steps = np.full(len(entries), np.nan)
    if "step" not in columns:
        return steps
    idx, raw = columns["step"]
    values, not_numbers = to_floats(raw)
    nulls = np.fromiter((v is None for v in raw), dtype=bool, count=len(raw))
    bad = ~nulls & (not_numbers | ~is_whole_step(values))
    if bad.any():
        i = idx[int(np.flatnonzero(bad)[0])]
        raise ReadError(path, f"log_history[{i}]: {bad_step_message('step', entries[i]['step'])}")
    steps[np.asarray(idx)[~nulls]] = values[~nulls]
    return steps


def state_to_run(state: dict[str, Any], path: Path, name: str, aliases: Mapping[str, str] | None = None) -> Run:
    entries = state["log_history"]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ReadError(path, f"log_history[{i}] is not an object")
    metadata = {key: value for key, value in state.items() if key != "log_history"}
    metadata["source"] = str(path)
    metadata.update(early_stopping_state(state))
    if not entries:
        return Run(name=name, format=FORMAT, sources=[str(path)], data=empty_frame(), metadata=metadata,
                   notes=["log_history is empty (no step was logged yet)"])
    notes: list[str] = []  # the Run is built last, with its table: no empty table made and replaced per run

    n = len(entries)
    columns = key_columns(entries)
    steps = _steps(path, entries, columns)
    has_step = ~np.isnan(steps)
    is_summary = np.zeros(n, bool)
    is_summary[columns.get(SUMMARY_KEY, ([], []))[0]] = True
    summaries = [_plain(entries[i]) for i in np.flatnonzero(is_summary)]
    if summaries:
        metadata["train_summary"] = summaries[-1]
    stepless = np.flatnonzero(~has_step & ~is_summary)
    if len(stepless):
        sample = next((k for i in stepless for k in entries[i] if k not in POSITION_KEYS), None)
        example = f" (e.g. `{sample}`)" if sample else ""
        notes.append(f"{len(stepless)} log_history entries without a step{example} left out")
    kept = has_step & ~is_summary
    epochs = np.full(n, np.nan)
    if "epoch" in columns:
        epochs[columns["epoch"][0]] = to_floats(columns["epoch"][1])[0]

    eval_sets = eval_set_names(list(columns))
    parts = []  # (metric, tag, entry indices, values of every entry)
    for key, (entries_of_key, raw) in columns.items():
        if is_skipped_key(key):
            continue
        idx = np.asarray(entries_of_key)
        values, not_numbers = to_floats(raw)
        rows = kept[idx]
        skipped = rows & not_numbers
        if skipped.any():
            first = int(idx[np.flatnonzero(skipped)[0]])
            notes.append(f"key `{key}`: {int(skipped.sum())} non-numeric value(s) skipped "
                         f"(first at log_history[{first}]: {short_repr(entries[first][key])})")
        use = rows & ~not_numbers
        if use.any():
            every = np.full(n, np.nan)
            every[idx] = values
            parts.append((metric_name(key, eval_sets, aliases), key, idx[use], every))
    data = long_frame(parts, steps, np.full(n, np.nan), epochs) if parts else empty_frame()
    return Run(name=name, format=FORMAT, sources=[str(path)], data=data, metadata=metadata, notes=notes)


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in entry.items()}


def early_stopping_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """`EarlyStoppingCallback` settings and counter from `stateful_callbacks` (transformers >= 4.41), if present."""
    callbacks = state.get("stateful_callbacks")
    if not isinstance(callbacks, dict):
        return {}
    found = callbacks.get("EarlyStoppingCallback")
    if isinstance(found, list):  # several instances of one callback class are stored as a list
        found = found[0] if found else None
    if not isinstance(found, dict):
        return {}
    args = found.get("args") or {}
    attributes = found.get("attributes") or {}
    return {"early_stopping": {
        "patience": args.get("early_stopping_patience"),
        "threshold": args.get("early_stopping_threshold"),
        "patience_counter": attributes.get("early_stopping_patience_counter"),
    }}


READER = TrainerStateReader()
