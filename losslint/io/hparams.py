"""Hyperparameters kept in a file beside the logs, for runs whose log format has no place for them.

- Ray Tune: `params.json` in each trial folder (the trial's config, `json.dump(config, indent=2)`).
- Hugging Face: `config.json` (the model config `save_pretrained` writes) and `training_args.json` (the training
  arguments as JSON: `TrainingArguments.to_json_string()`, the readable twin of the pickled `training_args.bin`,
  which is never opened here: unpickling runs code from the file).
- Keras/other: a `config.json` of plain settings next to the CSV or TensorBoard logs.

`discover` reads them for a run whose reader found no hyperparameters of its own (TensorBoard HParams, W&B
`config.yaml`, MLflow params and Lightning `hparams.yaml` are read by their readers). Values are kept as the JSON
has them (nested objects stay nested; `schema.flat_hparams` flattens for comparison). A file that is not valid
JSON, not an object, or larger than `MAX_BYTES` is a note on the run, never an error: the metrics are the run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from . import fs

# In merge order: the model config, then the training arguments, then a Ray Tune trial's config (a later file's
# key wins: the training arguments name the learning rate the run used, whatever a config suggests).
SIDECAR_FILES = ("config.json", "training_args.json", "params.json")
# A settings file is a few KiB; a Keras model config with its layer list can be ~1 MiB. Larger is not settings.
MAX_BYTES = 4 << 20


def _read_one(path: Path, notes: list[str]) -> dict[str, Any]:
    try:
        size = fs.size(path)
        if size > MAX_BYTES:
            notes.append(f"{path.name} beside the logs is {size} bytes (over {MAX_BYTES}); hyperparameters not read")
            return {}
        loaded = json.loads(fs.read_bytes(path))
    except OSError as exc:
        notes.append(f"{path.name} beside the logs not read ({exc.strerror or exc}); hyperparameters not read")
        return {}
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        notes.append(f"{path.name} beside the logs is {reason}; hyperparameters not read")
        return {}
    return loaded if isinstance(loaded, dict) else {}


def hparams_beside(folders: Iterable[Path]) -> tuple[dict[str, Any], list[str]]:
    """The hyperparameters in the sidecar files of `folders` (each folder's files in `SIDECAR_FILES` order, the
    folders in the order given: a later one's keys win), and notes on the files that could not be read."""
    found: dict[str, Any] = {}
    notes: list[str] = []
    seen: set[Path] = set()
    for folder in folders:
        if folder in seen:
            continue
        seen.add(folder)
        for name in SIDECAR_FILES:
            path = folder / name
            if fs.is_file(path):
                found.update(_read_one(path, notes))
    return found, notes
