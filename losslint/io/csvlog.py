"""CSV logs: PyTorch Lightning `CSVLogger`, Keras `CSVLogger`, and any CSV/TSV with a step column.

- Lightning `metrics.csv`: `step` and `epoch` columns, one row per `log_metrics` call, most cells empty (a row holds
  only what was logged at that moment; the logger rewrites the header when new keys appear). Empty cell = not
  logged; `nan`/`inf` written in a cell are values (a NaN loss is a finding).
- Keras `CSVLogger`: an `epoch` column and no step, so the step is the epoch. `CSVLogger(append=True)` across several
  `fit()` calls appends fits to one file; when the epoch goes back (0, 1, ..., 4, 0, 1, ...) each fit is its own run,
  `<name>/fit-1`, `<name>/fit-2`, ..., with a note.
- A Keras `History` saved with pandas (`pd.DataFrame(history.history).to_csv()`): no step column, an unnamed index
  column (or none, with `index=False`), metric columns with at least one loss. The index, else the row order, is
  the epoch, with a note saying so.
- Generic: the step is the first column named `step`, `global_step`, `_step`, `iteration`, `iter` or `epoch`
  (case-insensitive). When only `epoch` exists and it is fractional, rows are stepped in order and the epoch is kept.
- A `wall_time`/`walltime`/`_timestamp`/`timestamp` column fills wall time; every other column is a metric through
  `canonical_metric` (`val_loss` -> `eval/loss`, Lightning `train_loss_step` -> `train/loss`).
- Text in a metric cell is skipped with one note per column naming its first line; text in the step column, a
  ragged row, an empty or binary file is a `ReadError` with the line number.
- Encodings: UTF-8 (with or without a BOM), and UTF-16 when a byte-order mark says so (Excel's "Unicode text"). A
  `.csv`/`.tsv` file with NUL bytes otherwise (binary, or zero-filled by a crash) is claimed and refused with one
  line, never skipped in silence.

W&B chart exports (`"Step","<run> - <metric>",...`) are left to the W&B reader: `can_read` declines them.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame
from . import fs
from .base import Reader, ReadOptions, read_log_bytes
from .fs import as_path
from .tabular import (
    MAX_STEP,
    as_python,
    bad_step_message,
    cap_notes,
    checked_text,
    is_whole_step,
    long_frame,
    merge_or_split,
    short_repr,
)

FORMAT = "csv"
DELIMITERS = {".csv": ",", ".tsv": "\t"}
SNIFF_BYTES = 4096
MAX_HEADER_BYTES = 1 << 16
STEP_COLUMNS = ("step", "global_step", "_step", "iteration", "iter", "epoch")
EPOCH_COLUMN = "epoch"
WALL_TIME_COLUMNS = ("wall_time", "walltime", "_timestamp", "timestamp")
NAN_WORDS = frozenset({"nan", "-nan", "+nan"})
# A W&B chart export names its columns "<run name> - <metric>"
_WANDB_EXPORT_COLUMN = re.compile(r".+ - .+")
_PANDAS_LINE = re.compile(r"line (\d+)")
_INDEX_COLUMN = re.compile(r"|Unnamed: 0|index", re.IGNORECASE)
LIGHTNING_HPARAMS = "hparams.yaml"


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def header_fields(head: bytes, delimiter: str) -> list[str] | None:
    """The header row of a CSV head, or None when it is not text."""
    if head.startswith(UTF16_BOMS):
        head = head[: len(head) - len(head) % 2].decode("utf-16", errors="ignore").encode("utf-8")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the sniff window is fine
            return None
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        return None
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    try:
        return [field.strip() for field in next(csv.reader([first], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return None


def find_step_column(columns: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in reversed(columns)}
    return next((lowered[name] for name in STEP_COLUMNS if name in lowered), None)


def index_column(columns: Sequence[str]) -> str | None:
    """The unnamed first column `DataFrame.to_csv()` writes for the index (`""` in the file, `Unnamed: 0` once
    pandas read it), or a first column named `index`."""
    return columns[0] if columns and _INDEX_COLUMN.fullmatch(columns[0].strip()) else None


def is_history_table(columns: Sequence[str]) -> bool:
    """A Keras `History` saved with pandas (`pd.DataFrame(history.history).to_csv(...)`, with or without the index)
    or a CSVLogger file that lost its epoch column: no step column, every other column named, at least one a loss.
    Requiring a loss keeps data tables (a dataset's CSV) out."""
    named = list(columns[1:]) if index_column(columns) is not None else list(columns)
    if not named or any(not c.strip() for c in named):
        return False
    return any("loss" in c.lower() for c in named)


class CsvLogReader(Reader):
    format = FORMAT
    priority = 50

    def can_read(self, path: Path) -> bool:
        delimiter = DELIMITERS.get(path.suffix.lower())
        if delimiter is None:
            return False
        try:
            with fs.open_binary(path) as fh:
                head = fh.read(SNIFF_BYTES)
                if b"\n" not in head:  # a wide Lightning header: hundreds of metric names
                    head += fh.read(MAX_HEADER_BYTES - SNIFF_BYTES)
            fields = header_fields(head, delimiter)
        except OSError:
            return True  # claim it by name, so that `read` reports why it cannot be opened
        if b"\x00" in head and not head.startswith(UTF16_BOMS):
            return True  # no CSV holds NUL bytes: binary or zero-filled; claimed, so that `read` says so
        if not fields or any(_WANDB_EXPORT_COLUMN.fullmatch(f) for f in fields):
            return False
        return find_step_column(fields) is not None or is_history_table(fields)

    def run_key(self, path: Path) -> Path:
        return path.parent

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        per_file = [read_file(as_path(p), name, aliases) for p in sorted(paths)]
        if len(per_file) == 1:
            return per_file[0]
        if all(len(runs) == 1 for runs in per_file):
            return merge_or_split([runs[0] for runs in per_file], name)
        out = []
        for runs in per_file:
            for run in runs:
                run.name = f"{name}/{Path(run.sources[0]).stem}{run.name[len(name):]}"
                out.append(run)
        return out


def load_table(path: Path) -> pd.DataFrame:
    """The table with numbers parsed by pandas' C reader. Only empty cells are NA (`keep_default_na=False`), so a
    column holding a written `nan` or any text stays text and `to_numbers` sorts it out; every other column is
    numeric, and NA in it means an empty cell."""
    data = load_csv_bytes(path)
    try:
        table = pd.read_csv(io.BytesIO(data), sep=DELIMITERS.get(path.suffix.lower(), ","), encoding="utf-8-sig",
                            keep_default_na=False, na_values=[""], skip_blank_lines=False, skipinitialspace=True,
                            low_memory=False)
    except pd.errors.EmptyDataError:
        raise ReadError(path, "no header row") from None
    except pd.errors.ParserError as exc:
        m = _PANDAS_LINE.search(str(exc))
        detail = str(exc).split(". ", 1)[-1].strip()
        raise ReadError(path, f"malformed CSV: {detail}", line=int(m.group(1)) if m else None) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def load_csv_bytes(path: Path) -> bytes:
    """The file as UTF-8 bytes: UTF-16 with a byte-order mark is decoded; otherwise it must be UTF-8 text."""
    data = read_log_bytes(path)
    if data.startswith(UTF16_BOMS):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReadError(path, f"not valid UTF-16 text (byte {exc.start}), though it starts with a UTF-16 "
                                  "byte-order mark", offset=exc.start) from None
    return checked_text(path, data)


def to_numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, present, not_a_number) for one column."""
    present = column.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan), present, np.zeros(len(column), bool)
    text = column.astype("str")
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = present & np.isnan(values)
    if bad.any():
        bad &= ~text.str.strip().str.lower().isin(NAN_WORDS).to_numpy(dtype=bool, na_value=False)
    return values, present, bad


def _line(row: int) -> int:
    return row + 2  # header is line 1; blank lines are kept as rows, so rows map to lines one to one


def read_file(path: Path, name: str, aliases: Mapping[str, str] | None = None) -> list[Run]:
    table = load_table(path)
    columns = list(table.columns)
    step_column = find_step_column(columns)
    notes: list[str] = []
    if step_column is None:
        table, history_note = _history_epochs(path, table)
        notes.append(history_note)
        columns = list(table.columns)
        step_column = EPOCH_COLUMN
    steps, has_step, bad = to_numbers(table[step_column])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        written = short_repr(as_python(table[step_column].iloc[i]))
        raise ReadError(path, f"`{step_column}` {written} is not a number", line=_line(i))
    epoch_column = next((c for c in columns if c.lower() == EPOCH_COLUMN), None)
    by_epoch = step_column == epoch_column
    epochs = to_numbers(table[epoch_column])[0] if epoch_column else np.full(len(table), np.nan)
    whole = has_step & is_whole_step(steps)
    if (has_step & ~whole).any():
        i = int(np.flatnonzero(has_step & ~whole)[0])
        if not by_epoch or abs(steps[i]) >= MAX_STEP:
            raise ReadError(path, bad_step_message(f"`{step_column}`", steps[i]), line=_line(i))
        steps = np.arange(len(table), dtype=float)
        notes.append(f"`{step_column}` is fractional (line {_line(i)}); rows are stepped in order from 0")
    if not has_step.all():
        blank = table.isna().all(axis=1).to_numpy()
        missing = ~has_step & ~blank
        if missing.any():
            notes.append(f"{int(missing.sum())} row(s) without `{step_column}` left out "
                         f"(first: line {_line(int(np.flatnonzero(missing)[0]))})")
    wall_column = next((c for c in columns if c.lower() in WALL_TIME_COLUMNS), None)
    walls = to_numbers(table[wall_column])[0] if wall_column else np.full(len(table), np.nan)

    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    skipped: list[str] = []
    for column in columns:
        if column in (step_column, epoch_column, wall_column):
            continue
        values, present, bad = to_numbers(table[column])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            skipped.append(f"column `{column}`: {int(bad.sum())} non-numeric value(s) skipped "
                           f"(first at line {_line(i)}: {short_repr(as_python(table[column].iloc[i]))})")
        rows = present & ~bad & has_step
        if rows.any():
            parts.append((canonical_metric(column, aliases=aliases), column, rows, values))
    notes.extend(cap_notes(skipped))

    logger = "keras" if by_epoch else "lightning" if epoch_column and step_column.lower() == "step" else "generic"
    metadata = {"logger": logger, "step_column": step_column}
    hparams, hparam_notes = lightning_hparams(path) if logger == "lightning" else ({}, [])
    notes.extend(hparam_notes)

    fits = fit_boundaries(steps, has_step) if by_epoch else []
    spans = list(zip([0, *fits], [*fits, len(table)]))
    runs = []
    for k, (start, stop) in enumerate(spans, 1):
        span = np.zeros(len(table), bool)
        span[start:stop] = True
        run = Run(name=name if len(spans) == 1 else f"{name}/fit-{k}", format=FORMAT, sources=[str(path)],
                  data=_long_frame(parts, span, steps, walls, epochs), metadata=dict(metadata), hparams=dict(hparams),
                  notes=list(notes))
        if len(spans) > 1:
            restarts = ", ".join(f"line {_line(b)}" for b in fits)
            run.notes.append(f"fit {k} of {len(spans)} (lines {_line(start)}-{_line(stop - 1)}): the file holds "
                             f"{len(spans)} Keras fits appended one after another (epoch went back at {restarts}); "
                             "each is read as its own run")
        runs.append(run)
    return runs


def _history_epochs(path: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A history table without a step column gets an `epoch` column: the pandas index column when the file has
    one (whole numbers; a drop back to 0 splits appended fits as for CSVLogger), else the row order from 0."""
    columns = list(table.columns)
    if not is_history_table(columns):
        raise ReadError(path, f"no step column (one of {', '.join(STEP_COLUMNS)})", line=1)
    # Blank lines are rows here (they keep rows and lines one to one); a file saved through a text-mode stream on
    # Windows ends every line in \r\r\n, a blank line after each row. They are no rows of the history.
    blank = table.isna().all(axis=1).to_numpy()
    index = index_column(columns)
    if index is not None:
        values, present, bad = to_numbers(table[index])
        wrong = (bad | ~present | ~is_whole_step(np.nan_to_num(values, nan=0.5))) & ~blank
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise ReadError(path, f"the index column (first column, unnamed) is not a whole number: "
                                  f"{short_repr(as_python(table[index].iloc[i]))}", line=_line(i))
        table = table.rename(columns={index: EPOCH_COLUMN})
        return table, ("no step or epoch column: the unnamed first column (the pandas index of "
                       "`pd.DataFrame(history.history).to_csv()`) is read as the epoch")
    table = table.copy()
    table.insert(0, EPOCH_COLUMN, np.where(blank, np.nan, np.cumsum(~blank) - 1.0))
    return table, ("no step or epoch column: row order is the epoch (the first row is epoch 0, as Keras "
                   "counts); a Keras History saved with pandas, or a CSV that lost its epoch column")


