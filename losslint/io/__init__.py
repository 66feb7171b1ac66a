"""Readers, one module (or sub-package, decoder beside reader) per format. Order matters: the first reader that
can read a file claims it, so the specific formats (a `wandb-history.jsonl`, a W&B chart export CSV) come before the
generic ones (JSONL, CSV)."""
from __future__ import annotations

import importlib

from .base import Reader

READER_MODULES = ("tensorboard", "trainer_state", "wandb", "mlflow", "jsonl", "csvlog")


def readers() -> list[Reader]:
    """Every registered reader, in claim order. A registered module that is missing is an ImportError (a packaging
    mistake must not pass as a format that silently reads nothing)."""
    return [importlib.import_module(f"{__name__}.{module}").READER for module in READER_MODULES]


def reader_for_format(name: str) -> Reader:
    for reader in readers():
        if reader.format == name:
            return reader
    raise KeyError(name)
