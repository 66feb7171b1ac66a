"""Read W&B's binary run log (`run-<id>.wandb`) without the wandb package.

The file is W&B's variant of the LevelDB log format (wandb `sdk/internal/datastore.py`, and the Go core that
writes it today):

- a 7-byte file header: ident ``:W&B``, magic ``0xBEE1`` (uint16 LE), version ``0``;
- then 32 KiB blocks (the header counts towards the first block) of chunks, each with a 7-byte chunk header
  ``crc: uint32 LE, length: uint16 LE, type: uint8`` (FULL=1, FIRST=2, MIDDLE=3, LAST=4); a record too long for
  the rest of a block is split into FIRST, MIDDLE..., LAST chunks; a block tail shorter than a chunk header is
  zero padding.
- Unlike LevelDB, the checksum is plain CRC-32 (zlib's, not CRC-32C) of the type byte followed by the data, and
  it is not masked. (Checked against files written by wandb 0.18, 0.19 and 0.31.)

Each record is a protobuf `wandb.Record`; a small wire-format decoder pulls out only the fields losslint uses.
Field numbers are from wandb's `wandb_internal.proto`.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator, TypeGuard

FILE_IDENT = b":W&B"
FILE_MAGIC = 0xBEE1
FILE_VERSION = 0
HEADER_LEN = 7
BLOCK_LEN = 32768

FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_CHUNK_HEADER = struct.Struct("<IHB")
# CRC-32 of the type byte alone: the running value each chunk's checksum continues from.
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (FULL, FIRST, MIDDLE, LAST)}

# wandb_internal.proto field numbers
RECORD_HISTORY, RECORD_SUMMARY, RECORD_CONFIG, RECORD_METRIC, RECORD_RUN, RECORD_EXIT = 2, 3, 5, 12, 17, 18
HISTORY_ITEM, HISTORY_STEP, HISTORY_STEP_NUM = 1, 2, 1
ITEM_KEY, ITEM_NESTED_KEY, ITEM_VALUE_JSON = 1, 2, 16
ITEM_BOOLEAN, ITEM_INTEGER, ITEM_NUMBER = 4, 5, 6
UPDATE_ITEM = 1  # SummaryRecord.update / ConfigRecord.update
RUN_ID, RUN_ENTITY, RUN_PROJECT, RUN_CONFIG, RUN_GROUP, RUN_JOB_TYPE, RUN_DISPLAY_NAME = 1, 2, 3, 4, 6, 7, 8
RUN_STARTING_STEP, RUN_START_TIME, RUN_RESUMED = 14, 17, 18
TIMESTAMP_SECONDS, TIMESTAMP_NANOS = 1, 2
EXIT_CODE, EXIT_RUNTIME = 1, 2
METRIC_NAME, METRIC_GLOB, METRIC_STEP_METRIC = 1, 2, 4


class FormatError(Exception):
    """Bad bytes at a file offset; the reader turns it into a `ReadError`."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass
class RecordLog:
    """The records of one file and what stopped the scan early, if anything."""

    records: list[tuple[int, bytes]]  # (file offset of the record's first chunk, protobuf bytes)
    truncated_at: int | None = None  # offset where an unfinished record (a run still writing, a cut copy) begins


def check_file_header(data: bytes) -> None:
    if not data:
        raise FormatError("empty file, not a W&B run log", 0)
    if len(data) < HEADER_LEN or data[:4] != FILE_IDENT:
        raise FormatError("not a W&B run log (the file does not start with ':W&B')", 0)
    magic, version = struct.unpack_from("<HB", data, 4)
    if magic != FILE_MAGIC:
        raise FormatError(f"not a W&B run log (header magic {magic:#06x}, expected {FILE_MAGIC:#06x})", 4)
    if version != FILE_VERSION:
        raise FormatError(f"unsupported W&B run log version {version} (losslint reads version {FILE_VERSION})", 6)


