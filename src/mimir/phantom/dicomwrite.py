"""A minimal DICOM writer for phantom slices (explicit VR little endian).

Writes the 128-byte preamble, ``DICM``, the file meta group and a flat dataset of the
tags UK Biobank field-20201 readers use, in ascending tag order, followed by uint16
pixel data. Written by hand (rather than through pydicom) because a phantom zip holds
about 1,300 slices and must be made in a few seconds; the test-suite reads the files
back with pydicom.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1020.1"
_LONG = {"OB", "OW", "OF", "SQ", "UT", "UN"}


def _pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB") else b" "
    return value


def element(tag: int, vr: str, value) -> bytes:
    """Encode one element (explicit VR little endian).

    ``value`` is bytes, a str, an int (US/UL) or a sequence of numbers (DS/IS, joined
    with backslashes).
    """
    if isinstance(value, bytes):
        raw = value
    elif vr == "US":
        raw = struct.pack("<H", value)
    elif vr == "UL":
        raw = struct.pack("<I", value)
    elif isinstance(value, (list, tuple)):
        raw = "\\".join(str(v) for v in value).encode("ascii")
    else:
        raw = str(value).encode("ascii")
    raw = _pad(raw, vr)
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in _LONG:
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(raw)) + raw
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(raw)) + raw


def file_meta(sop_instance_uid: str) -> bytes:
    """Preamble, ``DICM`` and the file meta information group."""
    body = b"".join([
        element(0x00020001, "OB", b"\x00\x01"),
        element(0x00020002, "UI", MR_IMAGE_STORAGE),
        element(0x00020003, "UI", sop_instance_uid),
        element(0x00020010, "UI", EXPLICIT_VR_LE),
        element(0x00020012, "UI", IMPLEMENTATION_UID),
        element(0x00020013, "SH", "MIMIR_PHANTOM"),
    ])
    return b"\x00" * 128 + b"DICM" + element(0x00020000, "UL", len(body)) + body


def encode_slice(header: list[tuple[int, str, Any]], pixels: np.ndarray,
                 sop_instance_uid: str) -> bytes:
    """One DICOM file: meta, the header elements (sorted by tag) and uint16 pixels.

    Parameters
    ----------
    header : list of (tag, VR, value)
        Dataset elements other than the SOP instance UID and pixel data.
    pixels : ndarray, uint16, shape (rows, cols)
    sop_instance_uid : str
    """
    elems = list(header) + [(0x00080018, "UI", sop_instance_uid)]
    elems.sort(key=lambda e: e[0])
    data = b"".join(element(t, vr, v) for t, vr, v in elems)
    px = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return file_meta(sop_instance_uid) + data + element(0x7FE00010, "OW", px)
