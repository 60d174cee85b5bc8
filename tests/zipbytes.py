"""Byte-level access to a zip's structures, for tests that damage zips on purpose."""

from __future__ import annotations

import struct


def central_entry(data: bytes | bytearray, member: str) -> int:
    """Offset of ``member``'s central directory entry in the zip's bytes."""
    i = 0
    while True:
        i = data.index(b"PK\x01\x02", i)
        n = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46:i + 46 + n].decode() == member:
            return i
        i += 4
