"""Re-encoding field-20201 DICOM members with changed header elements.

The phantom writer's slices are explicit VR little endian with a flat dataset (no
sequences). :func:`split_elements` takes one apart into its file meta bytes and its
dataset elements; :func:`join_elements` writes it back with
:func:`mimir.phantom.dicomwrite.element`, so a changed value gets a correct length.
"""

from __future__ import annotations

import struct

from mimir.phantom.dicomwrite import element
from mimir.reading.dicom import TAGS

_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}

#: the elements the reader uses, and the pixel data
TAG = {**TAGS, "PixelData": 0x7FE00010, "ImageOrientationPatient": 0x00200037,
       "PhotometricInterpretation": 0x00280004, "NumberOfFrames": 0x00280008,
       "HighBit": 0x00280102, "RescaleIntercept": 0x00281052, "RescaleSlope": 0x00281053,
       "PatientID": 0x00100020, "StudyInstanceUID": 0x0020000D}
#: value representations of the elements that are not US (for elements added anew)
VRS = {"ImagePositionPatient": "DS", "PixelSpacing": "DS", "SeriesNumber": "IS",
       "PixelData": "OW", "ImageOrientationPatient": "DS", "PhotometricInterpretation": "CS",
       "NumberOfFrames": "IS", "RescaleSlope": "DS", "RescaleIntercept": "DS",
       "PatientID": "LO", "StudyInstanceUID": "UI", "SeriesDescription": "LO",
       "SeriesTime": "TM", "SeriesInstanceUID": "UI", "InstanceNumber": "IS"}


def split_elements(buf: bytes) -> tuple[bytes, list[list]]:
    """File meta (preamble, ``DICM``, group 2) and the dataset's elements.

    Returns
    -------
    meta : bytes
    elements : list of [tag, vr, raw value bytes]
    """
    pos = 132
    elems: list[list] = []
    meta_end = None
    while pos + 8 <= len(buf):
        group, el = struct.unpack_from("<HH", buf, pos)
        if group != 0x0002 and meta_end is None:
            meta_end = pos
        vr = buf[pos + 4:pos + 6]
        if vr in _LONG:
            (length,) = struct.unpack_from("<I", buf, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", buf, pos + 6)
            start = pos + 8
        if meta_end is not None:
            elems.append([(group << 16) | el, vr.decode("ascii"), buf[start:start + length]])
        pos = start + length
    return buf[:meta_end], elems


def raw_element(tag: int, vr: str, raw: bytes) -> bytes:
    """One element with its value exactly as given (odd lengths kept: hostile files)."""
    group, el = tag >> 16, tag & 0xFFFF
    if vr.encode() in _LONG:
        return struct.pack("<HH2sHI", group, el, vr.encode(), 0, len(raw)) + raw
    return struct.pack("<HH2sH", group, el, vr.encode(), len(raw)) + raw


def join_elements(meta: bytes, elems: list[list]) -> bytes:
    """The file of ``meta`` and ``elems`` (values re-padded to even lengths as DICOM
    requires, lengths recomputed), except pixel data, which is written as it is."""
    return meta + b"".join((raw_element if tag == TAG["PixelData"] else element)(
        tag, vr, bytes(raw)) for tag, vr, raw in elems)


def get_value(buf: bytes, name: str) -> bytes | None:
    """Raw value of a named element (None when absent)."""
    _, elems = split_elements(buf)
    tag = TAG[name]
    return next((raw for t, _, raw in elems if t == tag), None)


def text_value(buf: bytes, name: str) -> str:
    """A string element's value, without padding."""
    raw = get_value(buf, name)
    return "" if raw is None else raw.decode("latin-1").strip(" \x00")


def us_value(buf: bytes, name: str) -> int:
    """An unsigned short element's value."""
    return struct.unpack("<H", get_value(buf, name)[:2])[0]


def set_value(buf: bytes, name: str, raw: bytes | str | int | None) -> bytes:
    """``buf`` with one element's value replaced (None: the element removed).

    ``raw`` is bytes (the value as stored), a str (text) or an int (US).
    """
    meta, elems = split_elements(buf)
    tag = TAG[name]
    if isinstance(raw, int):
        raw = struct.pack("<H", raw & 0xFFFF)
    elif isinstance(raw, str):
        raw = raw.encode("latin-1")
    out = [e for e in elems if e[0] != tag]
    if raw is not None:
        vr = next((v for t, v, _ in elems if t == tag), None)
        if vr is None:
            vr = VRS.get(name, "US")
        out.append([tag, vr, raw])
        out.sort(key=lambda e: e[0])
    return join_elements(meta, out)


def strip_preamble(buf: bytes) -> bytes:
    """The file without its 128-byte preamble and ``DICM`` (only pydicom reads it)."""
    return buf[132:]
