"""A small, fast DICOM reader for the tags MIMIR needs, with a pydicom fallback.

Field-20201 slices are uncompressed little-endian files of a few dozen elements. The
fast reader walks the element list of explicit- or implicit-VR little-endian files
(sequences of defined or undefined length are skipped, nesting is bounded), keeps the
handful of tags MIMIR uses and locates the pixel data, which is then viewed with
``numpy.frombuffer``. Anything it does not recognise (no preamble, big endian,
compressed or deflated transfer syntaxes, odd pixel layouts) is handed to
``pydicom.dcmread``; a file neither can read fails its subject as ``corrupt dicom``.

Before pixels are decoded, both readers apply the same checks
(:func:`mimir.reading.checks.check_slice`): the pixel layout of field 20201, a pixel
data length of exactly Rows x Columns x BitsAllocated / 8 bytes, finite, plausible
positions and pixel spacings, and the header fields that could change the image's
meaning (:mod:`mimir.reading.headers`: orientation, photometric interpretation, frames,
high bit, rescale; kept as the text stored, so both readers see the same values).
Only uint16 pixels are decoded.

Values are converted the way pydicom presents them: DS strings through Python
``float`` (then float32 where the spec says so), IS through ``int``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from mimir.errors import SubjectError
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.reading.checks import check_pixel_values, check_slice

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

_PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT",
             b"SV", b"UV"}
_MAX_DEPTH = 12

TAGS = {
    "SeriesNumber": 0x00200011,
    "SeriesDescription": 0x0008103E,
    "ImagePositionPatient": 0x00200032,
    "PixelSpacing": 0x00280030,
    "SeriesTime": 0x00080031,
    "SeriesInstanceUID": 0x0020000E,
    "InstanceNumber": 0x00200013,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "SamplesPerPixel": 0x00280002,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "PixelRepresentation": 0x00280103,
    "ImageOrientationPatient": 0x00200037,
    "PhotometricInterpretation": 0x00280004,
    "NumberOfFrames": 0x00280008,
    "HighBit": 0x00280102,
    "RescaleIntercept": 0x00281052,
    "RescaleSlope": 0x00281053,
    "PatientID": 0x00100020,
    "StudyInstanceUID": 0x0020000D,
}
#: Header fields kept as their stored text (checked by mimir.reading.headers).
TEXT_FIELDS = {"orientation": "ImageOrientationPatient",
               "photometric": "PhotometricInterpretation", "frames": "NumberOfFrames",
               "rescale_slope": "RescaleSlope", "rescale_intercept": "RescaleIntercept",
               "patient_id": "PatientID", "study_uid": "StudyInstanceUID"}


@dataclass
class DicomSlice:
    """The facts MIMIR reads from one slice.

    ``pixels`` (uint16, native byte order, read-only where it views the file's bytes)
    is None when only the header was read. The pixel layout fields are None
    where the header lacks them; ``pixel_bytes`` is the length of the pixel data (None
    when unknown: header-only reads, encapsulated pixel data). The fields of
    :data:`TEXT_FIELDS` hold the stored text (None where absent), read with the pixels.
    """

    series_number: int
    description: str
    position: np.ndarray  # float32 (3,)
    spacing: np.ndarray  # float32 (2,)
    series_time: str
    series_uid: str
    instance_number: int | None
    rows: int
    cols: int
    pixels: np.ndarray | None = None
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int | None = None
    pixel_bytes: int | None = None
    high_bit: int | None = None
    orientation: str | None = None
    photometric: str | None = None
    frames: str | None = None
    rescale_slope: str | None = None
    rescale_intercept: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None


class _Unsupported(Exception):
    """Raised inside the fast reader: let pydicom try."""


#: element headers read as one little-endian uint32 key, (element << 16) | group (the
#: tag's two halves swapped, which saves shifting them together per element): explicit
#: VR (key, VR, 16-bit length), implicit VR (key, 32-bit length), a 32-bit length
_EXPLICIT_HEAD = struct.Struct("<I2sH")
_IMPLICIT_HEAD = struct.Struct("<II")
_U32 = struct.Struct("<I")


def _key(tag: int) -> int:
    """The swapped key of a (group << 16) | element tag."""
    return ((tag & 0xFFFF) << 16) | (tag >> 16)


_PIXEL_KEY = _key(_PIXEL_DATA)
_ITEM_KEY, _SEQ_END_KEY = _key(_ITEM), _key(_SEQ_END)
#: the keys that end a walk: item and sequence delimiters, and the pixel data
_STOP_KEYS = frozenset((_key(_ITEM_END), _SEQ_END_KEY, _PIXEL_KEY))
#: swapped key -> tag of the elements kept
_WANTED_KEYS = {_key(t): t for t in TAGS.values()}


def _walk(buf: bytes | bytearray, pos: int, end: int, explicit: bool, out: dict, depth: int,
          stop_at_pixels: bool = True) -> int:
    """Walk elements from ``pos`` to ``end``; store wanted values in ``out`` (by tag).

    Returns the position after the last element read (after a delimiter when nested).
    """
    if depth > _MAX_DEPTH:
        raise _Unsupported("sequences nested too deeply")
    head = _EXPLICIT_HEAD.unpack_from if explicit else _IMPLICIT_HEAD.unpack_from
    u32 = _U32.unpack_from
    long_vrs, stop_keys = _LONG_VRS, _STOP_KEYS
    wanted = _WANTED_KEYS if depth == 0 else {}
    while pos + 8 <= end:
        if explicit:
            key, vr, length = head(buf, pos)
            if key & 0xFFFF == 0xFFFE:  # items and delimiters carry no VR
                vr = None
                (length,) = u32(buf, pos + 4)
                pos += 8
            elif vr in long_vrs:
                if pos + 12 > end:
                    raise _Unsupported("truncated element header")
                (length,) = u32(buf, pos + 8)
                pos += 12
            else:
                pos += 8
        else:
            key, length = head(buf, pos)
            vr = None
            pos += 8
        if key in stop_keys:
            if key != _PIXEL_KEY:
                return pos  # an item or sequence delimiter
            if depth == 0:
                if length == _UNDEFINED:
                    raise _Unsupported("encapsulated (compressed) pixel data")
                out["_pixels"] = (pos, length)
                if stop_at_pixels:
                    return pos
                pos += length
                continue
        if length == _UNDEFINED:
            # a sequence (or UN holding one) of undefined length: skip its items
            pos = _skip_sequence(buf, pos, end, explicit and vr != b"UN", depth + 1)
            continue
        if pos + length > end:
            raise _Unsupported("element runs past the end of the file")
        tag = wanted.get(key)
        if tag is not None:
            out[tag] = buf[pos:pos + length]
        pos += length
    return pos


def _skip_sequence(buf: bytes | bytearray, pos: int, end: int, explicit: bool, depth: int) -> int:
    """Skip the items of an undefined-length sequence; return the position after it."""
    head = _IMPLICIT_HEAD.unpack_from  # items and delimiters: (key, 32-bit length)
    while pos + 8 <= end:
        key, length = head(buf, pos)
        pos += 8
        if key == _SEQ_END_KEY:
            return pos
        if key != _ITEM_KEY:
            raise _Unsupported("unexpected element inside a sequence")
        if length == _UNDEFINED:
            pos = _walk(buf, pos, end, explicit, {}, depth + 1)
        else:
            pos += length
    raise _Unsupported("sequence not terminated")


def _text(raw: bytes | bytearray | None) -> str:
    if raw is None:
        return ""
    return raw.decode("latin-1").strip(" \x00")


def _ds_list(raw: bytes | bytearray | None) -> list[float]:
    s = _text(raw)
    if not s:
        return []
    return [float(v) for v in s.split("\\")]


def _us(raw: bytes | bytearray | None) -> int | None:
    if raw is None or len(raw) < 2:
        return None
    return struct.unpack_from("<H", raw, 0)[0]


def _int_string(raw: bytes | bytearray | None) -> int | None:
    s = _text(raw)
    if not s:
        return None
    return int(float(s))


def _fast_read(buf: bytes | bytearray, with_pixels: bool, limits: Limits) -> DicomSlice:
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise _Unsupported("no DICOM preamble")
    # file meta information: always explicit VR little endian
    (group,) = struct.unpack_from("<H", buf, 132)
    if group != 0x0002:
        raise _Unsupported("no file meta group")
    pos = 132
    ts = None
    head, u32, n = _EXPLICIT_HEAD.unpack_from, _U32.unpack_from, len(buf)
    while pos + 8 <= n:
        key, vr, length = head(buf, pos)
        if key & 0xFFFF != 0x0002:
            break
        if vr in _LONG_VRS:
            (length,) = u32(buf, pos + 8)
            pos += 12
        else:
            pos += 8
        if key >> 16 == 0x0010:
            ts = _text(buf[pos:pos + length])
        pos += length
    if ts == EXPLICIT_LE:
        explicit = True
    elif ts == IMPLICIT_LE:
        explicit = False
    else:
        raise _Unsupported(f"transfer syntax {ts!r}")
    out: dict = {}
    _walk(buf, pos, len(buf), explicit, out, 0)
    rows = _us(out.get(TAGS["Rows"]))
    cols = _us(out.get(TAGS["Columns"]))
    sn = _int_string(out.get(TAGS["SeriesNumber"]))
    if rows is None or cols is None or sn is None:
        raise _Unsupported("Rows, Columns or SeriesNumber missing")
    position = _ds_list(out.get(TAGS["ImagePositionPatient"]))
    spacing = _ds_list(out.get(TAGS["PixelSpacing"]))
    if len(position) != 3 or len(spacing) != 2:
        raise _Unsupported("ImagePositionPatient or PixelSpacing missing or malformed")
    sl = DicomSlice(
        series_number=sn,
        description=_text(out.get(TAGS["SeriesDescription"])),
        position=np.array(position, dtype=np.float32),
        spacing=np.array(spacing, dtype=np.float32),
        series_time=_text(out.get(TAGS["SeriesTime"])),
        series_uid=_text(out.get(TAGS["SeriesInstanceUID"])),
        instance_number=_int_string(out.get(TAGS["InstanceNumber"])),
        rows=rows, cols=cols)
    if with_pixels:
        if rows * cols > limits.max_slice_pixels:
            raise SubjectError("limit exceeded", f"slice of {rows} x {cols} pixels is larger "
                               f"than the limit of {limits.max_slice_pixels}")
        if "_pixels" not in out:
            raise _Unsupported("no pixel data")
        off, length = out["_pixels"]
        sl.samples_per_pixel = _us(out.get(TAGS["SamplesPerPixel"]))
        sl.bits_allocated = _us(out.get(TAGS["BitsAllocated"]))
        sl.bits_stored = _us(out.get(TAGS["BitsStored"]))
        sl.pixel_representation = _us(out.get(TAGS["PixelRepresentation"]))
        sl.high_bit = _us(out.get(TAGS["HighBit"]))
        for attr, keyword in TEXT_FIELDS.items():
            raw = out.get(TAGS[keyword])
            setattr(sl, attr, None if raw is None else _text(raw))
        sl.pixel_bytes = max(0, min(length, len(buf) - off))
        check_slice(sl)
        arr = np.frombuffer(buf, dtype="<u2", count=rows * cols, offset=off)
        arr.flags.writeable = False  # ``buf`` may be a bytearray: the pixels stay as read
        check_pixel_values(arr, sl.bits_stored)
        sl.pixels = arr.reshape(rows, cols)  # a view of ``buf``: no copy
    return sl


def _pydicom_read(buf: bytes | bytearray, with_pixels: bool, limits: Limits) -> DicomSlice:
    import pydicom  # lazy: pydicom loads only where it is used

    try:
        ds = pydicom.dcmread(io.BytesIO(buf), force=True, stop_before_pixels=not with_pixels)
        rows, cols = int(ds.Rows), int(ds.Columns)
        sl = DicomSlice(
            series_number=int(ds.SeriesNumber),
            description=str(ds.get("SeriesDescription", "")),
            position=np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float32),
            spacing=np.array([float(v) for v in ds.PixelSpacing], dtype=np.float32),
            series_time=str(ds.get("SeriesTime", "")),
            series_uid=str(ds.get("SeriesInstanceUID", "")),
            instance_number=int(ds.InstanceNumber) if "InstanceNumber" in ds else None,
            rows=rows, cols=cols)
        if len(sl.position) != 3 or len(sl.spacing) != 2:
            raise ValueError("ImagePositionPatient or PixelSpacing malformed")
        if with_pixels:
            if rows * cols > limits.max_slice_pixels:
                raise SubjectError("limit exceeded", f"slice of {rows} x {cols} pixels is "
                                   f"larger than the limit of {limits.max_slice_pixels}")
            _pydicom_layout(ds, sl)
            check_slice(sl)
            arr = _pydicom_pixels(ds, sl)
            if arr.shape != (rows, cols):
                raise ValueError(f"pixel array of shape {arr.shape}, expected {(rows, cols)}")
            check_pixel_values(arr, sl.bits_stored)
            sl.pixels = arr.astype(np.uint16)  # native byte order
        return sl
    except SubjectError:
        raise
    except Exception as exc:  # pydicom raises many types on damaged files
        raise SubjectError("corrupt dicom", f"unreadable DICOM ({type(exc).__name__}: {exc})") \
            from None


def _optional_int(ds, keyword: str) -> int | None:
    value = ds.get(keyword)
    return None if value is None or value == "" else int(value)


def _pydicom_layout(ds, sl: DicomSlice) -> None:
    """Fill in the pixel layout fields of ``sl`` from a pydicom dataset."""
    sl.samples_per_pixel = _optional_int(ds, "SamplesPerPixel")
    sl.bits_allocated = _optional_int(ds, "BitsAllocated")
    sl.bits_stored = _optional_int(ds, "BitsStored")
    sl.pixel_representation = _optional_int(ds, "PixelRepresentation")
    sl.high_bit = _optional_int(ds, "HighBit")
    for attr, keyword in TEXT_FIELDS.items():
        setattr(sl, attr, _pydicom_text(ds, TAGS[keyword]))
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is not None and ts.is_encapsulated:
        sl.pixel_bytes = None  # compressed: the decoded array's shape is checked
    else:
        sl.pixel_bytes = len(ds.get("PixelData") or b"")


def _pydicom_text(ds, tag: int) -> str | None:
    """An element's value as the text stored (as the fast reader keeps it), or None."""
    elem = ds.get_item(tag)
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return _text(value)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip(" \x00")


def _pydicom_pixels(ds, sl: DicomSlice) -> np.ndarray:
    """Pixel values of a pydicom dataset: uncompressed data decoded as the fast reader
    decodes it (uint16, unmasked, so that both readers see the same values); compressed
    data through pydicom's decoders."""
    if sl.pixel_bytes is None:
        return ds.pixel_array
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    big = ts is not None and not ts.is_little_endian
    arr = np.frombuffer(ds.PixelData, dtype=">u2" if big else "<u2")
    return arr.reshape(sl.rows, sl.cols)


def read_slice(buf: bytes | bytearray, with_pixels: bool = True,
               limits: Limits = DEFAULT_LIMITS) -> DicomSlice:
    """Read one DICOM slice from bytes.

    Parameters
    ----------
    buf : bytes
        The whole file (or, with ``with_pixels=False``, at least its header).
    with_pixels : bool
        Also decode the pixel data (uint16, shape (rows, cols)).
    limits : Limits
        ``max_slice_pixels`` is checked before pixels are decoded.

    Returns
    -------
    DicomSlice

    Raises
    ------
    SubjectError
        ``corrupt dicom`` when neither reader can read it or, with pixels, when it
        fails :func:`mimir.reading.checks.check_slice`; ``limit exceeded`` for
        oversized slices. The subject and member are filled in by the caller.
    """
    try:
        return _fast_read(buf, with_pixels, limits)
    except (_Unsupported, struct.error, ValueError, KeyError, UnicodeError):
        return _pydicom_read(buf, with_pixels, limits)
