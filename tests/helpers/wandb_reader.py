"""Read back an offline W&B run file (``run-<id>.wandb``) without network or wandb internals.

The file is a LevelDB-style log (7-byte file header, 32 KiB blocks, records with a
``<crc32, length, type>`` header, split across blocks as FIRST/MIDDLE/LAST) of
protobuf ``Record`` messages.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
HEADER = struct.Struct("<IHB")  # checksum, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(path: Path):
    data = Path(path).read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path} is not a W&B run file")
    pos, pending = 7, b""
    while pos + HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER.size:
            pos += room  # block trailer padding
            continue
        _crc, length, kind = HEADER.unpack_from(data, pos)
        pos += HEADER.size
        chunk = data[pos : pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        elif kind == 0 and length == 0:
            break


def read_history(path: Path) -> tuple[list[dict], dict]:
    """(history rows, final summary) of an offline run file."""
    from wandb.proto import wandb_internal_pb2 as pb

    rows: list[dict] = []
    summary: dict = {}
    for payload in _payloads(path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            rows.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
    return rows, summary


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)
