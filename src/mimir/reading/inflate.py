"""Inflating a zip member whose compressed bytes are in memory: libdeflate or zlib.

A subject's water and fat members are about 22 MB of deflate data inflating to 50 MB;
with the standard library (what :mod:`zipfile` does) inflating and checking them takes a
quarter of a subject's preprocessing. libdeflate (the ``deflate`` package on PyPI) does
the same work in about half the time, because the zip tells the size of every member
before it is inflated, so that it can decode the whole member in one call into a buffer
of exactly that size; its CRC-32 is also ten times faster than zlib's. zlib stays the
fallback where libdeflate is not installed. The choice, with figures, is in
docs/preprocessing.md.

Both backends give the same bytes and the same verdicts: a member is inflated into at
most its declared size (a zip bomb cannot allocate more), its CRC-32 is checked, and
when libdeflate refuses a stream, zlib decodes it again to say what is wrong (more data
than declared, a damaged or truncated stream), so error messages do not depend on the
backend.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from types import ModuleType

_libdeflate: ModuleType | None
try:  # optional: libdeflate, about twice as fast as zlib (see the module docstring)
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - depends on the installation
    _libdeflate = None

#: zip compression methods inflated here (others go through :mod:`zipfile`)
STORED = 0
DEFLATED = 8

#: backends in order of preference
BACKENDS = ("libdeflate", "zlib")


class InflateError(Exception):
    """A member's data is damaged (``oversized``: it holds more than it declares)."""

    def __init__(self, message: str, oversized: bool = False):
        super().__init__(message)
        self.oversized = oversized


def available() -> tuple[str, ...]:
    """The backends installed here, in order of preference."""
    return tuple(b for b in BACKENDS if b != "libdeflate" or _libdeflate is not None)


_active = available()[0]


def backend() -> str:
    """The backend in use: the first of :func:`available` unless :func:`use` chose."""
    return _active


def use(name: str) -> str:
    """Use backend ``name`` from now on (tests and benchmarks); returns the previous one.

    Raises
    ------
    ValueError
        When ``name`` is not installed here.
    """
    global _active
    if name not in available():
        raise ValueError(f"inflate backend {name!r} is not available here "
                         f"(available: {', '.join(available())})")
    previous, _active = _active, name
    return previous


def _zlib_inflate(raw: bytes, size: int) -> bytes:
    """Inflate raw deflate data into at most ``size`` bytes with zlib, or say why not."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = d.decompress(raw, size + 1)
    except zlib.error as exc:
        raise InflateError(str(exc)) from None
    if len(data) > size:
        raise InflateError("member decompresses to more bytes than it declares",
                           oversized=True)
    if not d.eof:
        raise InflateError("compressed data ends before the member does (truncated)")
    if len(data) < size:
        raise InflateError(f"member decompresses to {len(data)} bytes, it declares {size}")
    return data


def _libdeflate_inflate(raw: bytes, size: int) -> bytes | bytearray:
    assert _libdeflate is not None  # only chosen where installed
    try:
        out = _libdeflate.deflate_decompress(raw, size)
    except _libdeflate.DeflateError:
        return _zlib_inflate(raw, size)  # raises, saying what is wrong
    if len(out) != size:
        return _zlib_inflate(raw, size)
    return out  # a bytearray: copying it to bytes cost 2-3 % of preprocessing


_INFLATE: dict[str, Callable[[bytes, int], bytes | bytearray]] = {
    "libdeflate": _libdeflate_inflate, "zlib": _zlib_inflate}


def crc32(data: bytes | bytearray) -> int:
    """CRC-32 of ``data`` (the zip's checksum) with the active backend."""
    if _active == "libdeflate" and _libdeflate is not None:
        return _libdeflate.crc32(data)
    return zlib.crc32(data)


def inflate(raw: bytes, size: int, method: int, crc: int) -> bytes | bytearray:
    """A member's bytes from its compressed data, checked against its size and CRC-32.

    Parameters
    ----------
    raw : bytes
        The member's compressed data, as stored in the zip.
    size : int
        Its declared decompressed size (checked against the limits before this call:
        nothing larger is ever allocated).
    method : int
        :data:`STORED` or :data:`DEFLATED`.
    crc : int
        Its declared CRC-32.

    Returns
    -------
    bytes or bytearray
        Exactly ``size`` bytes (a bytearray from libdeflate, not copied: readers must not
        change it, and views of it are made read-only).

    Raises
    ------
    InflateError
        Damaged, truncated or oversized data, or a CRC-32 that does not match.
    """
    if method == STORED:
        if len(raw) != size:
            raise InflateError(f"stored member holds {len(raw)} bytes, it declares {size}",
                               oversized=len(raw) > size)
        data: bytes | bytearray = raw
    elif method == DEFLATED:
        data = _INFLATE[_active](raw, size)
    else:
        raise ValueError(f"compression method {method} is not inflated here")
    if crc32(data) != crc:
        raise InflateError("Bad CRC-32 for the member")
    return data
