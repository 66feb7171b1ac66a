"""TensorBoard event files (`*tfevents*`): every scalar point, never downsampled.

Own TFRecord reader (`records.py`) rather than `EventAccumulator` (reservoir-sampled unless told otherwise, CRCs in
pure Python, one Python object per point). Records laid out as PyTorch/tensorboardX/TF1 write a `simple_value` are
decoded all at once with numpy; every other record goes through the `Event` protos shipped with the `tensorboard`
package (upb C parser).

Scalars come from `summary.value[].simple_value` and from scalar-shaped numeric tensors (TF2 `tf.summary.scalar`,
Keras callback: plugin `scalars`, or no plugin at all). Other plugins (histograms, images, text, hparams) are
skipped; hparams' session_start_info fills `Run.hparams`.

Restarts follow TensorBoard (event_accumulator.py, `_MaybePurgeOrphanedData`): in a file of version >= 2, a
`SessionLog.START` drops every earlier point of that directory with step >= its step; in older files an event whose
step is below the latest step seen drops the earlier points of its own tags with step >= its step. TensorBoard
applies no rule to the common modern case, a resumed writer opening a new file, and shows both curves on top of
each other. So across the files of one directory, in the order they were started (first record's wall time, then
name), a file whose first step for a tag is <= the last step seen for that tag replaces the earlier points of that
tag with step >= that first step; each such regression is recorded in `metadata["step_regressions"]` and a note.
The one exception is a later file logging the last point again with the same value (HF's final-evaluation writer
re-logs `train/epoch`): a duplicate, dropped silently.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import PartialReadError, ReadError
from ...metrics import SPLIT_DIRS
from ...metrics import split_of_directory as split_of
from ...schema import Run, canonical_metric, empty_frame, frame_from_columns
from .. import fs
from ..base import Reader, ReadOptions, check_lfs_pointer, read_log_bytes, served_bytes
from ..fs import as_path
from .records import RecordError, _unaligned_words, checksum_function, frame_records, verify_records

# HF Trainer writes hparams into a `<time.time()>/` sub-folder of its run folder.
_TIMESTAMP_DIR = re.compile(r"^\d{9,}\.\d+$")
# `SummaryWriter` names files `events.out.tfevents.<unix time>.<host>...`
_NAME_TIME = re.compile(r"tfevents\.(\d+)")

# dtype enum (tensorflow/core/framework/types.proto) -> (numpy dtype of tensor_content, TensorProto field)
_TENSOR_DTYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float_val"),
    2: ("<f8", "double_val"),
    3: ("<i4", "int_val"),
    4: ("<u1", "int_val"),
    5: ("<i2", "int_val"),
    6: ("<i1", "int_val"),
    9: ("<i8", "int64_val"),
    10: ("?", "bool_val"),
    14: ("bfloat16", "half_val"),
    17: ("<u2", "int_val"),
    19: ("<f2", "half_val"),
    22: ("<u4", "uint32_val"),
    23: ("<u8", "uint64_val"),
}
_SESSION_START = 1  # SessionLog.START
_HPARAMS_START_TAG = "_hparams_/session_start_info"


def _event_class() -> Any:
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event


def tensor_scalar(tensor: Any) -> float | None:
    """The value of a scalar-shaped numeric TensorProto, else None (strings, histograms, shaped tensors)."""
    kind = _TENSOR_DTYPES.get(tensor.dtype)
    if kind is None or len(tensor.tensor_shape.dim):
        return None
    content = tensor.tensor_content
    np_dtype, field_name = kind
    if content:
        if np_dtype == "bfloat16":
            return float(np.frombuffer(b"\x00\x00" + content[:2], "<f4")[0])
        return float(np.frombuffer(content, np_dtype, count=1)[0])
    values = getattr(tensor, field_name)
    if not values:
        return 0.0  # as tensorflow's make_ndarray: an empty value list means zeros
    first = values[0]
    if np_dtype == "<f2":
        return float(np.array([first], np.uint16).view(np.float16)[0])
    if np_dtype == "bfloat16":
        return float(np.array([first << 16], np.uint32).view(np.float32)[0])
    return float(first)


@dataclass
class FileScalars:
    """Scalar points of one event file in logged order, plus the purge events TensorBoard would act on."""

    path: Path
    tags: list[str]
    codes: np.ndarray  # index into tags, per point
    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    # (points logged before it, step, tag code or -1 for "all tags"): purge earlier points with step >= step
    purges: list[tuple[int, int, int]] = field(default_factory=list)
    file_version: str | None = None
    records: int = 0
    truncated_at: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    non_scalar_tags: int = 0
    first_wall_time: float | None = None
    # a corrupt record after readable ones: the points before it are kept, the file is reported unreadable from there
    fault: ReadError | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def kept(self) -> np.ndarray:
        """Mask of points that survive this file's own purges (what TensorBoard shows for this file alone)."""
        return _apply_purges(self.codes, self.steps, self.purges)


