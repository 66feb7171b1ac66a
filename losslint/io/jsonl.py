"""JSON-lines logs: one object per line (`*.jsonl`, `*.ndjson`, detectron2's `metrics.json`, and any other file whose
content is JSON lines, whatever its name: MAE/DeiT/timm `log.txt`, `train.log`).

- The step is the first of `step`, `global_step`, `_step`, `iteration`, `iter` that the file has; lines without it
  are left out with a note. A file with none of them is stepped by a whole-number `epoch` on every line (MAE's
  `log.txt`), else by line order (0, 1, ...), with a note.
- `epoch` fills the epoch column and a numeric `wall_time`/`walltime`/`_timestamp`/`timestamp` the wall-time
  column; every other key is a metric. Nested objects are flattened with `/` (`{"val": {"loss": 1}}` -> `val/loss`).
- Bare `NaN`, `Infinity` and `-Infinity` tokens (what Python's `json.dumps` writes) are values, not absences:
  a NaN loss is a finding. `null` means "not logged on this line".
- Strings, booleans and lists where a number belongs are skipped with one note per key naming its first line;
  a step that is not a whole number is a `ReadError`.
- A final line cut short (the writer was killed mid-line) is dropped with a note; a bad line anywhere else is a
  `ReadError` with its line number.

Speed: pyarrow's JSON reader (C++, no Python per line) reads the file when pyarrow is installed and the file is plain
JSON lines; NaN/Infinity tokens are swapped for finite stand-ins first, since pyarrow rejects them. A file with a line
opening more than `ARROW_MAX_OPENS` arrays/objects is not given to pyarrow, which crashes the whole process (SIGSEGV)
on a line nested ~20,000 deep; the standard library reads it, and a line past its recursion limit is a `ReadError`
naming the line. Anything pyarrow refuses (mixed types in one key, a bad line, two objects on one line) goes to the
slow path: one `json.loads` over `[line,line,...]` (C speed, takes NaN/Infinity natively, a NaN token parses to a
marker so that it stays apart from a missing key), then line by line only to find the bad line.
`pandas.read_json(lines=True)` was not used: it turns a NaN token into an empty cell (a logged NaN would vanish) and
took 9 s on a 1M-line, 76 MB file where pyarrow took
1.8 s and the json path 3.6 s (shared 2-core machine).

A file `losslint watch` follows (`io/follow.py`) is parsed in pieces: each read parses only the lines after those
parsed before and joins them to the columns already parsed (`parse_appended`); anything unusual in the new lines (a
bad line, a note) sends the whole file through `parse`, so errors and notes read as `check` gives them.
"""
from __future__ import annotations

import bisect
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame
from . import fs
from .base import BINARY_SUFFIXES, Reader, ReadOptions, served_memo
from .fs import as_path
from .tabular import (
    as_python,
    bad_step_message,
    cap_notes,
    is_whole_step,
    load_bytes,
    long_frame,
    merge_or_split,
    short_repr,
)

FORMAT = "jsonl"
SUFFIXES = (".jsonl", ".ndjson")
# detectron2's JSON-lines file keeps a .json name
SNIFFED_SUFFIX = ".json"
DETECTRON2_NAME = "metrics.json"
# W&B's system-metrics stream (GPU/CPU use), not a training log
NOT_TRAINING_LOGS = frozenset({"wandb-events.jsonl"})
SNIFF_BYTES = 4096
# The widest first line the sniff reads to its end: a DETR epoch line with per-layer losses and COCO numbers is
# 4-10 kB; a JSON line longer than this is not taken for a log by content (its name can still claim it).
MAX_LINE_SNIFF_BYTES = 1 << 20
LINE_SNIFF_STEP = 1 << 16  # read a wide first line in steps, so a 5 kB DETR line costs one step, not the whole cap
# Any other file is sniffed by content (MAE/DeiT/timm write JSON lines to `log.txt`), except names that are surely
# something else: media, archives, weights, source code, other formats' files.
NOT_SNIFFED_SUFFIXES = BINARY_SUFFIXES | frozenset(
    ".py .pyi .ipynb .c .h .cc .cpp .hpp .cu .java .js .ts .go .rs .rb .sh .r .m .jl .html .css .md .rst .tex "
    ".csv .tsv .yaml .yml .toml .cfg .ini .lock .xml".split())

