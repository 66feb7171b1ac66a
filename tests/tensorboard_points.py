"""Scalars of TensorBoard event files, for tests that compare another format's reader with the same run's
TensorBoard logs."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tensorboard_points(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tag -> (steps, values) of every scalar in the event files below `directory`, in logged order.

    Uses losslint's own TensorBoard reader when it imports; otherwise tbparse directly (FALLBACK, so that the
    cross-format checks run while the TensorBoard reader is still being written)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and "tfevents" in p.name)
    try:
        from losslint.io.tensorboard import READER as TB
    except ImportError:
        TB = None
    points: dict[str, list] = {}
    if TB is not None:
        for run in TB.read(files, "tb"):
            for tag, group in run.data.groupby("tag", sort=False):
                points.setdefault(str(tag), []).extend(zip(group["step"], group["value"]))
    else:  # FALLBACK: tbparse
        from tbparse import SummaryReader

        for path in files:
            scalars = SummaryReader(str(path), pivot=False).scalars
            if scalars.empty:  # an hparams-only event file
                continue
            for tag, group in scalars.groupby("tag", sort=False):
                points.setdefault(str(tag), []).extend(zip(group["step"], group["value"]))
    return {tag: (np.array([s for s, _ in pts]), np.array([v for _, v in pts], dtype=float))
            for tag, pts in points.items()}
