"""TFRecord framing and its masked CRC-32C, as TensorFlow writes event files.

Each record is ``uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)``, all
little-endian (tensorflow/core/lib/io/record_writer.cc). The mask is ``((crc >> 15) | (crc << 17)) + 0xa282ead8``.

Whether records are checked: on by default only when a C CRC-32C implementation is importable (`google_crc32c` built
with its C extension, or the `crc32c` package); otherwise off, because the pure-Python fallback for long records is
~100x slower. `LOSSLINT_VERIFY_CRC=1` forces checking on, `=0` off; `--verify` (`ReadOptions(verify=True)`) forces
it on.
How: the many short records of a scalar log are checked together with numpy (CRC-32C is affine in the message bits,
so a record of fixed length is one table lookup per byte position over all records at once); long records (graphs,
histograms) one call each to the C function, or to the pure-Python one when checking was forced without C.
"""
from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

HEADER = struct.Struct("<QI")
HEADER_SIZE = HEADER.size  # 12: length + masked crc of length
FOOTER_SIZE = 4
_UINT32 = struct.Struct("<I")
_UINT64 = struct.Struct("<Q")
_MASK_DELTA = 0xA282EAD8
# The largest record length that can be right: a record holds one serialized protobuf (an Event), and protobuf
# messages cannot exceed 2 GiB. A longer length field, even with a valid length checksum, is corruption.
MAX_RECORD_BYTES = (1 << 31) - 1
VERIFY_ENV = "LOSSLINT_VERIFY_CRC"


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # reflected Castagnoli polynomial
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _c_crc32c() -> Callable[[bytes], int] | None:
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", None) == "c":
            return google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c  # type: ignore[import-not-found]

        return crc32c.crc32c
    except ImportError:
        return None


C_CRC32C = _c_crc32c()


def mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return mask((C_CRC32C or crc32c_python)(data))


def checksum_function(verify: bool | None = None) -> Callable[[bytes], int] | None:
    """The raw CRC-32C function to check records with, or None when checking is off (see module docstring)."""
    if verify is None:
        setting = os.environ.get(VERIFY_ENV, "").strip().lower()
        if setting in ("1", "true", "yes", "on"):
            verify = True
        elif setting in ("0", "false", "no", "off"):
            verify = False
        else:
            verify = C_CRC32C is not None
    if not verify:
        return None
    return C_CRC32C or crc32c_python


class RecordError(Exception):
    """A record that is not valid TFRecord framing; `offset` is the byte offset of the record's start."""

    def __init__(self, offset: int, message: str):
        self.offset = offset
        self.message = message
        super().__init__(f"offset {offset}: {message}")


@dataclass
class Framing:
    """Where the complete records of a file are. `offsets` are record starts, `lengths` payload sizes.

    A record cut short at the very end (a file still being written) ends the framing and sets `truncated_at`; it is
    told apart from garbage by its length CRC, which is checked for that one record even when checking is off.
    Framing that runs into garbage stops there and keeps the problem in `error` so that a checksum failure earlier
    in the file, the real first fault, can be reported instead. A length field that cannot be right is such an
    error, not a record being written: longer than `MAX_RECORD_BYTES`, or past the end of the file while complete
    records follow it (a corrupt length in the middle of the file).
    """

    offsets: np.ndarray
    lengths: np.ndarray
    truncated_at: int | None = None
    error: RecordError | None = None

    @property
    def payload_starts(self) -> np.ndarray:
        return self.offsets + HEADER_SIZE

    def __len__(self) -> int:
        return len(self.offsets)


# Below this size walking the length fields costs less than the fixed overhead of the vectorised shortcut.
_SHORTCUT_MIN_BYTES = 1 << 18


def frame_records(data: bytes) -> Framing:
    """Find the records of `data`: all at once when the file is big and clean, else by walking the length fields."""
    framing = _frame_at_once(data) if len(data) >= _SHORTCUT_MIN_BYTES else None
    return framing or _frame_by_walking(data)


_FRAME_CHUNK = 1 << 22
_SMALL_LENGTH = np.uint64(1 << 24)  # lengths whose top five bytes are zero
# Every writer sets an Event's wall_time, field 1 (fixed64), so an event record's payload starts with this tag byte.
# Only a filter: a record that starts otherwise breaks the chain, and the framing falls back to walking.
_EVENT_FIRST_BYTE = 0x09