# `current_steps`: LLaMA-Factory's trainer_log.jsonl (the Trainer's global step)
STEP_KEYS = ("step", "global_step", "_step", "iteration", "iter", "current_steps")
EPOCH_KEY = "epoch"
WALL_TIME_KEYS = ("wall_time", "walltime", "_timestamp", "timestamp")


class _NanToken:
    """What a bare NaN token parses to, so that a logged NaN is told apart from a key missing on that line."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NaN"


NAN_TOKEN = _NanToken()


# A line opening more than this many `[`/`{` (nesting depth can be no more) is not handed to pyarrow. Training logs
# nest a few levels; pyarrow's recursive parser overflows the C stack somewhere past 10,000.
ARROW_MAX_OPENS = 64
_KEEP_OPENS = bytes(b for b in range(256) if b not in b"[{\n")
_MANY_OPENS = re.compile(rb"[^\n]{%d}" % (ARROW_MAX_OPENS + 1))


def nested_deeper_than_arrow_takes(data: bytes) -> bool:
    """Does any line open more than ARROW_MAX_OPENS arrays/objects? (One C pass: ~70 ms for 100 MB.)"""
    return _MANY_OPENS.search(data.translate(None, _KEEP_OPENS)) is not None


def _constant(token: str) -> Any:
    return NAN_TOKEN if token == "NaN" else float(token)


def sniff_json_lines(head: bytes, whole_file: bool, single_line_ok: bool, need_number: bool = False) -> bool:
    """Does this head of a file look like JSON lines: a complete object on the first line and another after it?
    `need_number`: the first object must hold a number (a structured text log, `{"level": "INFO", "msg": ...}`,
    is not a training log)."""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return False
    end = text.find(b"\n")
    if end < 0:
        if not (whole_file and single_line_ok):
            return False
        end = len(text)
    try:
        first = json.loads(text[:end], parse_constant=_constant)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(first, dict):
        return False
    if need_number and not any(type(v) in (int, float) or v is NAN_TOKEN for v in first.values()):
        return False
    rest = text[end:].lstrip()
    if rest.startswith(b"{"):
        return True
    # one line only: detectron2 after its first 20 iterations (or an epoch log after one epoch), not a one-line
    # config or summary
    return single_line_ok and whole_file and not rest and any(key in first for key in (*STEP_KEYS, EPOCH_KEY))


class JsonLinesReader(Reader):
    format = FORMAT
    priority = 40

    def can_read(self, path: Path) -> bool:
        name = path.name.lower()
        if name in NOT_TRAINING_LOGS:
            return False
        if name.endswith(SUFFIXES):
            return True
        suffix = path.suffix.lower()
        by_content = suffix != SNIFFED_SUFFIX
        if by_content and suffix in NOT_SNIFFED_SUFFIXES:
            return False
        try:
            with fs.open_binary(path) as fh:
                head = fh.read(SNIFF_BYTES + 1)
                if b"\n" not in head and head.lstrip().startswith(b"{") and len(head) > SNIFF_BYTES:
                    # one wide line (DETR's log.txt: 4-10 kB an epoch with its COCO numbers): read on to its end, in
                    # steps, and a sniff's worth past it
                    while b"\n" not in head and len(head) < MAX_LINE_SNIFF_BYTES:
                        chunk = fh.read(min(LINE_SNIFF_STEP, MAX_LINE_SNIFF_BYTES - len(head)))
                        if not chunk:
                            break
                        head += chunk
                    if b"\n" in head:
                        head += fh.read(min(SNIFF_BYTES + 1, MAX_LINE_SNIFF_BYTES - len(head)))
        except OSError:
            return name == DETECTRON2_NAME  # claimed by name, so that `read` reports why it cannot be opened
        limit = max(SNIFF_BYTES, head.find(b"\n") + 1 + SNIFF_BYTES)
        # detectron2's metrics.json and any other name (`log.txt` of MAE/DeiT/timm) may hold a single line so far
        return sniff_json_lines(head[:limit], whole_file=len(head) <= limit,
                                single_line_ok=name == DETECTRON2_NAME or by_content, need_number=by_content)

    def run_key(self, path: Path) -> Path:
        return path.parent

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        runs = [read_file(as_path(p), name, aliases) for p in sorted(paths)]
        return merge_or_split(runs, name)


@dataclass
class Column:
    """One key of a JSON-lines file, one entry per parsed line."""

    values: np.ndarray  # float64; NaN where absent or not a number (and where a NaN was logged)
    present: np.ndarray  # the line holds the key (null counts as absent)
    bad: np.ndarray  # the line holds something that is not a number: a string, a boolean, a list
    cell: Callable[[int], Any]  # the value as written on parsed line i, for notes


@dataclass
class Parsed:
    columns: dict[str, Column]
    rows: int
    line_numbers: Callable[[], np.ndarray]  # 1-based file line of each parsed line (computed on demand)
    notes: list[str] = field(default_factory=list)


def _nonblank_line_numbers(text: str) -> np.ndarray:
    return np.asarray([i + 1 for i, line in enumerate(text.split("\n")) if line.strip()], dtype=np.int64)


def drop_truncated_tail(data: bytes) -> tuple[bytes, list[str]]:
    """A last line without its newline that does not parse is the tail of an interrupted write: drop it."""
    if data.endswith(b"\n"):
        return data, []
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    if not tail.strip() or not data[:cut].strip():
        return data, []
    try:
        json.loads(tail, parse_constant=_constant)
        return data, []
    except RecursionError:
        return data, []  # whole, but too deep: the parser names the line
    except ValueError as exc:
        line = data.count(b"\n") + 1
        return data[:cut], [_truncation_note(line, exc)]


def _truncation_note(line: int, exc: ValueError) -> str:
    return f"line {line}: final line is cut short ({exc.args[0].split(':')[0]}); ignored (was the writer interrupted?)"


def parse(path: Path, data: bytes) -> Parsed:
    data, notes = drop_truncated_tail(data)
    parsed = _parse_with_arrow(data)
    if parsed is None:
        parsed = _parse_with_json(path, data.decode("utf-8"))
    parsed.notes[:0] = notes
    return parsed


# --- fast path: pyarrow's JSON reader (C++), when installed and the file is plain JSON lines -------------------

# pyarrow rejects the NaN/Infinity tokens, so they are swapped for finite stand-ins first and swapped back after.
# Stand-ins are values no logger writes; a file that does hold one of them takes the slow path.
_STAND_INS = {b"-Infinity": -1.3407807929942596e306, b"Infinity": 1.3407807929942596e306,
              b"NaN": -1.3407807929942596e307}
_STAND_IN_TEXT = {token: repr(value).encode() for token, value in _STAND_INS.items()}
# The digits all three stand-ins start with: a file holding any of them holds this.
_STAND_IN_STEM: bytes = os.path.commonprefix(  # type: ignore[assignment]  # bytes in, bytes out
    [text.lstrip(b"-") for text in _STAND_IN_TEXT.values()])
# Values as `json.dumps` writes them (`": NaN"`, or `":NaN"` with compact separators); any other spelling makes
# pyarrow fail and the file takes the slow path, which reads it right. Plain `bytes.replace` is ~50x faster here
# than a regular expression with look-arounds.
_VALUE_PREFIXES = (b": ", b":")
_BLANK_LINE = re.compile(rb"(?m)^[ \t\r]*\n")


def _parse_with_arrow(data: bytes) -> Parsed | None:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pa_json
    except ImportError:
        return None
    if _STAND_IN_STEM in data:  # one scan for all three (a near miss only costs the slow path)
        return None
    if nested_deeper_than_arrow_takes(data):  # pyarrow would crash the process
        return None
    present = {b"NaN": b"NaN" in data}
    present[b"Infinity"] = present[b"-Infinity"] = b"Infinity" in data  # one scan for both
    for token, stand_in in _STAND_IN_TEXT.items():  # -Infinity before Infinity: dict order
        if present[token] and token in data:
            for prefix in _VALUE_PREFIXES:
                data = data.replace(prefix + token, prefix + stand_in)
    try:
        table = pa_json.read_json(io.BytesIO(data))
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if table.num_rows != lines and table.num_rows != lines - len(_BLANK_LINE.findall(data)):
            return None  # two objects on one line: pyarrow reads both, JSON lines does not allow it
        columns: dict[str, Column] = {}
        for name, array in zip(table.column_names, table.columns):
            _arrow_leaves(name, array.combine_chunks(), columns, pa, pc)
    except (pa.ArrowException, ValueError):
        # the slow path finds the bad line, reads mixed types, and stands in for pyarrow's own slips
        # (combining chunks of a list-of-nulls column raises ArrowIndexError in pyarrow 26)
        return None
    text_cache: list[np.ndarray] = []

    def line_numbers() -> np.ndarray:
        if not text_cache:
            text_cache.append(_nonblank_line_numbers(data.decode("utf-8")))
        return text_cache[0]

    return Parsed(columns, table.num_rows, line_numbers)


def _arrow_leaves(name: str, array, out: dict[str, Column], pa, pc) -> None:
    if pa.types.is_struct(array.type):
        for child_field, child in zip(array.type, array.flatten()):
            _arrow_leaves(f"{name}/{child_field.name}", child, out, pa, pc)
        return
    present = array.is_valid().to_numpy(zero_copy_only=False)
    cell = lambda i, a=array: a[i].as_py()  # noqa: E731
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        # unsafe: an int beyond 2**53 (a nanosecond timestamp) becomes the nearest float instead of an error
        values = pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(array.type):
            values = values.copy()
            values[values == _STAND_INS[b"NaN"]] = np.nan
            values[values == _STAND_INS[b"Infinity"]] = np.inf
            values[values == _STAND_INS[b"-Infinity"]] = -np.inf
        out[name] = Column(values, present, np.zeros(len(array), bool), cell)
    else:
        out[name] = Column(np.full(len(array), np.nan), present, present.copy(), cell)


# --- slow path: the json module (accepts NaN/Infinity natively; reports the bad line) -------------------------


def _parse_with_json(path: Path, text: str) -> Parsed:
    rows, numbers, notes = parse_lines(path, text)
    table = flatten(pd.DataFrame(rows)) if rows else pd.DataFrame()
    columns = {}
    for key in table.columns:
        values, present, bad = numeric_column(table[key])
        columns[str(key)] = Column(values, present, bad,
                                   lambda i, c=table[key]: as_python(c.iloc[i]))  # type: ignore[misc]
    return Parsed(columns, len(rows), lambda: numbers, notes)


def parse_lines(path: Path, text: str) -> tuple[list[dict], np.ndarray, list[str]]:
    """The objects, their 1-based line numbers, and notes (a dropped truncated tail)."""
    lines = text.split("\n")
    numbers = [i + 1 for i, line in enumerate(lines) if line.strip()]
    body = [lines[i - 1] for i in numbers]
    try:
        rows = json.loads("[" + ",".join(body) + "]", parse_constant=_constant)
        if len(rows) == len(body) and all(type(r) is dict for r in rows):
            return rows, np.asarray(numbers, dtype=np.int64), []
    except (ValueError, RecursionError):
        pass
    return _parse_line_by_line(path, body, numbers)


def _parse_line_by_line(path: Path, body: list[str], numbers: list[int]) -> tuple[list[dict], np.ndarray, list[str]]:
    rows: list[dict] = []
    notes: list[str] = []
    for k, (line, number) in enumerate(zip(body, numbers)):
        try:
            obj = json.loads(line, parse_constant=_constant)
        except RecursionError:
            raise ReadError(path, "JSON nested too deeply to parse (arrays/objects inside each other, past the "
                                  "recursion limit)", line=number) from None
        except ValueError as exc:
            if k == len(body) - 1 and k > 0:
                notes.append(_truncation_note(number, exc))
                break
            raise ReadError(path, f"invalid JSON: {exc.args[0]}", line=number) from None
        if type(obj) is not dict:
            raise ReadError(path, f"expected one JSON object per line, got {type(obj).__name__}", line=number)
        rows.append(obj)
    return rows, np.asarray(numbers[: len(rows)], dtype=np.int64), notes


def flatten(table: pd.DataFrame) -> pd.DataFrame:
    """Nested objects become `parent/child` columns, in the parent's place; only object columns are looked at."""
    pieces: list[pd.DataFrame | pd.Series] = []
    nested_any = False
    for column in table.columns:
        cells = table[column].to_numpy() if table[column].dtype == object else None
        is_dict = None if cells is None else np.fromiter((type(v) is dict for v in cells), dtype=bool,
                                                         count=len(cells))
        if cells is None or is_dict is None or not is_dict.any():
            pieces.append(table[column])
            continue
        nested_any = True
        nested = flatten(pd.DataFrame([v if d else {} for v, d in zip(cells, is_dict)], index=table.index))
        nested.columns = [f"{column}/{c}" for c in nested.columns]
        pieces.append(nested)
    return pd.concat(pieces, axis=1) if nested_any else table


