"""Untrusted text (run names from folder names, metric labels and messages from file contents) made safe to show.

- `unicode_clean`: a file name that is not valid UTF-8 reaches Python as lone surrogates (`os.fsdecode`'s
  surrogateescape); those cannot be written as UTF-8, so they become U+FFFD replacement marks. Every `Run` and
  `ReadError` is cleaned this way once, so each output format and report file name sees valid text only.
- `printable`: for the line-oriented outputs (text, GitHub annotations, messages on stderr) control characters and
  line breaks are shown as escapes (`\\n`, `\\x1b`, `\\u2028`), so no name can start a line of its own (a `::error`
  workflow command, say) or send terminal escape sequences; bidirectional overrides are escaped the same way.
"""
from __future__ import annotations

import re
from typing import Any

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls but tab, DEL and C1 controls, Unicode line/paragraph separators, bidirectional embeddings/overrides
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\x00": "\\x00"}


def unicode_clean(text: str) -> str:
    """`text` with lone surrogates (undecodable bytes of a file name) replaced by U+FFFD."""
    if not isinstance(text, str) or not _SURROGATES.search(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _only_escapes(text) \
        else _SURROGATES.sub("\ufffd", text)


def _only_escapes(text: str) -> bool:
    """Surrogates in U+DC80..U+DCFF are what surrogateescape made of bytes: decoding them again gives one mark per
    broken sequence, as a terminal would show the name."""
    return all("\udc80" <= ch <= "\udcff" for ch in _SURROGATES.findall(text))


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` on one line, as visible characters: surrogates replaced, control characters and line breaks escaped."""
    text = unicode_clean(str(text))
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


def clean_value(value: Any) -> Any:
    """`unicode_clean` through strings, dict keys and values, lists and tuples (metadata, hyperparameters)."""
    if isinstance(value, str):
        return unicode_clean(value)
    if isinstance(value, dict):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean_value(v) for v in value)
    return value


def clean_run(run) -> None:
    """Clean a `Run` in place: name, sources, notes, metadata, hyperparameters, and the metric and tag columns."""
    run.name = unicode_clean(run.name)
    run.sources = [unicode_clean(s) for s in run.sources]
    run.notes = [unicode_clean(n) for n in run.notes]
    run.metadata = clean_value(run.metadata)
    run.hparams = clean_value(run.hparams)
    for column in ("metric", "tag"):
        if column not in run.data.columns or not len(run.data):
            continue
        values = run.data[column]
        categorical = hasattr(values, "cat")
        # a few distinct objects: the categories, or ~10 ms per million rows of an object column
        labels = set(values.cat.categories) if categorical else set(values.to_numpy())
        dirty = {label: unicode_clean(label) for label in labels
                 if isinstance(label, str) and _SURROGATES.search(label)}
        if dirty:
            if categorical:  # cleaned names may collide and reorder: rebuilt with sorted categories
                run.data[column] = values.astype(object).replace(dirty).astype("category")
            else:
                run.data[column] = values.replace(dirty)