def _frame_at_once(data: bytes) -> Framing | None:
    """Framing without a Python step per record, or None when the shortcut does not apply.

    A record start is a byte position whose 8-byte length has its top five bytes zero (records under 16 MiB), whose
    payload starts like an Event's, and whose length CRC matches the next 4 bytes; a false match inside a payload
    has odds of 2**-32. If the matches,
    each followed by its record, chain from byte 0 exactly to the end of the file (or to a last record cut short),
    they are the records that walking the length fields would find; anything else falls back to walking.
    """
    size = len(data)
    if size < 64:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    last = size - HEADER_SIZE - FOOTER_SIZE  # the last position a complete empty record could start at
    words = _unaligned_words(buf, "<u8")
    found = []
    for lo in range(0, last + 1, _FRAME_CHUNK):
        hi = min(lo + _FRAME_CHUNK, last + 1)
        # one pass over the bytes for the payload's first byte, then the length test on those positions only
        maybe = np.flatnonzero(buf[lo + HEADER_SIZE:hi + HEADER_SIZE] == _EVENT_FIRST_BYTE) + lo
        found.append(maybe[words[maybe] < _SMALL_LENGTH])
    positions = np.concatenate(found)
    if not len(positions) or positions[0] != 0:
        return None
    following = positions + HEADER_SIZE + FOOTER_SIZE + _gather_u64(buf, positions).astype(np.int64)
    # cheap thinning before the CRC: a record is followed by the end of the file (or overruns it, cut short) or by
    # another record, whose length has zero top bytes too
    after = np.minimum(following, size - 8)
    chained = (following >= size - 8) | ((buf[after + 7] == 0) & (buf[after + 4] == 0))
    positions, following = positions[chained], following[chained]
    lengths = following - positions - HEADER_SIZE - FOOTER_SIZE
    keep = _length_checksums(lengths, crc32c_numpy) == _gather_u32(buf, positions + 8)
    offsets, following = positions[keep], following[keep]
    if not len(offsets) or offsets[0] != 0 or np.any(following[:-1] != offsets[1:]):
        return None
    lengths = following - offsets - HEADER_SIZE - FOOTER_SIZE
    end = int(following[-1])
    if end == size:
        return Framing(offsets, lengths)
    if end > size:  # the last record is cut short; its length CRC matched, so it is a record being written
        return Framing(offsets[:-1], lengths[:-1], truncated_at=int(offsets[-1]))
    if size - end < HEADER_SIZE:  # a header cut short after the last record: as walking would say, being written
        return Framing(offsets, lengths, truncated_at=end)
    return None


def _frame_by_walking(data: bytes) -> Framing:
    """Walk the length fields of `data` one record at a time."""
    unpack = _UINT64.unpack_from
    size = len(data)
    offsets: list[int] = []
    add = offsets.append
    offset = 0
    truncated_at = None
    error = None
    limit = size - HEADER_SIZE - FOOTER_SIZE
    while offset <= limit:
        length = unpack(data, offset)[0]
        end = offset + HEADER_SIZE + FOOTER_SIZE + length
        if end > size or length > MAX_RECORD_BYTES:
            break
        add(offset)
        offset = end
    if offset < size:
        if size - offset < HEADER_SIZE:
            truncated_at = offset
        else:
            length, length_crc = HEADER.unpack_from(data, offset)
            if masked_crc32c(data[offset:offset + 8]) != length_crc:
                error = RecordError(offset, "corrupt record header (length checksum mismatch)")
            elif length > MAX_RECORD_BYTES:
                error = RecordError(offset, f"impossible record length {length} (a record holds at most "
                                            f"{MAX_RECORD_BYTES} bytes, the protobuf limit)")
            elif offset + HEADER_SIZE + FOOTER_SIZE + length > size and _records_follow(data, offset + HEADER_SIZE):
                error = RecordError(offset, f"record length {length} runs past the end of the file ({size} bytes) "
                                            "but complete records follow it (a corrupt length field)")
            else:
                truncated_at = offset
    starts = np.asarray(offsets, dtype=np.int64)
    buf = np.frombuffer(data, dtype=np.uint8)
    lengths = _gather_u64(buf, starts).astype(np.int64) if len(starts) else np.zeros(0, np.int64)
    return Framing(starts, lengths, truncated_at, error)