def split_records(data: bytes) -> RecordLog:
    """Reassemble the records of a whole file, verifying every chunk's checksum.

    A file that ends inside a record is a run still being written (or a copy cut short): the records before it
    are returned with `truncated_at` set. A checksum mismatch or a chunk out of sequence anywhere before the end
    is corruption and raises `FormatError` at that chunk's offset.
    """
    check_file_header(data)
    size = len(data)
    records: list[tuple[int, bytes]] = []
    pos = HEADER_LEN
    pending: list[bytes] = []
    pending_start = -1
    unpack = _CHUNK_HEADER.unpack_from
    crc32 = zlib.crc32
    while True:
        space = BLOCK_LEN - pos % BLOCK_LEN
        if space < HEADER_LEN:
            if data.count(0, pos, min(pos + space, size)) != min(space, size - pos):
                raise FormatError("non-zero bytes in a block's end padding: the file is corrupt", pos)
            pos += space
            space = BLOCK_LEN
        if pos >= size:
            break
        if pos + HEADER_LEN > size:
            return RecordLog(records, pending_start if pending else pos)
        checksum, length, kind = unpack(data, pos)
        if kind == 0 and length == 0 and checksum == 0:
            # zeros where a chunk header belongs: pre-allocated or unflushed space at the end of a live file
            if data.count(0, pos, size) == size - pos:
                return RecordLog(records, pending_start if pending else None)
            raise FormatError("zero chunk header followed by data: the file is corrupt", pos)
        start = pos + HEADER_LEN
        end = start + length
        if kind not in _TYPE_CRC:
            raise FormatError(f"invalid chunk type {kind}: the file is corrupt", pos)
        if end > pos + space:
            raise FormatError(f"chunk of {length} bytes runs past its 32 KiB block: the file is corrupt", pos)
        if end > size:
            return RecordLog(records, pending_start if pending else pos)
        if crc32(data[start:end], _TYPE_CRC[kind]) != checksum:
            raise FormatError("checksum mismatch: the file is corrupt", pos)
        if kind == FULL:
            if pending:
                raise FormatError("a record starts before the previous one ended: the file is corrupt", pos)
            records.append((pos, data[start:end]))
        elif kind == FIRST:
            if pending:
                raise FormatError("a record starts before the previous one ended: the file is corrupt", pos)
            pending, pending_start = [data[start:end]], pos
        else:
            if not pending:
                raise FormatError("a record continues without a start: the file is corrupt", pos)
            pending.append(data[start:end])
            if kind == LAST:
                records.append((pending_start, b"".join(pending)))
                pending = []
        pos = end
    return RecordLog(records, pending_start if pending else None)


