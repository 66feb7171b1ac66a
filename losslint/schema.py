"""One schema for every log format: the `Run` and the canonical metric names.

Every reader returns `Run` objects whose `data` is a long table with the columns in `COLUMNS`:

- ``metric``: canonical name (``train/loss``, ``eval/loss``, ``eval/<metric>``, ``eval/<dataset>/<metric>``,
  ``train/learning_rate``, ``train/grad_norm``, ...); tags that name no known split keep their own name.
- ``step``: global step (or epoch/iteration when that is all the log has), a whole number.
- ``value``: the logged number; NaN and +/-inf are kept, they are findings, not noise.
- ``wall_time``: seconds since the epoch, NaN when unknown.
- ``epoch``: NaN when unknown.
- ``tag``: the name exactly as the log wrote it.

Stored compactly (`compact_frame`), so that a 25M-point run fits in a laptop's memory (~13 bytes a point instead
of ~300 with object strings and 64-bit numbers), and exactly: nothing a log wrote is rounded.

- ``metric`` and ``tag`` are pandas categoricals whose categories are sorted (so grouping by code is grouping by
  name in sorted order); a run has a handful of names repeated millions of times.
- ``step`` is int32 when every step fits in int32, else int64: the same integers either way.
- ``value``, ``wall_time``, ``epoch`` are float32 when every value of the column is a float32 exactly (the
  float64 -> float32 -> float64 round trip gives the same bits, NaN and +/-inf included), else float64. What that
  means per format: TensorBoard's `simple_value` and its float tensors are float32 in the file, so values stay
  float32 (converting them to float64 is exact); a `wall_time` there is a double and stays float64. JSON, CSV,
  W&B and MLflow numbers are doubles: a column is narrowed only when each of its numbers happens to be a float32
  (integers below 2**24, halves, all-NaN columns), so no decimal a log wrote (0.1) is ever rounded to float32.

Analysis reads `float64`/`int64` copies of one metric at a time (`losslint.view`), so results do not depend on the
storage width. `wide_frame` gives the table back with object strings, int64 and float64 (what `losslint export`
writes, unchanged by the compact storage).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .metrics import EVAL_LOSS, SPLIT_WORDS, TRAIN_LOSS

COLUMNS = ("metric", "step", "value", "wall_time", "epoch", "tag")

# Metric words that mean the same thing; applied after the split prefix/suffix is removed.
METRIC_WORDS = {
    "epoch_loss": "loss",
    "total_loss": "loss",
    "losses": "loss",
    "epoch_accuracy": "accuracy",
    "acc": "accuracy",
    "accuracy_score": "accuracy",
    "lr": "learning_rate",
    "learningrate": "learning_rate",
    "learning-rate": "learning_rate",
    "gradient_norm": "grad_norm",
    "grad-norm": "grad_norm",
    "gradnorm": "grad_norm",
    "ppl": "perplexity",
}

# Metrics that are about the optimiser, not a data split: always filed under train/.
OPTIMIZER_METRICS = {"learning_rate", "grad_norm"}

# Bare names that, with no split given, are training-side metrics (Keras `loss`/`accuracy`, detectron2 `total_loss`).
BARE_TRAIN_METRICS = {"loss", "accuracy", "perplexity", "learning_rate", "grad_norm"}

# detectron2's COCO evaluator writes validation results as `bbox/AP`, `segm/AP50`, `keypoints/AP`: no split word,
# but they are measured on held-out data.
EVAL_RESULT_PREFIXES = ("bbox/", "segm/", "keypoints/")

# Ultralytics YOLO (v5, v8 and later) writes what its validator measured as `metrics/mAP_0.5`,
# `metrics/mAP50-95(B)`, `metrics/precision(B)`, `metrics/recall`: validation results under a prefix that names no
# split (its losses say `train/` and `val/`). The prefix is dropped: `eval/map_0.5`, `eval/precision(b)`.
EVAL_METRICS_PREFIX = "metrics/"

# Whole-tag aliases, checked first (lower-cased, spaces as written). Users extend this through
# `[tool.losslint.aliases]`.
DEFAULT_ALIASES: dict[str, str] = {
    "val_loss": EVAL_LOSS,
    "eval_loss": EVAL_LOSS,
    "validation loss": EVAL_LOSS,
    "validation/epoch_loss": EVAL_LOSS,
    "v_loss": EVAL_LOSS,
    "loss/val": EVAL_LOSS,
    "training loss": TRAIN_LOSS,
    "train/epoch_loss": TRAIN_LOSS,
    "hp_metric": "hp_metric",
    "epoch": "epoch",
    "train/epoch": "epoch",
    "global_step": "global_step",
}

_LR_SCHEDULER_TAG = re.compile(r"^lr[-_ ]?(?:[a-z]+[a-z0-9]*)?(?:/pg\d+)?$")
_SPLIT_PREFIX = re.compile(r"^(?P<split>[a-z]+)[/_ ](?P<rest>.+)$")
_SPLIT_SUFFIX = re.compile(r"^(?P<rest>.+)[/_ ](?P<split>[a-z]+)$")


def _norm(tag: str) -> str:
    return tag.strip().lower()


def canonical_metric(tag: str, split_hint: str | None = None, aliases: Mapping[str, str] | None = None) -> str:
    """Map a tag as written by a logger to its canonical metric name.

    `split_hint` is what the file's location says (Keras `validation/` sub-folder, a TF2 `test/` writer);
    a split in the tag itself wins. `aliases` (user aliases) win over everything.
    """
    key = _norm(tag)
    for table in (aliases or {}, DEFAULT_ALIASES):
        for alias, target in table.items():
            if _norm(alias) == key:
                return target
    if split_hint is not None:
        split_hint = SPLIT_WORDS.get(_norm(split_hint), split_hint)
        hinted = f"{split_hint}/{key}"
        for alias, target in DEFAULT_ALIASES.items():
            if _norm(alias) == hinted:
                return target

    split, rest = None, key
    m = _SPLIT_PREFIX.match(key)
    if m and m.group("split") in SPLIT_WORDS:
        split, rest = SPLIT_WORDS[m.group("split")], m.group("rest")
    else:
        m = _SPLIT_SUFFIX.match(key)
        if m and m.group("split") in SPLIT_WORDS and m.group("split") not in ("v", "tr"):
            split, rest = SPLIT_WORDS[m.group("split")], m.group("rest")

    rest = rest.replace(" ", "_")
    # Lightning writes `<name>_step` and `<name>_epoch` for on_step/on_epoch logging: the step series is the curve.
    if rest.endswith("_step") and rest != "_step":
        rest = rest[: -len("_step")]
    if _LR_SCHEDULER_TAG.match(rest) and not rest.startswith("lr_decay"):
        rest = "learning_rate"
    rest = METRIC_WORDS.get(rest, rest)
    if rest.startswith("epoch_") and split is None and split_hint is not None:
        rest = METRIC_WORDS.get(rest, rest[len("epoch_"):])

    if rest in OPTIMIZER_METRICS:
        return f"train/{rest}"
    if split is None:
        split = split_hint
    if split is None and key.startswith(EVAL_RESULT_PREFIXES):
        return f"eval/{rest}"
    if split is None and key.startswith(EVAL_METRICS_PREFIX) and len(rest) > len(EVAL_METRICS_PREFIX):
        return f"eval/{rest[len(EVAL_METRICS_PREFIX):]}"
    if split is None:
        if rest in BARE_TRAIN_METRICS:
            split = "train"
        else:
            return tag.strip()
    return f"{split}/{rest}"


_EMPTY: pd.DataFrame | None = None


def empty_frame() -> pd.DataFrame:
    global _EMPTY
    if _EMPTY is None:
        _EMPTY = frame_from_columns([], [], [], [], [], [])
    return _EMPTY.copy()  # a copy: a reader may add to its table


_INT32 = np.iinfo(np.int32)


def narrow_steps(steps: np.ndarray) -> np.ndarray:
    """int32 when every step fits, else int64 (whole numbers either way)."""
    steps = np.asarray(steps)
    if steps.dtype == np.int32:
        return steps
    steps = steps.astype(np.int64, copy=False)
    if not len(steps) or (_INT32.min <= int(steps.min()) and int(steps.max()) <= _INT32.max):
        return steps.astype(np.int32)
    return steps


def narrow_floats(values: np.ndarray) -> np.ndarray:
    """float32 when every value survives float64 -> float32 -> float64 unchanged (NaN and +/-inf included), else
    float64: narrower storage, never a rounded number."""
    values = np.asarray(values)
    if values.dtype == np.float32:
        return values
    values = values.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        head = values[:256]  # most columns that are not float32 show it at once (wall times): no full pass
        if not ((head.astype(np.float32).astype(np.float64) == head) | np.isnan(head)).all():
            return values
        narrow = values.astype(np.float32)
    same = narrow.astype(np.float64) == values
    if same.all() or (same | np.isnan(values)).all():
        return narrow
    return values


def categorical(names: Any, codes: np.ndarray | None = None) -> pd.Categorical:
    """A categorical with sorted categories: from `names` per row, or from distinct `names` and a code per row."""
    if codes is None:
        if isinstance(names, pd.Categorical):
            values = names
        else:
            arr = names if isinstance(names, np.ndarray) and names.dtype == object else np.asarray(
                list(names), dtype=object)
            codes, uniques = pd.factorize(arr, sort=True)
            return pd.Categorical.from_codes(_small_codes(codes), dtype=pd.CategoricalDtype(
                pd.Index(np.asarray(uniques, dtype=object), dtype=object)))
        if values.categories.is_monotonic_increasing:
            return values
        return pd.Categorical(np.asarray(values, dtype=object))
    distinct = np.asarray(list(names), dtype=object)
    if not len(distinct):
        return pd.Categorical.from_codes(np.zeros(0, np.int8), dtype=pd.CategoricalDtype(pd.Index([], dtype=object)))
    # sorted distinct names, and each given name's place among them (two given names may be one name)
    sorted_names, place = np.unique(distinct, return_inverse=True)
    return pd.Categorical.from_codes(_small_codes(place.astype(np.int64)[np.asarray(codes)]),
                                     dtype=_category_dtype(tuple(sorted_names.tolist())))


@functools.lru_cache(maxsize=1024)
def _category_dtype(names: tuple[str, ...]) -> pd.CategoricalDtype:
    """One dtype per set of names: the runs of a sweep share their names, and building the dtype is most of the cost
    of a small run's categorical."""
    return pd.CategoricalDtype(pd.Index(np.asarray(names, dtype=object), dtype=object))