def fit_boundaries(epochs: np.ndarray, present: np.ndarray) -> list[int]:
    """Row indices where a new fit starts: the epoch goes back (Keras `CSVLogger(append=True)` over several fits)."""
    rows = np.flatnonzero(present)
    if len(rows) < 2:
        return []
    back = np.flatnonzero(np.diff(epochs[rows]) < 0) + 1
    return [int(rows[i]) for i in back]


def _long_frame(parts, span: np.ndarray, steps: np.ndarray, walls: np.ndarray, epochs: np.ndarray) -> pd.DataFrame:
    chosen = [(metric, tag, np.flatnonzero(rows & span), values) for metric, tag, rows, values in parts]
    chosen = [c for c in chosen if len(c[2])]
    return long_frame(chosen, steps, walls, epochs) if chosen else empty_frame()


def lightning_hparams(path: Path) -> tuple[dict, list[str]]:
    """The `hparams.yaml` Lightning's CSVLogger writes next to metrics.csv (a bad one is a note, not an error)."""
    hparams_file = path.parent / LIGHTNING_HPARAMS
    if not fs.is_file(hparams_file):
        return {}, []
    import yaml

    try:
        loaded = yaml.safe_load(fs.read_bytes(hparams_file).decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return {}, [f"{LIGHTNING_HPARAMS} not read: {type(exc).__name__}"]
    except RecursionError:
        return {}, [f"{LIGHTNING_HPARAMS} not read: nested too deeply to parse"]
    return (loaded, []) if isinstance(loaded, dict) else ({}, [])


READER = CsvLogReader()
