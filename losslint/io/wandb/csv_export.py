"""W&B tables: the UI chart export CSV (many runs in one file) and `run.history()` exports (one run).

Only an empty cell is a gap (a run that logged nothing at that x); a `NaN` written in a cell is a logged NaN. Columns
pandas parses as numbers are used as they are (C speed); the others are re-read as text so that a stray word is
reported with its line instead of silently becoming NaN.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ...errors import ReadError
from .. import fs

# "<run name> - <metric>" is how the W&B UI names a chart export column; "__MIN"/"__MAX" are the min/max envelope of
# a smoothed or grouped line, drawn around the mean column that has no suffix.
CHART_SEPARATOR = " - "
ENVELOPE_SUFFIXES = ("__MIN", "__MAX")
GROUP_PREFIX = "Group: "
HEAD_LIMIT = 1 << 16  # a header line longer than 64 KiB is not a chart export losslint can sniff cheaply
NAN_TOKENS = {"nan", "+nan", "-nan"}


def header_columns(path: Path) -> list[str] | None:
    """The first CSV line's cells, or None when the first line is not a short text line."""
    with fs.open_binary(path) as handle:
        head = handle.readline(HEAD_LIMIT)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return None
    try:
        return next(csv.reader([text.rstrip("\r\n")]))
    except (csv.Error, StopIteration):
        return None


def is_chart_header(columns: Sequence[str]) -> bool:
    """First column is the x axis; at least one other column is '<run> - <metric>'."""
    if len(columns) < 2 or CHART_SEPARATOR in columns[0]:
        return False
    return any(CHART_SEPARATOR in c and c.split(CHART_SEPARATOR)[0].strip() for c in columns[1:])


def is_history_header(columns: Sequence[str]) -> bool:
    return "_step" in (c.strip() for c in columns)


@dataclass
class ChartColumn:
    run: str
    metric: str
    column: str


def split_chart_column(column: str) -> ChartColumn | None:
    """'<run> - <metric>' -> (run, metric); envelope and non-run columns -> None.

    Run names may themselves contain ' - ' (metric names almost never do), so the split is at the last separator.
    """
    if column.endswith(ENVELOPE_SUFFIXES) or CHART_SEPARATOR not in column:
        return None
    run, metric = column.rsplit(CHART_SEPARATOR, 1)
    run = run.strip()
    if run.startswith(GROUP_PREFIX):
        run = run[len(GROUP_PREFIX):].strip()
    if not run or not metric.strip():
        return None
    return ChartColumn(run, metric.strip(), column)


def read_table(path: Path) -> pd.DataFrame:
    """The CSV with only empty cells as missing: `NaN`/`Infinity` text keeps a column textual (read later)."""
    try:
        return pd.read_csv(fs.readable(path), keep_default_na=False, na_values=[""], encoding="utf-8-sig",
                           low_memory=False)
    except pd.errors.EmptyDataError:
        raise ReadError(path, "empty file") from None
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ReadError(path, f"not a well-formed CSV table: {str(exc).strip()}",
                        line=int(match.group(1)) if match else None) from None
    except UnicodeDecodeError as exc:
        raise ReadError(path, f"not UTF-8 text (byte {exc.start})") from None


@dataclass
class NumericColumn:
    values: np.ndarray  # float64, NaN where empty
    present: np.ndarray  # bool: the cell held a number (NaN and inf included)
    first_bad: int | None  # row index of the first cell that is neither empty nor a number
    bad_text: str = ""
    any_number: bool = False
    bad_count: int = 0


def _no_numbers(n: int) -> NumericColumn:
    return NumericColumn(np.full(n, np.nan), np.zeros(n, bool), None)


def numeric_column(series: pd.Series) -> NumericColumn:
    """Numbers of one column, whatever pandas made of it: numbers as they are, text parsed, objects skipped."""
    if pd.api.types.is_bool_dtype(series):
        return _no_numbers(len(series))
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~series.isna().to_numpy()
        return NumericColumn(values, present, None, "", bool(present.any()))
    if series.map(lambda v: isinstance(v, (dict, list, np.ndarray))).any():
        return _no_numbers(len(series))  # media / histogram cells in a parquet export
    return _text_numbers(series.astype(object).where(series.notna(), ""))