def numeric_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, present, not_a_number): values as float64 (NaN tokens -> NaN), which rows hold the key, and which
    of those hold something that is not a number (strings, booleans, lists)."""
    present = column.notna().to_numpy()
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_string_dtype(dtype) and dtype != object:
        return np.full(len(column), np.nan), present, present.copy()
    if pd.api.types.is_numeric_dtype(dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        return values, present, np.zeros(len(column), bool)
    cells = column.to_numpy()
    kinds = np.fromiter((type(v) in (int, float) or v is NAN_TOKEN for v in cells), dtype=bool, count=len(cells))
    bad = present & ~kinds
    values = np.full(len(cells), np.nan)
    good = present & kinds & (cells != NAN_TOKEN)
    values[good] = cells[good].astype(float)
    return values, present, bad


# --- a file still being written (`losslint watch`): parse only the lines after those parsed at the last read ------


def _cells(parts: list[tuple[int, Callable[[int], Any]]]) -> Callable[[int], Any]:
    """One `cell` over parts that start at the given rows (flat: no chain of closures growing with each append)."""
    starts = [start for start, _ in parts]

    def cell(i: int) -> Any:
        k = bisect.bisect_right(starts, i) - 1
        return parts[k][1](i - starts[k])

    return cell


@dataclass
class _Pieces:
    """What has been parsed of a growing file: each parse of new lines, with its first row and first file line."""

    pieces: list[tuple[Parsed, int, int]] = field(default_factory=list)
    rows: int = 0
    lines: int = 0  # newlines in the bytes parsed so far
    end: int = 0  # bytes parsed so far (always just after a newline)


def _joined(pieces: list[tuple[Parsed, int, int]], rows: int) -> Parsed:
    if len(pieces) == 1 and pieces[0][2] == 0:
        return pieces[0][0]
    keys: dict[str, None] = {}
    for parsed, _, _ in pieces:
        keys.update(dict.fromkeys(parsed.columns))
    columns = {}
    for key in keys:
        values, present, bad, cells = [], [], [], []
        for parsed, start, _ in pieces:
            column = parsed.columns.get(key)
            if column is None:
                values.append(np.full(parsed.rows, np.nan))
                present.append(np.zeros(parsed.rows, bool))
                bad.append(np.zeros(parsed.rows, bool))
            else:
                values.append(column.values)
                present.append(column.present)
                bad.append(column.bad)
                cells.append((start, column.cell))
        columns[key] = Column(np.concatenate(values), np.concatenate(present), np.concatenate(bad), _cells(cells))

    def line_numbers() -> np.ndarray:
        return np.concatenate([parsed.line_numbers() + first for parsed, _, first in pieces])

    return Parsed(columns, rows, line_numbers, [note for parsed, _, _ in pieces for note in parsed.notes])


def parse_appended(path: Path, data: bytes, memo: dict[str, Any]) -> Parsed:
    """`parse(path, data)` for a file that only grew since the last call with this `memo` (the watch follower's):
    only the lines after those parsed before are parsed, and joined to them. A last line without its newline is
    parsed at each call and kept once whole. Anything unusual in the new lines (a bad line, a note) is left to
    `parse` on the whole file, so that errors and notes read exactly as `check` gives them."""
    done: _Pieces = memo.get(FORMAT) or _Pieces()
    if len(data) < done.end:  # not grown from what was parsed (the follower clears the memo when it re-reads)
        done = _Pieces()
    cut = data.rfind(b"\n") + 1
    if cut > done.end:
        chunk = data[done.end:cut]
        if chunk.strip():
            piece = _clean_piece(path, chunk)
            if piece is None:
                return parse(path, data)
            done.pieces.append((piece, done.rows, done.lines))
            done.rows += piece.rows
        done.lines += chunk.count(b"\n")
        done.end = cut
    memo[FORMAT] = done
    pieces, rows, tail = list(done.pieces), done.rows, data[cut:]
    if tail.strip() and pieces:
        try:
            json.loads(tail, parse_constant=_constant)
        except RecursionError:
            return parse(path, data)
        except ValueError as exc:  # cut short: the writer is still writing it (or was killed)
            note = _truncation_note(done.lines + 1, exc)
            pieces.insert(0, (Parsed({}, 0, lambda: np.zeros(0, np.int64), [note]), 0, 0))
        else:
            piece = _clean_piece(path, tail)
            if piece is None:
                return parse(path, data)
            pieces.append((piece, rows, done.lines))
            rows += piece.rows
    if not pieces or tail.strip() and not done.pieces:
        return parse(path, data)
    return _joined(pieces, rows)


def _clean_piece(path: Path, chunk: bytes) -> Parsed | None:
    """The parse of some whole lines, or None when they hold a bad line or make a note."""
    try:
        piece = parse(path, chunk)
    except ReadError:
        return None
    return None if piece.notes else piece


def read_file(path: Path, name: str, aliases: Mapping[str, str] | None = None) -> Run:
    memo = served_memo(path)
    data = load_bytes(path)
    parsed = parse(path, data) if memo is None else parse_appended(path, data, memo)
    run = Run(name=name, format=FORMAT, sources=[str(path)], data=empty_frame(), notes=parsed.notes)
    n = parsed.rows
    if not n:
        return run
    columns = parsed.columns

    step_key = next((k for k in STEP_KEYS if k in columns), None)
    if step_key is None and EPOCH_KEY in columns:
        epoch = columns[EPOCH_KEY]
        if epoch.present.all() and not epoch.bad.any() and is_whole_step(epoch.values).all():
            # MAE/DeiT/timm `log.txt`: one line per epoch, `epoch` the only position (a resumed run repeats epochs)
            step_key = EPOCH_KEY
            run.notes.append(f"no step key ({', '.join(STEP_KEYS)}); the whole-number `epoch` of every line is "
                             "the step")
    if step_key is None:
        steps = np.arange(n, dtype=np.float64)
        has_step = np.ones(n, bool)
        run.notes.append(f"no step key ({', '.join(STEP_KEYS)}); lines are numbered in order from 0")
    else:
        step = columns[step_key]
        steps, has_step = step.values, step.present
        bad = step.bad | (has_step & ~is_whole_step(steps))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReadError(path, bad_step_message(f"`{step_key}`", step.cell(i) if step.bad[i] else steps[i]),
                            line=int(parsed.line_numbers()[i]))
        if not has_step.all():
            first = int(parsed.line_numbers()[np.flatnonzero(~has_step)[0]])
            run.notes.append(f"{int((~has_step).sum())} line(s) without `{step_key}` left out (first: line {first})")

    epochs = columns[EPOCH_KEY].values if EPOCH_KEY in columns else np.full(n, np.nan)
    wall_key = next((k for k in WALL_TIME_KEYS if k in columns), None)
    walls = columns[wall_key].values if wall_key is not None else np.full(n, np.nan)

    position_keys = {step_key, EPOCH_KEY, wall_key}
    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # (metric, tag, rows, values)
    skipped: list[str] = []
    for key, column in columns.items():
        if key in position_keys:
            continue
        if column.bad.any():
            i = int(np.flatnonzero(column.bad)[0])
            skipped.append(f"key `{key}`: {int(column.bad.sum())} non-numeric value(s) skipped "
                           f"(first at line {int(parsed.line_numbers()[i])}: {short_repr(column.cell(i))})")
        rows_used = np.flatnonzero(column.present & ~column.bad & has_step)
        if len(rows_used):
            parts.append((canonical_metric(key, aliases=aliases), key, rows_used, column.values))
    run.notes.extend(cap_notes(skipped))
    if parts:
        run.data = long_frame(parts, steps, walls, epochs)
    return run


READER = JsonLinesReader()