def _records_follow(data: bytes, start: int, chunk: int = 1 << 20) -> bool:
    """Does a complete record (a length that fits in the file and its matching length checksum) start anywhere at or
    after `start`? Tells a corrupt length in the middle of a file from a last record still being written."""
    size = len(data)
    last = size - HEADER_SIZE - FOOTER_SIZE
    if start > last:
        return False
    buf = np.frombuffer(data, dtype=np.uint8)
    words = _unaligned_words(buf, "<u8")
    for lo in range(start, last + 1, chunk):
        positions = np.arange(lo, min(lo + chunk, last + 1), dtype=np.int64)
        lengths = words[positions]
        fits = lengths <= (last - positions).astype(np.uint64)
        positions, lengths = positions[fits], lengths[fits].astype(np.int64)
        if len(positions) and bool((_length_checksums(lengths, crc32c_numpy) == _gather_u32(buf, positions + 8)).any()):
            return True
    return False


def _gather_u64(buf: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return _unaligned_words(buf, "<u8")[positions]


def _gather_u32(buf: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return _unaligned_words(buf, "<u4")[positions]


def _unaligned_words(buf: np.ndarray, dtype: str) -> np.ndarray:
    """The little-endian word starting at every byte of `buf`, as a read-only view with a one-byte stride: gathering
    from it takes whole words at once, ~2x faster than gathering rows of a sliding window of bytes."""
    size = np.dtype(dtype).itemsize
    words = np.ndarray(shape=(max(len(buf) - size + 1, 0),), dtype=dtype, buffer=buf, strides=(1,))
    words.flags.writeable = False
    return words


_NP_TABLE = np.array(_TABLE, dtype=np.uint32)
# Records up to this size are checksummed many at a time with numpy; longer ones (graphs, histograms) one call each.
_VECTOR_MAX_LENGTH = 512
_VECTOR_MIN_COUNT = 64
_VECTOR_CHUNK = 1 << 15
# Groups at least this big and records at most this long are checksummed two bytes per table lookup; the tables take
# length * 128 KiB (8 MiB at the limit), so only a few are cached.
_PAIR_MIN_COUNT = 1 << 14
_PAIR_MAX_LENGTH = 64


@functools.lru_cache(maxsize=256)
def _position_tables(length: int) -> tuple[np.ndarray, int]:
    """CRC-32C is affine in the message bits: crc(x) = crc(zeros) ^ XOR_k table[k][x[k]] for a fixed length.

    Row k holds what byte value b at position k contributes (b followed by length-k-1 zero bytes, no init/xorout).
    """
    tables = np.empty((length, 256), dtype=np.uint32)
    row = _NP_TABLE.copy()
    for position in range(length - 1, -1, -1):
        tables[position] = row
        row = _NP_TABLE[row & 0xFF] ^ (row >> 8)  # push one more zero byte through the register
    tables.setflags(write=False)  # cached and shared
    return tables, crc32c_python(bytes(length))


@functools.lru_cache(maxsize=4)
def _pair_tables(length: int) -> np.ndarray:
    """`_position_tables` merged two positions at a time: row j, at index b0 | b1 << 8, is what bytes b0, b1 at
    positions 2j, 2j+1 contribute together (the contributions XOR, so this halves the lookups)."""
    tables, _ = _position_tables(length)
    pairs = (tables[0:length - 1:2, None, :] ^ tables[1:length:2, :, None]).reshape(length // 2, 1 << 16)
    pairs.setflags(write=False)
    return pairs


def _crc32c_rows(rows: np.ndarray, tables: np.ndarray, zeros_crc: int, pairs: np.ndarray | None = None) -> np.ndarray:
    """Raw CRC-32C of each row of a (n, length) uint8 matrix (`pairs`: `_pair_tables(length)`, if at hand)."""
    crc = np.full(rows.shape[0], zeros_crc, dtype=np.uint32)
    length = rows.shape[1]
    if pairs is not None:
        paired = length - length % 2
        words = np.ascontiguousarray(rows[:, :paired]).view("<u2")
        for table, column in zip(pairs, np.ascontiguousarray(words.T)):
            crc ^= table.take(column)
        tables, rows = tables[paired:], rows[:, paired:]
    for table, column in zip(tables, np.ascontiguousarray(rows.T)):
        crc ^= table.take(column)
    return crc


def _mask_array(crc: np.ndarray) -> np.ndarray:
    wide = crc.astype(np.uint64)
    return ((((wide >> 15) | (wide << 17)) + _MASK_DELTA) & 0xFFFFFFFF).astype(np.uint32)


def _checksums(data: bytes, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
               crc: Callable[[bytes], int]) -> np.ndarray:
    """Masked CRC-32C of `data[start:start+length]` for every record."""
    out = np.zeros(len(starts), dtype=np.uint32)
    if not len(starts):
        return out
    for length, members in _groups(lengths):
        if length == 0:
            out[members] = mask(crc(b""))
        elif length <= _VECTOR_MAX_LENGTH and len(members) >= _VECTOR_MIN_COUNT:
            windows = np.lib.stride_tricks.sliding_window_view(buf, length)
            tables, zeros_crc = _position_tables(length)
            pairs = _pair_tables(length) if len(members) >= _PAIR_MIN_COUNT and length <= _PAIR_MAX_LENGTH else None
            for chunk in range(0, len(members), _VECTOR_CHUNK):
                part = members[chunk:chunk + _VECTOR_CHUNK]
                out[part] = _mask_array(_crc32c_rows(windows[starts[part]], tables, zeros_crc, pairs))
        else:
            out[members] = [mask(crc(data[s:s + length])) for s in starts[members].tolist()]
    return out


def _length_checksums(lengths: np.ndarray, crc: Callable[[Any], Any]) -> np.ndarray:
    """The masked CRC of each record's 8-byte length field: one computation per distinct length."""
    which, distinct = pd.factorize(lengths)
    if crc is crc32c_numpy:
        table = _mask_array(crc32c_numpy(np.ascontiguousarray(distinct, dtype="<u8").view(np.uint8).reshape(-1, 8)))
    else:
        table = np.array([mask(crc(_UINT64.pack(int(n)))) for n in distinct], dtype=np.uint32)
    return table[which]


def crc32c_numpy(rows: np.ndarray) -> np.ndarray:
    """Raw CRC-32C of each row of a (n, length) uint8 matrix (a sentinel `crc` for `_length_checksums` too)."""
    tables, zeros_crc = _position_tables(rows.shape[1])
    return _crc32c_rows(rows, tables, zeros_crc)


def _groups(lengths: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(length, indices) per distinct length; hashing, not sorting, since a file has few distinct lengths."""
    which, distinct = pd.factorize(lengths)
    order = np.argsort(which.astype(np.int32 if len(distinct) > 32767 else np.int16), kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(which[order]) != 0, True])
    return [(int(distinct[which[order[lo]]]), order[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]


def verify_records(data: bytes, framing: Framing, crc: Callable[[bytes], int]) -> None:
    """Raise RecordError at the first record whose length or data checksum is wrong."""
    if not len(framing):
        return
    buf = np.frombuffer(data, dtype=np.uint8)
    offsets, lengths = framing.offsets, framing.lengths
    header_ok = _length_checksums(lengths, crc) == _gather_u32(buf, offsets + 8)
    data_ok = _checksums(data, buf, offsets + HEADER_SIZE, lengths, crc) == _gather_u32(
        buf, offsets + HEADER_SIZE + lengths)
    bad = np.flatnonzero(~(header_ok & data_ok))
    if len(bad):
        first = int(bad[0])
        what = "length" if not header_ok[first] else "data"
        raise RecordError(int(offsets[first]), f"corrupt record ({what} checksum mismatch)")


def frame(payload: bytes) -> bytes:
    """One TFRecord around `payload` (used by tests and tools that write event files)."""
    header = struct.pack("<Q", len(payload))
    return header + _UINT32.pack(masked_crc32c(header)) + payload + _UINT32.pack(masked_crc32c(payload))
