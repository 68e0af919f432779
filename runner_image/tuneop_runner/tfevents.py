"""TensorFlow event files read by hand: the TFRecord framing and the few protobuf fields
a metric needs, with the standard library only.

A TFRecord file is a run of records, each ``uint64 length`` (little-endian), the
masked CRC32C of those 8 bytes, ``length`` bytes of data and the masked CRC32C of
the data. Each record's data is an ``Event`` protobuf; of it this reads
``step`` (field 2, varint), ``summary`` (field 5) and in the summary each
``value`` (field 1): its ``tag`` (1), ``simple_value`` (2, float32) or ``tensor``
(8, a ``TensorProto``: a scalar float or double in ``float_val`` (5),
``double_val`` (6) or ``tensor_content`` (4)). Every other field is skipped by its
wire type. A writer still writing leaves a partial record at the end: ``read_records``
stops before it and says where, so a follower reads it once it is whole.

The file is untrusted: a record longer than ``MAX_RECORD_BYTES`` or whose CRC does not
match ends the reading of that file (``TFRecordError``), never a crash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "MAX_RECORD_BYTES",
    "Scalar",
    "TFRecordError",
    "crc32c",
    "masked_crc",
    "read_records",
    "scalars",
]

MAX_RECORD_BYTES = 16 * 1024 * 1024
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


class TFRecordError(ValueError):
    """A record that is not a TFRecord (bad length or CRC)."""


@dataclass(frozen=True)
class Scalar:
    """One scalar of an event: its tag, step and value."""

    tag: str
    step: int
    value: float


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's mask over CRC32C: rotate right by 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(data: bytes) -> tuple[list[bytes], int]:
    """The whole records at the start of ``data``, and the offset after the last one."""
    records: list[bytes] = []
    at = 0
    while len(data) - at >= 12:
        head = data[at : at + 8]
        (length,) = struct.unpack("<Q", head)
        (head_crc,) = struct.unpack("<I", data[at + 8 : at + 12])
        if head_crc != masked_crc(head):
            raise TFRecordError(f"record at byte {at}: length CRC does not match")
        if length > MAX_RECORD_BYTES:
            raise TFRecordError(f"record at byte {at}: {length} bytes, past the bound")
        end = at + 12 + length + 4
        if end > len(data):
            break  # still being written
        body = data[at + 12 : at + 12 + length]
        (body_crc,) = struct.unpack("<I", data[end - 4 : end])
        if body_crc != masked_crc(body):
            raise TFRecordError(f"record at byte {at}: data CRC does not match")
        records.append(body)
        at = end
    return records, at


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise TFRecordError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)``: a varint or fixed as an int, else bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if at + size > len(data):
                raise TFRecordError("truncated fixed field")
            yield number, wire, data[at : at + size]
            at += size
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise TFRecordError("truncated field")
            yield number, wire, data[at : at + size]
            at += size
        else:
            raise TFRecordError(f"wire type {wire} not read")


def _tensor_value(data: bytes) -> float | None:
    """A scalar float (dtype 1) or double (dtype 2) of a ``TensorProto``, else None."""
    dtype = 0
    values: list[float] = []
    content = b""
    for number, wire, value in _fields(data):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 4 and isinstance(value, bytes):
            content = value
        elif number in (5, 6) and isinstance(value, bytes):
            fmt = "<f" if number == 5 else "<d"
            if wire == 2:  # packed
                size = struct.calcsize(fmt)
                values += [
                    v for (v,) in struct.iter_unpack(fmt, value[: len(value) // size * size])
                ]
            else:
                values.append(struct.unpack(fmt, value)[0])
    if values:
        return values[0]
    if dtype == 1 and len(content) >= 4:
        return float(struct.unpack("<f", content[:4])[0])
    if dtype == 2 and len(content) >= 8:
        return float(struct.unpack("<d", content[:8])[0])
    return None


def _summary_value(data: bytes, step: int) -> Scalar | None:
    tag = ""
    found: float | None = None
    for number, _wire, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            tag = value.decode("utf-8", "replace")
        elif number == 2 and isinstance(value, bytes) and len(value) == 4:
            found = float(struct.unpack("<f", value)[0])
        elif number == 8 and isinstance(value, bytes):
            found = _tensor_value(value)
    return Scalar(tag, step, found) if tag and found is not None else None


def scalars(record: bytes) -> list[Scalar]:
    """The scalars of one ``Event`` record (none for a record without a summary)."""
    step = 0
    summary = b""
    for number, _wire, value in _fields(record):
        if number == 2 and isinstance(value, int):
            step = value if value < 2**63 else value - 2**64
        elif number == 5 and isinstance(value, bytes):
            summary = value
    out: list[Scalar] = []
    for number, _wire, value in _fields(summary):
        if number == 1 and isinstance(value, bytes):
            scalar = _summary_value(value, step)
            if scalar is not None:
                out.append(scalar)
    return out
