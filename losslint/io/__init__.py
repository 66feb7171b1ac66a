"""Readers, one module per format. Order matters: the first reader that can read a file claims it, so the
specific formats (a `wandb-history.jsonl`, a W&B chart export CSV) come before the generic ones (JSONL, CSV)."""
from __future__ import annotations

import importlib

from .base import Reader

READER_MODULES = ("tensorboard", "trainer_state", "wandb", "mlflow", "jsonl", "csvlog")


def readers() -> list[Reader]:
    found = []
    for module in READER_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a format still being built must not break the others
            if exc.name == f"{__name__}.{module}":
                continue
            raise
        found.append(mod.READER)
    return found


def reader_for_format(name: str) -> Reader:
    for reader in readers():
        if reader.format == name:
            return reader
    raise KeyError(name)