def _small_codes(codes: np.ndarray) -> np.ndarray:
    top = int(codes.max()) if len(codes) else 0
    return codes.astype(np.int8 if top < 127 else np.int16 if top < 32767 else np.int32, copy=False)


def frame_from_columns(
    metric: Iterable[str],
    step: Iterable[int],
    value: Iterable[float],
    wall_time: Iterable[float] | None,
    epoch: Iterable[float] | None,
    tag: Iterable[str],
    *,
    metric_codes: np.ndarray | None = None,
    tag_codes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Build a compact `Run.data` table from column sequences (None = all unknown).

    `metric` and `tag` are names per row; or, with `metric_codes`/`tag_codes`, the distinct names and one index
    into them per row (how readers that number their tags hand them over without a string per row).
    """
    raw = step if isinstance(step, np.ndarray) else np.asarray(list(step), dtype=np.int64)
    steps = narrow_steps(raw if raw.dtype in (np.int32, np.int64) else raw.astype(np.int64))
    n = len(steps)

    def floats(col: Any) -> np.ndarray:
        if col is None:
            return np.full(n, np.nan, dtype=np.float32)
        arr = col if isinstance(col, np.ndarray) else np.asarray(list(col), dtype=np.float64)
        return narrow_floats(arr)

    return pd.DataFrame(
        {
            "metric": categorical(metric, metric_codes),
            "step": steps,
            "value": floats(value),
            "wall_time": floats(wall_time),
            "epoch": floats(epoch),
            "tag": categorical(tag, tag_codes),
        },
        columns=list(COLUMNS),
        copy=False,
    )


def compact_frame(data: pd.DataFrame) -> pd.DataFrame:
    """`data` in the compact storage of the module docstring (a frame built another way, e.g. a concatenation of
    two runs' tables whose categories differ); returned as is when it already is."""
    if not set(COLUMNS) <= set(data.columns):
        return data
    dtypes = data.dtypes
    if all(isinstance(dtypes[c], pd.CategoricalDtype) and dtypes[c].categories.is_monotonic_increasing
           for c in ("metric", "tag")) and dtypes["step"] in (np.int32, np.int64):
        return data  # built by `frame_from_columns` (numbers already as narrow as they exactly go)
    out = {}
    for column in COLUMNS:
        col = data[column]
        if column in ("metric", "tag"):
            if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.is_monotonic_increasing:
                out[column] = col.array
            else:
                out[column] = categorical(col.to_numpy(dtype=object))
        elif column == "step":
            out[column] = narrow_steps(col.to_numpy())
        else:
            out[column] = narrow_floats(col.to_numpy())
    if all(out[c] is data[c].array or (isinstance(out[c], np.ndarray) and out[c].dtype == data[c].dtype)
           for c in COLUMNS):
        return data
    return pd.DataFrame(out, columns=list(COLUMNS), index=data.index, copy=False)


def wide_frame(data: pd.DataFrame) -> pd.DataFrame:
    """The table with object strings, int64 steps and float64 numbers (the same values; what `export` writes)."""
    out = data.copy(deep=False)
    for column in data.columns:
        col = data[column]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[column] = pd.Series(col.to_numpy(dtype=object), index=data.index, dtype=object)
        elif column == "step":
            out[column] = col.astype(np.int64)
        elif col.dtype == np.float32:
            out[column] = col.astype(np.float64)
    return out


def metric_rows(data: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(metric, row positions of its points in logged order) per metric, sorted by name: one stable sort of the
    metric codes, no boolean mask over the whole table per metric."""
    if not len(data):
        return []
    col = data["metric"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        names = np.asarray(col.cat.categories, dtype=object)
        if not col.cat.categories.is_monotonic_increasing:
            rank = np.argsort(np.argsort(names, kind="stable"))
            codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
            names = np.sort(names)
    else:
        codes, uniques = pd.factorize(col.to_numpy(dtype=object), sort=True)
        names = np.asarray(uniques, dtype=object)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    start = int((codes < 0).sum())  # rows without a metric (code -1) sort first and belong to no metric
    out = []
    for name, count in zip(names.tolist(), counts.tolist()):
        if count:
            out.append((str(name), order[start:start + count]))
        start += count
    return out


def frame_from_records(records: Iterable[tuple], aliases: Mapping[str, str] | None = None,
                       split_hint: str | None = None) -> pd.DataFrame:
    """Build a table from `(tag, step, value, wall_time, epoch)` tuples, canonicalising each tag once."""
    rows = list(records)
    if not rows:
        return empty_frame()
    tags, steps, values, walls, epochs = zip(*rows)
    names = {t: canonical_metric(t, split_hint, aliases) for t in set(tags)}
    metric = [names[t] for t in tags]
    return frame_from_columns(metric, steps, values, walls, epochs, tags)


_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I)
# A list setting (layer sizes, milestones) is kept as its JSON text when short enough to read in a table; a longer
# one (a Keras layer list) is not a setting anyone compares runs by.
MAX_LIST_TEXT = 80


def typed_hparam(value: Any) -> Any:
    """A hyperparameter value as int, float, bool, str or None: text that spells a number or a boolean (MLflow
    params, Ray Tune's and argparse's strings) becomes one; a numpy scalar becomes its Python value."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text in ("True", "true"):
            return True
        if text in ("False", "false"):
            return False
        if text in ("None", "null"):
            return None
        if _INT_TEXT.fullmatch(text):
            return int(text)
        if _FLOAT_TEXT.fullmatch(text):
            return float(text)
        return value
    return str(value)


def flat_hparams(hparams: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level of `a.b.c` keys with typed values (`typed_hparam`); a list becomes its JSON
    text (up to `MAX_LIST_TEXT` characters, else left out)."""
    import json

    flat: dict[str, Any] = {}
    for key, value in hparams.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            try:
                text = json.dumps(value, default=str)
            except (TypeError, ValueError, RecursionError):
                continue
            if len(text) <= MAX_LIST_TEXT:
                flat[name] = text
        else:
            flat[name] = typed_hparam(value)
    return flat


@dataclass
class Run:
    """One training run, whatever format it was logged in."""

    name: str
    format: str
    sources: list[str]
    data: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # where the run lives: its directory (or the file that is the whole run), relative to the working directory
    # when below it; set by discovery, "" for a run built in memory
    path: str = ""

    def __post_init__(self) -> None:
        self.data = compact_frame(self.data)

    def __repr__(self) -> str:
        metrics = self.data["metric"].nunique() if "metric" in self.data else 0
        return (f"Run(name={self.name!r}, format={self.format!r}, path={self.path!r}, points={len(self.data)}, "
                f"metrics={metrics}, notes={len(self.notes)})")

    @property
    def run_id(self) -> str | None:
        """The tracker's own id of the run (W&B run id, MLflow run id), when the log records one."""
        value = self.metadata.get("run_id")
        return None if value in (None, "") else str(value)

    @property
    def display_name(self) -> str | None:
        """The name the tracker shows for the run (W&B display name, MLflow run name), when the log records one."""
        value = self.metadata.get("display_name") or self.metadata.get("run_name")
        return None if value in (None, "") else str(value)

    def metrics(self) -> list[str]:
        return [name for name, _ in metric_rows(self.data)] if "metric" in self.data else []

    def series(self, metric: str) -> pd.DataFrame:
        """Rows of one metric in logged order (readers already applied restart/purge rules)."""
        for name, rows in metric_rows(self.data):
            if name == metric:
                return self.data.iloc[rows]
        return self.data.iloc[:0]

    def summary(self) -> dict[str, Any]:
        """The `losslint show --format json` view of this run."""
        metrics: dict[str, Any] = {}
        rows_by_metric = metric_rows(self.data)
        steps = self.data["step"].to_numpy() if rows_by_metric else np.zeros(0, np.int64)
        tags = self.data["tag"] if rows_by_metric else pd.Series([], dtype=object)
        for name, rows in rows_by_metric:
            metrics[name] = {
                "points": int(len(rows)),
                "first_step": int(steps[rows].min()),
                "last_step": int(steps[rows].max()),
                "source_tag": str(tags.iloc[int(rows[0])]),
            }
        return {"run": self.name, "format": self.format, "sources": list(self.sources),
                "metrics": metrics, "notes": list(self.notes), "path": self.path, "run_id": self.run_id,
                "display_name": self.display_name}