# --- protobuf wire format -------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def iter_fields(buf: bytes, pos: int = 0, end: int | None = None) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field in buf[pos:end].

    Values: varint -> int; 64-bit and 32-bit -> the raw bytes; length-delimited -> (start, end) into buf.
    Raises ValueError on malformed input.
    """
    end = len(buf) if end is None else end
    value: Any
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            value = (pos, pos + length)
            pos += length
        elif wire == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end or number == 0:
            raise ValueError("field runs past the end of its message")
        yield number, wire, value


def _text(buf: bytes, span: tuple[int, int]) -> str:
    return buf[span[0]:span[1]].decode("utf-8", errors="replace")


def _message_fields(buf: bytes, span: tuple[int, int]) -> dict[int, list[Any]]:
    fields: dict[int, list[Any]] = {}
    for number, _wire, value in iter_fields(buf, span[0], span[1]):
        fields.setdefault(number, []).append(value)
    return fields


@dataclass
class Item:
    """One key/value of a history, summary or config record."""

    key: str
    value: Any  # decoded JSON (numbers, strings, dicts...); `None` for a JSON null or no value


def _decode_item(buf: bytes, span: tuple[int, int]) -> Item:
    key = ""
    nested: list[str] = []
    value: Any = None
    for number, wire, raw in iter_fields(buf, span[0], span[1]):
        if number == ITEM_KEY and wire == 2:
            key = _text(buf, raw)
        elif number == ITEM_NESTED_KEY and wire == 2:
            nested.append(_text(buf, raw))
        elif number == ITEM_VALUE_JSON and wire == 2:
            value = _loads(_text(buf, raw))
        elif number == ITEM_NUMBER and wire == 1:
            value = struct.unpack("<d", raw)[0]
        elif number == ITEM_INTEGER and wire == 0:
            value = (raw >> 1) ^ -(raw & 1)  # sint64 zig-zag
        elif number == ITEM_BOOLEAN and wire == 0:
            value = bool(raw)
    # W&B flattens a logged dict {"opt": {"lr": x}} into nested_key ["opt", "lr"]; its UI and API call it "opt.lr"
    return Item(".".join(nested) if nested else key, value)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)  # accepts W&B's NaN / Infinity / -Infinity tokens
    except ValueError:
        return text


@dataclass
class HistoryRow:
    offset: int
    step: int | None
    values: dict[str, Any]


@dataclass
class RunLog:
    """What one `.wandb` file says about its run."""

    history: list[HistoryRow] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    exit: dict[str, Any] | None = None
    # `wandb.define_metric(name or glob, step_metric=...)` in definition order: (name, glob, step metric)
    step_metrics: list[tuple[str, str, str]] = field(default_factory=list)
    truncated_at: int | None = None
    record_count: int = 0


# Tag bytes of the HistoryRecord / HistoryItem fields on the fast path (field number << 3 | wire type 2).
_TAG_ITEM, _TAG_STEP = 0x0A, 0x12  # HistoryRecord.item = 1, .step = 2
_TAG_KEY, _TAG_NESTED = 0x0A, 0x12  # HistoryItem.key = 1, .nested_key = 2; value_json = 16 is the two bytes 82 01


def _history_value(raw: bytes) -> Any:
    """value_json of a history item; numbers (NaN/Infinity included) without a JSON parse."""
    try:
        return float(raw)
    except ValueError:
        return _loads(raw.decode("utf-8", errors="replace"))


def _decode_history(buf: bytes, offset: int, keys: dict[bytes, str]) -> HistoryRow:
    """Decode a HistoryRecord. A hand-unrolled loop over the common shape (one-byte tags, one-byte lengths):
    history is the bulk of a run log and the generic field iterator is several times slower.
    Anything else goes through the generic path."""
    step = None
    values: dict[str, Any] = {}
    pos, end = 0, len(buf)
    while pos < end:
        tag = buf[pos]
        length = buf[pos + 1] if pos + 1 < end else 0x80
        if length & 0x80 or tag not in (_TAG_ITEM, _TAG_STEP):
            return _decode_history_generic(buf, offset)
        pos += 2
        stop = pos + length
        if stop > end:
            raise ValueError("field runs past the end of its message")
        if tag == _TAG_STEP:
            for sub, sub_wire, sub_raw in iter_fields(buf, pos, stop):
                if sub == HISTORY_STEP_NUM and sub_wire == 0:
                    step = sub_raw
            pos = stop
            continue
        key = None
        nested = None
        value = None
        p = pos
        while p < stop:
            t = buf[p]
            if t == _TAG_KEY or t == _TAG_NESTED:
                n = buf[p + 1]
                if n & 0x80:
                    break
                text = buf[p + 2:p + 2 + n]
                name = keys.get(text)
                if name is None:
                    name = keys[text] = text.decode("utf-8", errors="replace")
                if t == _TAG_KEY:
                    key = name
                else:
                    nested = [name] if nested is None else nested + [name]
                p += 2 + n
            elif t == 0x82 and buf[p + 1] == 0x01 and buf[p + 2] < 0x80:  # value_json, one-byte length
                n = buf[p + 2]
                raw = buf[p + 3:p + 3 + n]
                try:
                    value = float(raw)  # numbers, NaN and +/-Infinity without a JSON parse
                except ValueError:
                    value = _history_value(raw)
                p += 3 + n
            else:
                break
        if p != stop:  # a shape the fast loop does not handle (long value, typed value): decode this item fully
            item = _decode_item(buf, (pos, stop))
            values[item.key] = item.value
        else:
            values[".".join(nested) if nested else (key or "")] = value
        pos = stop
    return HistoryRow(offset, step, values)


def _decode_history_generic(buf: bytes, offset: int) -> HistoryRow:
    step = None
    values: dict[str, Any] = {}
    for number, wire, raw in iter_fields(buf):
        if number == HISTORY_ITEM and wire == 2:
            item = _decode_item(buf, raw)
            values[item.key] = item.value
        elif number == HISTORY_STEP and wire == 2:
            for sub, sub_wire, sub_raw in iter_fields(buf, raw[0], raw[1]):
                if sub == HISTORY_STEP_NUM and sub_wire == 0:
                    step = sub_raw
    return HistoryRow(offset, step, values)


def _apply_updates(buf: bytes, span: tuple[int, int], into: dict[str, Any]) -> None:
    for number, wire, raw in iter_fields(buf, span[0], span[1]):
        if number == UPDATE_ITEM and wire == 2:
            item = _decode_item(buf, raw)
            into[item.key] = item.value


def _decode_run(buf: bytes, span: tuple[int, int], log: RunLog) -> None:
    names = {RUN_ID: "run_id", RUN_ENTITY: "entity", RUN_PROJECT: "project", RUN_GROUP: "group",
             RUN_JOB_TYPE: "job_type", RUN_DISPLAY_NAME: "display_name"}
    for number, wire, raw in iter_fields(buf, span[0], span[1]):
        if number in names and wire == 2:
            text = _text(buf, raw)
            if text:
                log.run[names[number]] = text
        elif number == RUN_CONFIG and wire == 2:
            _apply_updates(buf, raw, log.config)
        elif number == RUN_STARTING_STEP and wire == 0 and raw:
            log.run["starting_step"] = raw
        elif number == RUN_RESUMED and wire == 0 and raw:
            log.run["resumed"] = True
        elif number == RUN_START_TIME and wire == 2:
            stamp = _message_fields(buf, raw)
            seconds = stamp.get(TIMESTAMP_SECONDS, [0])[0]
            nanos = stamp.get(TIMESTAMP_NANOS, [0])[0]
            log.run["start_time"] = seconds + nanos / 1e9


def _decode_exit(buf: bytes, span: tuple[int, int]) -> dict[str, Any]:
    fields = _message_fields(buf, span)
    code = fields.get(EXIT_CODE, [0])[0]
    if code >= 1 << 31:  # int32 sent as a 64-bit two's complement varint
        code -= 1 << 64
    return {"exit_code": code, "runtime": fields.get(EXIT_RUNTIME, [0])[0]}


def decode_run_log(data: bytes) -> RunLog:
    """Decode the records losslint needs. Raises FormatError (with the record's offset) on bad bytes."""
    split = split_records(data)
    log = RunLog(truncated_at=split.truncated_at, record_count=len(split.records))
    wanted = (RECORD_HISTORY, RECORD_SUMMARY, RECORD_CONFIG, RECORD_METRIC, RECORD_RUN, RECORD_EXIT)
    keys: dict[bytes, str] = {}
    for offset, buf in split.records:
        try:
            for number, wire, raw in iter_fields(buf):
                if number not in wanted or wire != 2:
                    continue
                if number == RECORD_HISTORY:
                    log.history.append(_decode_history(buf[raw[0]:raw[1]], offset, keys))
                elif number == RECORD_SUMMARY:
                    _apply_updates(buf, raw, log.summary)
                elif number == RECORD_CONFIG:
                    _apply_updates(buf, raw, log.config)
                elif number == RECORD_RUN:
                    _decode_run(buf, raw, log)
                elif number == RECORD_EXIT:
                    log.exit = _decode_exit(buf, raw)
                elif number == RECORD_METRIC:
                    fields = _message_fields(buf, raw)
                    text = {n: _text(buf, fields[n][0]) for n in (METRIC_NAME, METRIC_GLOB, METRIC_STEP_METRIC)
                            if n in fields}
                    if text.get(METRIC_STEP_METRIC):
                        log.step_metrics.append((text.get(METRIC_NAME, ""), text.get(METRIC_GLOB, ""),
                                                 text[METRIC_STEP_METRIC]))
        except (ValueError, IndexError, struct.error) as exc:
            raise FormatError(f"record is not a valid protobuf message ({exc})", offset) from None
    return log


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

