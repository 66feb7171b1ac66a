"""One schema for every log format: the `Run` and the canonical metric names.

Every reader returns `Run` objects whose `data` is a long table with the columns in `COLUMNS`:

- ``metric``: canonical name (``train/loss``, ``eval/loss``, ``eval/<metric>``, ``eval/<dataset>/<metric>``,
  ``train/learning_rate``, ``train/grad_norm``, ...); tags that name no known split keep their own name.
- ``step``: int64 global step (or epoch/iteration when that is all the log has).
- ``value``: float64; NaN and +/-inf are kept, they are findings, not noise.
- ``wall_time``: float64 seconds since the epoch, NaN when unknown.
- ``epoch``: float64, NaN when unknown.
- ``tag``: the name exactly as the log wrote it.
"""
from __future__ import annotations

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


def empty_frame() -> pd.DataFrame:
    return frame_from_columns([], [], [], [], [], [])


def frame_from_columns(
    metric: Iterable[str],
    step: Iterable[int],
    value: Iterable[float],
    wall_time: Iterable[float] | None,
    epoch: Iterable[float] | None,
    tag: Iterable[str],
) -> pd.DataFrame:
    """Build a `Run.data` table with the schema's dtypes from column sequences (None = all unknown)."""
    steps = np.asarray(list(step) if not isinstance(step, np.ndarray) else step, dtype=np.int64)
    n = len(steps)

    def floats(col: Any) -> np.ndarray:
        if col is None:
            return np.full(n, np.nan)
        return np.asarray(list(col) if not isinstance(col, np.ndarray) else col, dtype=np.float64)

    def names(col: Iterable[str]) -> pd.Series:
        # object, not pandas 3's arrow-backed `str`: building that costs ~10x more on million-row runs
        arr = col if isinstance(col, np.ndarray) and col.dtype == object else np.asarray(list(col), dtype=object)
        return pd.Series(arr, dtype=object)

    return pd.DataFrame(
        {
            "metric": names(metric),
            "step": steps,
            "value": floats(value),
            "wall_time": floats(wall_time),
            "epoch": floats(epoch),
            "tag": names(tag),
        },
        columns=list(COLUMNS),
    )


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
        return sorted(self.data["metric"].unique().tolist())

    def series(self, metric: str) -> pd.DataFrame:
        """Rows of one metric in logged order (readers already applied restart/purge rules)."""
        return self.data[self.data["metric"] == metric]

    def summary(self) -> dict[str, Any]:
        """The `losslint show --format json` view of this run."""
        metrics: dict[str, Any] = {}
        for name, group in self.data.groupby("metric", sort=True):
            metrics[str(name)] = {
                "points": int(len(group)),
                "first_step": int(group["step"].min()),
                "last_step": int(group["step"].max()),
                "source_tag": str(group["tag"].iloc[0]),
            }
        return {"run": self.name, "format": self.format, "sources": list(self.sources),
                "metrics": metrics, "notes": list(self.notes), "path": self.path, "run_id": self.run_id,
                "display_name": self.display_name}