def _text_numbers(texts: pd.Series) -> NumericColumn:
    stripped = texts.astype(str).str.strip()
    values = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    nonempty = (stripped != "").to_numpy()
    nan_token = stripped.str.lower().isin(NAN_TOKENS).to_numpy()
    bad = nonempty & np.isnan(values) & ~nan_token
    present = nonempty & ~bad
    first_bad = int(np.argmax(bad)) if bad.any() else None
    return NumericColumn(values, present, first_bad, stripped.iloc[first_bad] if first_bad is not None else "",
                         bool(present.any()), int(bad.sum()))


def step_column(path: Path, table: pd.DataFrame, column: str, header_lines: int = 1) -> tuple[np.ndarray, bool]:
    """Integer steps from the x column; (steps, integral). Every row needs an x value."""
    col = numeric_column(table[column])
    if col.first_bad is not None:
        raise ReadError(path, f"column {column!r}: {col.bad_text!r} is not a number",
                        line=col.first_bad + 1 + header_lines)
    if not col.present.all():
        row = int(np.argmin(col.present))
        raise ReadError(path, f"column {column!r} is empty on this row; every row needs its x value",
                        line=row + 1 + header_lines)
    finite = np.isfinite(col.values)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ReadError(path, f"column {column!r} holds {col.values[row]} (not a step)", line=row + 1 + header_lines)
    too_big = np.abs(col.values) >= 2.0**63
    if too_big.any():
        row = int(np.argmax(too_big))
        raise ReadError(path, f"column {column!r} holds {col.values[row]}, out of the int64 range of a step",
                        line=row + 1 + header_lines)
    integral = bool(np.all(col.values == np.round(col.values)))
    return col.values, integral


@dataclass
class ChartRun:
    label: str
    tags: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    epochs: list[np.ndarray] = field(default_factory=list)


@dataclass
class ChartExport:
    x_column: str
    runs: list[ChartRun]
    notes: list[str]


def read_chart_export(path: Path) -> ChartExport:
    """Split a W&B UI chart export into its runs; envelope columns are ignored, empty cells are gaps."""
    table = read_table(path)
    columns = list(table.columns)
    if not columns or not is_chart_header(columns):
        raise ReadError(path, "not a W&B chart export: no '<run> - <metric>' column", line=1)
    x_column = columns[0]
    x_values, integral = step_column(path, table, x_column)
    notes: list[str] = []
    epoch = np.full(len(table), np.nan)
    if "epoch" in x_column.lower():
        epoch = x_values.astype(np.float64)
    if integral:
        steps = x_values.astype(np.int64)
    else:
        steps = np.arange(len(table), dtype=np.int64)
        notes.append(f"x axis {x_column!r} is not an integer step; steps are row numbers")
    runs: dict[str, ChartRun] = {}
    skipped = 0
    for column in columns[1:]:
        parsed = split_chart_column(column)
        if parsed is None:
            skipped += not column.endswith(ENVELOPE_SUFFIXES)
            continue
        col = numeric_column(table[column])
        if col.first_bad is not None:
            notes.append(f"column {column!r}: {col.bad_count} non-numeric value(s) skipped "
                         f"(first at line {col.first_bad + 2}: {col.bad_text[:40]!r})")
        run = runs.setdefault(parsed.run, ChartRun(parsed.run))
        mask = col.present
        run.tags.append(np.full(int(mask.sum()), parsed.metric, dtype=object))
        run.steps.append(steps[mask])
        run.values.append(col.values[mask])
        run.epochs.append(epoch[mask])
    if skipped:
        notes.append(f"{skipped} column(s) without a '<run> - <metric>' name ignored")
    if not runs:
        raise ReadError(path, "W&B chart export without any run column", line=1)
    return ChartExport(x_column, list(runs.values()), notes)


def drop_index_column(table: pd.DataFrame) -> pd.DataFrame:
    """`df.to_csv()` without index=False writes the row index as an unnamed first column."""
    first = str(table.columns[0]) if len(table.columns) else ""
    if first == "" or first.startswith("Unnamed: 0"):
        return table.drop(columns=table.columns[0])
    return table
