"""Weights & Biases logs: the reader (`reader.py`) beside the decoders it uses, the binary `.wandb` run log
(`binary.py`) and the UI chart / `run.history()` CSV exports (`csv_export.py`). The registry
(`io.READER_MODULES`) finds `READER` here."""
from __future__ import annotations

from .reader import READER, WandbReader, folder_session, join_sessions

__all__ = ["READER", "WandbReader", "folder_session", "join_sessions"]