def _apply_purges(codes: np.ndarray, steps: np.ndarray, purges: Sequence[tuple[int, int, int]]) -> np.ndarray:
    keep = np.ones(len(steps), dtype=bool)
    for before, step, code in purges:
        doomed = steps[:before] >= step
        if code >= 0:
            doomed &= codes[:before] == code
        keep[:before] &= ~doomed
    return keep


def _hparams_from(content: bytes) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    found: dict[str, Any] = {}
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind in ("number_value", "string_value", "bool_value"):
            found[name] = getattr(value, kind)
    return found


def _same_strings(buf: np.ndarray, starts: np.ndarray, length: int, peel: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Group equal byte strings `buf[start:start+length]`: (group id per string, one member index per group).

    Exact, and linear in the number of strings. The strings are compared as 8-byte words; a run logs a handful of
    tags, so the most common ones are peeled off one vectorised comparison at a time, and what is left after `peel`
    tags is hashed (pandas.factorize per word, ids folded together word by word).
    """
    words = _string_words(buf, starts, length)
    group = np.full(len(starts), -1, dtype=np.int64)
    first: list[int] = []
    remaining = None  # None: every string
    for _ in range(peel):
        pool = words if remaining is None else [column[remaining] for column in words]
        if not len(pool[0]):
            break
        same = pool[0] == pool[0][0]
        for column in pool[1:]:
            same &= column == column[0]
        members = np.flatnonzero(same) if remaining is None else remaining[same]
        group[members] = len(first)
        first.append(int(members[0]))
        remaining = np.flatnonzero(~same) if remaining is None else remaining[~same]
    if remaining is not None and len(remaining):
        rest = np.zeros(len(remaining), dtype=np.int64)
        for column in words:
            ids, distinct = pd.factorize(column[remaining])
            rest = pd.factorize(rest * len(distinct) + ids)[0]
        grows = np.r_[True, rest[1:] > np.maximum.accumulate(rest)[:-1]]  # factorize numbers in order of appearance
        group[remaining] = rest + len(first)
        first.extend(remaining[grows].tolist())
    return group, np.asarray(first, dtype=np.int64)


def _string_words(buf: np.ndarray, starts: np.ndarray, length: int) -> list[np.ndarray]:
    """Each string as little-endian 8-byte words, one array per word; the last word overlaps (or is short)."""
    if length >= 8:
        offsets = list(range(0, length - 7, 8))
        if length % 8:
            offsets.append(length - 8)
        words = _unaligned_words(buf, "<u8")
        return [words[starts + offset] for offset in offsets]
    word = np.zeros(len(starts), dtype=np.uint64)
    for k in range(length):
        word |= buf[starts + k].astype(np.uint64) << np.uint64(8 * k)
    return [word]


@dataclass
class _FastScalars:
    records: np.ndarray  # record index of each decoded point
    tag_ids: np.ndarray
    tags: list[str]
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray


_HEAD = 32  # bytes of a record that hold everything before the tag in the fast layout (step varint <= 10 bytes)


_FAST_MIN_RECORDS = 256  # below this the protobuf parser, one record at a time, is as fast
_FAST_CHUNK = 1 << 19  # records decoded per vectorised pass; bounds the temporaries to a few tens of MiB


def _fast_simple_values(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> _FastScalars:
    """`_fast_chunk` over the file in slices of `_FAST_CHUNK` records, tags numbered across slices."""
    parts = [_fast_chunk(buf, starts[lo:lo + _FAST_CHUNK], lengths[lo:lo + _FAST_CHUNK])
             for lo in range(0, len(starts), _FAST_CHUNK)]
    if len(parts) == 1:
        return parts[0]
    tags: dict[str, int] = {}
    for lo, part in zip(range(0, len(starts), _FAST_CHUNK), parts):
        remap = np.array([tags.setdefault(tag, len(tags)) for tag in part.tags] or [0], dtype=np.int64)
        part.tag_ids = remap[part.tag_ids]
        part.records = part.records + lo

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return _FastScalars(joined("records"), joined("tag_ids"), list(tags), joined("steps"), joined("values"),
                        joined("walls"))


def _bytes_from(head: np.ndarray, offsets: np.ndarray, count: int) -> np.ndarray:
    """(n, count) bytes of each row of `head` from its own offset. Steps mostly grow, so the offset (which follows
    the step's varint width) changes in a few long runs: copy run by run, gathering only when runs are many."""
    changes = np.flatnonzero(offsets[1:] != offsets[:-1]) + 1
    if len(changes) > 64:
        return np.take_along_axis(head, offsets[:, None] + np.arange(count, dtype=offsets.dtype), axis=1)
    out = np.empty((len(head), count), dtype=head.dtype)
    bounds = [0, *changes.tolist(), len(head)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        start = int(offsets[lo])
        out[lo:hi] = head[lo:hi, start:start + count]
    return out


def _fast_chunk(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> _FastScalars:
    """Decode, all at once, the records laid out exactly as PyTorch/tensorboardX/TF1 write one `simple_value`:

    ``09 <f64 wall_time> [10 <varint step>] 2a <n> { 0a <n> { 0a <n> <tag> 15 <f32 value> } }``

    (field order as protobuf serialises it; a zero step is omitted). Records in any other layout are left to the
    protobuf parser; `records` says which ones were decoded here.
    """
    # 21..149 bytes: the shortest and the longest record this layout allows (one-byte lengths below 0x80)
    candidates = np.flatnonzero((lengths >= 21) & (lengths <= 149) & (starts + _HEAD <= len(buf)))
    if not len(candidates):
        nothing = np.zeros(0, dtype=np.int64)
        return _FastScalars(nothing, nothing, [], nothing, np.zeros(0), np.zeros(0))
    starts, lengths = starts[candidates], lengths[candidates].astype(np.int16)
    # the first 32 bytes of each record as four whole-word gathers (faster than gathering rows of bytes)
    words = _unaligned_words(buf, "<u8")
    head = np.empty((len(starts), _HEAD // 8), dtype="<u8")
    for k in range(_HEAD // 8):
        head[:, k] = words[starts + 8 * k]
    head = head.view(np.uint8)
    ok = head[:, 0] == 0x09
    has_step = head[:, 9] == 0x10
    # step varint: its length is where the first byte without the continuation bit is
    varint = head[:, 10:20]
    step_bytes = np.argmin(varint >= 0x80, axis=1).astype(np.int16) + 1
    ok &= ~has_step | (varint[np.arange(len(starts)), step_bytes - 1] < 0x80)
    widest = int(step_bytes[has_step].max()) if has_step.any() else 1
    groups = (varint[:, :widest] & 0x7F).astype(np.uint64) << (np.arange(widest, dtype=np.uint64) * np.uint64(7))
    groups[np.arange(widest) >= step_bytes[:, None]] = 0
    step = np.bitwise_or.reduce(groups, axis=1)
    q = np.where(has_step, 10 + step_bytes, 9)  # offset of the summary field within the record
    summary, summary_len, value, value_len, tag, tag_len = _bytes_from(head, q, 6).T
    rest = lengths - q
    layout = (summary == 0x2A) & (summary_len < 0x80) & (value == 0x0A) & (value_len < 0x80)
    layout &= (tag == 0x0A) & (tag_len > 0) & (tag_len < 0x80)
    layout &= (summary_len + 2 == rest) & (value_len + 4 == rest) & (tag_len + 11 == rest)
    tag_length = tag_len.astype(np.int16)
    ok &= layout
    # the record's last 8 bytes as one word: its top 4 bytes are the f32 value, the byte below them its field tag
    tail = words[starts + lengths - 8]
    ok &= ((tail >> np.uint64(24)) & np.uint64(0xFF)) == 0x15

    chosen = np.flatnonzero(ok)
    values = (tail[chosen] >> np.uint64(32)).astype(np.uint32).view("<f4")  # float32 as in the file (schema.py)
    walls = np.ascontiguousarray(head[chosen, 1:9]).view("<f8").ravel()
    steps = np.where(has_step[chosen], step[chosen].view(np.int64), 0)
    tag_starts, tag_length = starts[chosen] + q[chosen] + 6, tag_length[chosen]
    tag_ids = np.full(len(chosen), -1, dtype=np.int64)
    tags: list[str] = []
    for length in pd.unique(tag_length).tolist():
        members = np.flatnonzero(tag_length == length)
        group, first = _same_strings(buf, tag_starts[members], length)
        ids = np.full(len(first), -1, dtype=np.int64)
        for number, member in enumerate(first.tolist()):
            start = int(tag_starts[members[member]])
            try:
                tag = buf[start:start + length].tobytes().decode("utf-8")
            except UnicodeDecodeError:
                continue  # proto3 strings are UTF-8: leave the record to the parser, which will refuse it
            ids[number] = len(tags)
            tags.append(tag)
        tag_ids[members] = ids[group]
    good = tag_ids >= 0
    return _FastScalars(candidates[chosen[good]], tag_ids[good], tags, steps[good], values[good], walls[good])


# Event files at least this big are read `_WINDOW` bytes at a time (framed and decoded window by window), so that a
# 25M-scalar file (~1.5 GB) is never in memory whole; smaller files, and any file whose framing or checksums fail
# somewhere, are read whole, where the first fault and its offset are found as always.
_WINDOW = 1 << 26
_WINDOWED_MIN_BYTES = 2 * _WINDOW


def parse_event_file(path: Path, data: bytes | None = None, verify: bool | None = None) -> FileScalars:
    """Every scalar point of one event file; raises ReadError for anything that is not a readable event file."""
    if data is None:
        windowed = _parse_in_windows(path, verify)
        if windowed is not None:
            return windowed
        data = read_log_bytes(path)
    else:
        check_lfs_pointer(path, data[:64])
    framing = frame_records(data)
    crc = checksum_function(verify)
    fault = None
    try:
        if crc is not None:
            verify_records(data, framing, crc)
        if framing.error is not None:
            if not len(framing):
                raise framing.error
            fault = ReadError(path, f"not a valid TensorBoard event file from here: {framing.error.message}; the "
                                    f"{len(framing)} record(s) before it were read", offset=framing.error.offset)
    except RecordError as exc:
        raise ReadError(path, f"not a valid TensorBoard event file: {exc.message}", offset=exc.offset) from None
    decoder = _Decoder(path)
    decoder.feed(data, framing, 0)
    return decoder.result(truncated_at=framing.truncated_at, fault=fault)


def _open_binary(path: Path) -> Any:
    # through the storage seam: a bucket's object is read window by window in ranged GETs
    return fs.open_binary(path, block_size=_WINDOW)


def _parse_in_windows(path: Path, verify: bool | None) -> FileScalars | None:
    """`parse_event_file` of a big clean file, `_WINDOW` bytes at a time; None to read it whole instead (a small
    file, one that cannot be opened here, or framing or checksums that fail: the whole-file path reports them; or a
    file whose bytes `losslint watch` already holds in memory: `read_log_bytes` serves them)."""
    if served_bytes(path) is not None:
        return None
    try:
        if fs.size(path) < _WINDOWED_MIN_BYTES:
            return None
        handle = _open_binary(path)
    except OSError:
        return None
    crc = checksum_function(verify)
    decoder = _Decoder(path)
    carry = b""
    base = 0  # file offset of the window's first byte
    with handle:
        while True:
            chunk = handle.read(_WINDOW)
            data = carry + chunk if carry else chunk
            final = len(chunk) < _WINDOW
            framing = frame_records(data)
            if framing.error is not None:
                return None
            if crc is not None:
                try:
                    verify_records(data, framing, crc)
                except RecordError:
                    return None
            decoder.feed(data, framing, base)
            consumed = framing.truncated_at if framing.truncated_at is not None else len(data)
            if final:
                truncated = None if framing.truncated_at is None else base + framing.truncated_at
                return decoder.result(truncated_at=truncated, fault=None)
            carry = data[consumed:]
            base += consumed
            del data, chunk


class _Decoder:
    """Decodes the records of one event file, handed over as one buffer or window by window (`feed`): the state
    that spans records (tag numbers, file version, TensorBoard's purge bookkeeping) lives here."""

    def __init__(self, path: Path):
        self.path = path
        self.tag_codes: dict[str, int] = {}
        self.tensor_plugins: dict[str, str] = {}
        self.purges: list[tuple[int, int, int]] = []  # (points logged before it, step, tag code or -1)
        self.hparams: dict[str, Any] = {}
        self.file_version: str | None = None
        self.version_number: float | None = None
        self.latest_step = -1  # EventAccumulator.most_recent_step, used by files older than version 2
        self.skipped: set[str] = set()
        self.records = 0
        self.first: Any = None
        self.fast_ok = False
        self.points = 0
        self.parts: list[tuple[Any, ...]] = []  # per window: codes, steps, values, walls

    def feed(self, data: bytes, framing: Any, base: int) -> None:
        """Decode the complete records of `data` (whose first byte is at file offset `base`)."""
        from google.protobuf.message import DecodeError

        path = self.path
        from_string = _event_class().FromString
        buf = np.frombuffer(data, dtype=np.uint8)
        starts, lengths = framing.payload_starts, framing.lengths
        offsets = framing.offsets

        def event_at(index: int) -> Any:
            start = int(starts[index])
            try:
                return from_string(data[start:start + int(lengths[index])])
            except DecodeError:
                raise ReadError(path, "not a valid TensorBoard event file: record is not an Event protobuf",
                                offset=base + int(offsets[index])) from None

        # The vectorised decoder only applies where TensorBoard's purge rule is the SessionLog one (file
        # version >= 2), which every current writer declares in its first record; older files go event by event.
        if self.first is None and len(framing):
            self.first = event_at(0)
            self.fast_ok = (self.first.WhichOneof("what") == "file_version"
                            and _parse_version(self.first.file_version) >= 2)
        fast = None
        if self.fast_ok and len(framing) >= _FAST_MIN_RECORDS:
            fast = _fast_simple_values(buf, starts, lengths)
        slow_records = np.arange(len(framing))
        if fast is not None and len(fast.records):
            slow_mask = np.ones(len(framing), dtype=bool)
            slow_mask[fast.records] = False
            slow_records = np.flatnonzero(slow_mask)
        self.records += len(framing)

        tag_codes, tensor_plugins, hparams, skipped = self.tag_codes, self.tensor_plugins, self.hparams, self.skipped
        owners: list[int] = []  # record index (in this window) of each slow point
        codes: list[int] = []
        steps: list[int] = []
        values: list[float] = []
        walls: list[float] = []
        purges: list[tuple[int, int, int]] = []  # (record index in this window, step, tag code or -1)
        for index in slow_records.tolist():
            event = event_at(index)
            what = event.WhichOneof("what")
            if what == "file_version":
                self.file_version = event.file_version
                self.version_number = _parse_version(self.file_version)
            step = event.step
            if self.version_number is not None and self.version_number >= 2:
                if what == "session_log" and event.session_log.status == _SESSION_START:
                    purges.append((index, step, -1))
            elif step < self.latest_step and what == "summary":
                for value in event.summary.value:
                    purges.append((index, step, tag_codes.setdefault(value.tag, len(tag_codes))))
            else:
                self.latest_step = step
            if what != "summary":
                continue
            wall = event.wall_time
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                tag = value.tag
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor":
                    plugin = tensor_plugins.get(tag)
                    if plugin is None:
                        plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
                        tensor_plugins[tag] = plugin
                        if plugin == "hparams" and tag == _HPARAMS_START_TAG:
                            hparams.update(_hparams_from(value.metadata.plugin_data.content))
                    if plugin not in ("scalars", ""):
                        skipped.add(tag)
                        continue
                    number = tensor_scalar(value.tensor)
                    if number is None:
                        skipped.add(tag)
                        continue
                else:
                    # PyTorch/Lightning hparams: a value with plugin metadata and no payload at all
                    if kind is None and tag == _HPARAMS_START_TAG and value.HasField("metadata"):
                        hparams.update(_hparams_from(value.metadata.plugin_data.content))
                    skipped.add(tag)
                    continue
                code = tag_codes.get(tag)
                if code is None:
                    code = tag_codes[tag] = len(tag_codes)
                owners.append(index)
                codes.append(code)
                steps.append(step)
                values.append(number)
                walls.append(wall)

        point_records = np.asarray(owners, dtype=np.int64)
        point_codes = np.asarray(codes, dtype=np.int32)
        point_steps = np.asarray(steps, dtype=np.int64)
        point_values = np.asarray(values, dtype=np.float64)
        point_walls = np.asarray(walls, dtype=np.float64)
        if fast is not None and len(fast.records):
            remap = np.array([tag_codes.setdefault(tag, len(tag_codes)) for tag in fast.tags], dtype=np.int32)
            fast_codes = remap[fast.tag_ids]
            if not len(owners):  # every point decoded at once: no merge, no copies
                point_records, point_codes, point_steps, point_values, point_walls = (
                    fast.records, fast_codes, fast.steps, fast.values, fast.walls)
            else:
                order = np.argsort(np.concatenate([fast.records, point_records]), kind="stable")
                point_records = np.concatenate([fast.records, point_records])[order]
                point_codes = np.concatenate([fast_codes, point_codes])[order]
                point_steps = np.concatenate([fast.steps, point_steps])[order]
                point_values = np.concatenate([fast.values, point_values])[order]
                point_walls = np.concatenate([fast.walls, point_walls])[order]
            del fast
        # purges are kept as "points logged before them", the unit `_apply_purges` works in
        self.purges.extend((self.points + int(np.searchsorted(point_records, index)), step, code)
                           for index, step, code in purges)
        if len(point_steps):
            small = np.int16 if len(tag_codes) < (1 << 15) else np.int32
            self.parts.append((point_codes.astype(small), _narrow_steps(point_steps), point_values, point_walls))
        self.points += len(point_steps)

    def result(self, truncated_at: int | None, fault: ReadError | None) -> FileScalars:
        # column by column, each window's part let go once joined: the peak is the parts plus one column
        parts = [list(part) for part in self.parts]
        self.parts = []
        columns = []
        for k, empty in enumerate((np.int16, np.int64, np.float64, np.float64)):
            pieces = [part[k] for part in parts]
            for part in parts:
                part[k] = None
            columns.append(np.zeros(0, empty) if not pieces else _joined(pieces))
            del pieces
        codes, steps, values, walls = columns
        return FileScalars(
            path=self.path, tags=list(self.tag_codes), codes=codes, steps=steps, values=values,
            wall_times=walls, purges=self.purges, file_version=self.file_version, records=self.records,
            truncated_at=truncated_at, hparams=self.hparams,
            non_scalar_tags=len(self.skipped - set(self.tag_codes)),
            first_wall_time=float(self.first.wall_time) if self.first is not None else None, fault=fault,
        )


def _narrow_steps(steps: np.ndarray) -> np.ndarray:
    if len(steps) and -(1 << 31) <= int(steps.min()) and int(steps.max()) < (1 << 31):
        return steps.astype(np.int32)
    return steps


def _parse_version(text: str) -> float:
    try:
        return float(text.split("brain.Event:")[-1])
    except ValueError:
        return -1.0  # as event_util.ParseFileVersion: unknown versions use the out-of-order rule


def _file_order(scalars: FileScalars) -> tuple[float, str]:
    # TensorBoard loads a folder's files in name order, whose `tfevents.<unix time>` encodes creation time; the
    # first record's wall time says the same with sub-second precision, and does not put `.10` before `.9`.
    name_time = _NAME_TIME.search(scalars.path.name)
    started = scalars.first_wall_time if scalars.first_wall_time is not None else (
        float(name_time.group(1)) if name_time else math.inf)
    return (started, scalars.path.name)


@dataclass
class _Series:
    """The points of one run folder or split sub-folder, files concatenated in load order."""

    split: str | None
    files: list[FileScalars]


def _assemble(series: _Series, notes: list[str], regressions: list[dict[str, Any]], base: Path
              ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate one directory's files, apply TensorBoard's purges and the cross-file restart rule."""
    index: dict[str, int] = {}
    code_parts, step_parts, value_parts, wall_parts, file_ids = [], [], [], [], []
    purges: list[tuple[int, int, int]] = []
    total = 0
    for number, scalars in enumerate(series.files):
        remap = np.array([index.setdefault(t, len(index)) for t in scalars.tags] or [0], dtype=np.int32)
        same = len(remap) == len(scalars.tags) and bool((remap == np.arange(len(remap))).all())
        code_parts.append(scalars.codes if same or not len(scalars) else remap[scalars.codes])
        purges.extend((total + before, step, int(remap[code]) if code >= 0 else -1)
                      for before, step, code in scalars.purges)
        step_parts.append(scalars.steps)
        value_parts.append(scalars.values)
        wall_parts.append(scalars.wall_times)
        if len(series.files) > 1:
            file_ids.append(np.full(len(scalars), number, dtype=np.int32))
        total += len(scalars)
    # one file (the common case, and a 25M-point one): its arrays as they are, no copies
    codes = _joined(code_parts) if code_parts else np.zeros(0, np.int32)
    steps = _joined(step_parts) if step_parts else np.zeros(0, np.int64)
    values = _joined(value_parts) if value_parts else np.zeros(0)
    walls = _joined(wall_parts) if wall_parts else np.zeros(0)
    owner = _joined(file_ids) if file_ids else np.zeros(len(steps), np.int8)
    tags = list(index)
    keep = _apply_purges(codes, steps, purges)
    if purges:
        dropped = int((~keep).sum())
        if dropped:
            notes.append(f"{dropped} point(s) dropped by TensorBoard's restart purge (SessionLog.START or "
                         f"out-of-order steps in a pre-v2 event file)")

    # A later file that resumes a tag at or below the last step seen for it replaces the overlapping points.
    found: list[dict[str, Any]] = []
    for number in range(1, len(series.files)):
        in_file = owner == number
        for code in np.unique(codes[in_file & keep]):
            mine = in_file & keep & (codes == code)
            first_step = int(steps[mine.argmax()])
            earlier = (owner < number) & keep & (codes == code)
            if not earlier.any():
                continue
            last_step = int(steps[earlier].max())
            if first_step > last_step:
                continue
            doomed = earlier & (steps >= first_step)
            keep &= ~doomed
            if first_step == last_step and doomed.sum() == 1 and _same_value(values[doomed][0], values[mine][0]):
                continue  # the last point logged again, as HF's final-evaluation writer does with train/epoch
            found.append({"tag": tags[code], "split": series.split, "file": _relative(series.files[number].path, base),
                          "from_step": last_step, "to_step": first_step, "dropped_points": int(doomed.sum())})
    regressions.extend(found)
    notes.extend(_regression_notes(found))
    if keep.all():
        return tags, codes, steps, values, walls
    return tags, codes[keep], steps[keep], values[keep], walls[keep]


def _regression_notes(regressions: list[dict[str, Any]]) -> list[str]:
    """One note per resumed file and step pair, naming its tags (a run logs dozens of tags per restart)."""
    by_restart: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for regression in regressions:
        key = (regression["file"], regression["from_step"], regression["to_step"])
        by_restart.setdefault(key, []).append(regression)
    notes = []
    for (where, last_step, first_step), group in by_restart.items():
        names = ", ".join(repr(r["tag"]) for r in group[:5]) + (f" and {len(group) - 5} more" if len(group) > 5 else "")
        dropped = sum(r["dropped_points"] for r in group)
        notes.append(f"step regression: {where} resumes at step {first_step} after an earlier file reached step "
                     f"{last_step} ({names}); {dropped} earlier point(s) at step >= {first_step} replaced "
                     f"(TensorBoard restart rule)")
    return notes


def _same_value(a: float, b: float) -> bool:
    return bool(a == b or (math.isnan(a) and math.isnan(b)))


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _epochs_by_step(tags: list[str], codes: np.ndarray, steps: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Epoch of each point: from an `epoch` scalar logged at the same step (Lightning, HF), or the step itself for
    Keras' `epoch_*` tags; NaN elsewhere; None when the run logs no epoch at all."""
    # Keras' TensorBoard callback logs `epoch_<metric>` with the epoch as its step
    keras_codes = [i for i, t in enumerate(tags) if t.startswith("epoch_")]
    epoch_codes = [i for i, t in enumerate(tags) if t.strip().lower() in ("epoch", "train/epoch")]
    if not keras_codes and not epoch_codes:
        return None
    epochs = np.full(len(steps), np.nan)
    if keras_codes:
        per_epoch = np.isin(codes, keras_codes)
        epochs[per_epoch] = steps[per_epoch]
    if not epoch_codes:
        return epochs
    marked = np.isin(codes, epoch_codes)
    epoch_steps, epoch_values = steps[marked], values[marked]
    order = np.argsort(epoch_steps, kind="stable")
    epoch_steps, epoch_values = epoch_steps[order], epoch_values[order]
    # the last epoch value logged at a step wins (Lightning logs `epoch` again at each validation)
    last = np.r_[epoch_steps[1:] != epoch_steps[:-1], True]
    epoch_steps, epoch_values = epoch_steps[last], epoch_values[last]
    where = np.searchsorted(epoch_steps, steps)
    found = where < len(epoch_steps)
    found[found] &= epoch_steps[where[found]] == steps[found]
    epochs[found] = epoch_values[where[found]]
    return epochs


class TensorBoardReader(Reader):
    format = "tensorboard"
    priority = 30

    def can_read(self, path: Path) -> bool:
        return "tfevents" in path.name

    def run_key(self, path: Path) -> Path:
        parent = path.parent
        if parent.name.lower() in SPLIT_DIRS or _TIMESTAMP_DIR.match(parent.name):
            return parent.parent
        return parent

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        paths = sorted(as_path(p) for p in paths)
        if not paths:
            raise ReadError(name, "no event files")
        root = self.run_key(paths[0])
        by_dir: dict[Path, _Series] = {}
        notes: list[str] = []
        metadata: dict[str, Any] = {"file_versions": {}, "step_regressions": []}
        hparams: dict[str, Any] = {}
        verify = options.verify if options is not None else None
        parsed = sorted((parse_event_file(path, verify=verify) for path in paths), key=_file_order)
        paths = [scalars.path for scalars in parsed]
        for scalars in parsed:
            path = scalars.path
            where = _relative(path, root)
            metadata["file_versions"][where] = scalars.file_version
            hparams.update(scalars.hparams)
            if scalars.truncated_at is not None:
                notes.append(f"{where}: last record cut short at byte {scalars.truncated_at} (file still being "
                             f"written?); read the {scalars.records} complete record(s) before it")
            if scalars.records == 0:
                notes.append(f"{where}: empty event file")
            directory = path.parent
            split = split_of(directory.name) if directory != root else None
            by_dir.setdefault(directory, _Series(split, [])).files.append(scalars)

        # names travel as codes into per-series name lists: no Python string per point (schema.py)
        metric_names: list[str] = []
        tag_names: list[str] = []
        metric_parts, step_parts, value_parts, wall_parts, epoch_parts, tag_parts = [], [], [], [], [], []
        for series in by_dir.values():
            tags, codes, steps, values, walls = _assemble(series, notes, metadata["step_regressions"], root)
            if not len(steps):
                continue
            metric_parts.append(codes + len(metric_names))
            tag_parts.append(codes + len(tag_names))
            metric_names.extend(canonical_metric(t, series.split, aliases) for t in tags)
            tag_names.extend(tags)
            step_parts.append(steps)
            value_parts.append(values)
            wall_parts.append(walls)
            epoch_parts.append(_epochs_by_step(tags, codes, steps, values))
        faults = [scalars.fault for scalars in parsed if scalars.fault is not None]
        if not step_parts:
            if faults:
                raise faults[0]
            if not any(scalars.records for scalars in parsed):
                raise ReadError(root if len(paths) > 1 else paths[0], "no scalar summaries (hparams/graph only)")
            # an HParams experiment config (TF2 `hp.hparams_config` at the logdir's root), a graph, histograms:
            # a valid file with nothing to check is a note on its run, not an unreadable input (which would fail
            # every check of a healthy experiment folder)
            kinds = "hparams" if hparams or any(s.non_scalar_tags for s in parsed) else "graph or other non-scalar"
            notes.append(f"no scalar summaries in {len(paths)} event file(s) ({kinds} only): nothing to check")
            metadata["non_scalar_tags"] = sum(scalars.non_scalar_tags for scalars in parsed)
            metadata["no_scalars"] = True
            return [Run(name=name, format=self.format, sources=[str(p) for p in paths], data=empty_frame(),
                        metadata=metadata, hparams=hparams, notes=notes)]
        data = frame_from_columns(
            metric_names, _joined(step_parts), _joined(value_parts), _joined(wall_parts),
            None if all(e is None for e in epoch_parts) else _joined(
                [np.full(len(v), np.nan, np.float32) if e is None else e for e, v in zip(epoch_parts, value_parts)]),
            tag_names, metric_codes=_joined(metric_parts), tag_codes=_joined(tag_parts))
        del step_parts, value_parts, wall_parts, epoch_parts, metric_parts, tag_parts
        metadata["non_scalar_tags"] = sum(scalars.non_scalar_tags for scalars in parsed)
        nonfinite = len(data) - int(np.isfinite(data["value"].to_numpy()).sum())
        if nonfinite:
            metadata["nonfinite_points"] = nonfinite
        runs = [Run(name=name, format=self.format, sources=[str(p) for p in paths], data=data,
                    metadata=metadata, hparams=hparams, notes=notes)]
        if faults:  # the points before the fault are checked; the file still counts as unreadable (exit 2)
            raise PartialReadError(faults[0].path, faults[0].message, runs, offset=faults[0].offset)
        return runs


READER = TensorBoardReader()

__all__ = ["READER", "TensorBoardReader", "FileScalars", "parse_event_file", "tensor_scalar", "split_of",
           "SPLIT_DIRS"]
