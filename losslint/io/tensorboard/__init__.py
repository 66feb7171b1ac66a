"""TensorBoard event files: the reader (`reader.py`) beside the TFRecord framing and checksums it decodes with
(`records.py`). The registry (`io.READER_MODULES`) finds `READER` here."""
from __future__ import annotations

from .reader import READER, FileScalars, TensorBoardReader, parse_event_file

__all__ = ["READER", "FileScalars", "TensorBoardReader", "parse_event_file"]
