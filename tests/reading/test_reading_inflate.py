"""Inflating members with libdeflate and with the zlib fallback: same bytes, same verdicts."""

from __future__ import annotations

import zipfile
import zlib

import numpy as np
import pytest

import mimir.reading.inflate as inflate
from mimir.errors import SubjectError
from mimir.limits import Limits
from mimir.reading.archive import SubjectArchive
from tests.reading.test_reading_archive import write_zip


def test_libdeflate_is_installed_and_preferred():
    """``deflate`` is a dependency: the fast backend is the one in use."""
    assert inflate.available() == ("libdeflate", "zlib")
    assert inflate.backend() == "libdeflate"


@pytest.fixture(params=inflate.BACKENDS)
def backend(request):
    previous = inflate.use(request.param)
    yield request.param
    inflate.use(previous)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="not available"):
        inflate.use("brotli")
    assert inflate.backend() == "libdeflate"


def _members() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(5)
    noisy = rng.integers(0, 4096, 40_000, dtype=np.uint16).tobytes()
    return [("empty.dcm", b""), ("small.dcm", b"DICM" * 3), ("noisy.dcm", noisy),
            ("flat.dcm", b"\x00" * 300_000)]


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_members_read_as_zipfile_reads_them(tmp_path, backend, method):
    p = tmp_path / "m.zip"
    with zipfile.ZipFile(p, "w", method) as zf:
        for name, data in _members():
            zf.writestr(name, data)
    with SubjectArchive(p) as a, zipfile.ZipFile(p) as zf:
        for name, data in _members():
            got = a.read(name)
            # bytes, or libdeflate's bytearray as it comes (not copied)
            assert type(got) is (bytearray if backend == "libdeflate" and
                                 method == zipfile.ZIP_DEFLATED else bytes)
            assert got == data == zf.read(name)
        assert a.bytes_read == sum(len(d) for _, d in _members())


def _flip_crc(path, member: str) -> None:
    """Change the CRC-32 a zip records for ``member`` (local header and directory)."""
    with zipfile.ZipFile(path) as zf:
        crc = zf.getinfo(member).CRC
    data = bytearray(path.read_bytes())
    old, new = crc.to_bytes(4, "little"), (crc ^ 1).to_bytes(4, "little")
    assert data.count(old) == 2
    path.write_bytes(bytes(data).replace(old, new))


def test_crc_mismatch_is_corrupt_dicom(tmp_path, backend):
    p = write_zip(tmp_path / "c.zip", [("a.dcm", bytes(range(256)) * 40)])
    _flip_crc(p, "a.dcm")
    with SubjectArchive(p) as a, pytest.raises(SubjectError) as ei:
        a.read("a.dcm")
    assert ei.value.kind == "corrupt dicom"
    assert "CRC-32" in ei.value.message and ei.value.member == "a.dcm"


def _damage(path, member: str) -> None:
    data = bytearray(path.read_bytes())
    start = data.index(member.encode()) + len(member)
    for k in range(start + 5, start + 60):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


def test_damaged_data_gives_the_same_verdict_on_every_backend(tmp_path):
    p = write_zip(tmp_path / "d.zip", [("a.dcm", bytes(range(256)) * 40)])
    _damage(p, "a.dcm")
    verdicts = {}
    for name in inflate.BACKENDS:
        previous = inflate.use(name)
        try:
            with SubjectArchive(p) as a, pytest.raises(SubjectError) as ei:
                a.read("a.dcm")
        finally:
            inflate.use(previous)
        verdicts[name] = (ei.value.kind, ei.value.message)
    assert verdicts["libdeflate"] == verdicts["zlib"]
    assert verdicts["zlib"][0] == "corrupt dicom"


def test_member_holding_more_than_it_declares(tmp_path, backend):
    p = write_zip(tmp_path / "l.zip", [("a.dcm", b"z" * 1000)])
    with SubjectArchive(p) as a:
        a._infos["a.dcm"].file_size = 100  # as a forged central directory would claim
        with pytest.raises(SubjectError) as ei:
            a.read("a.dcm")
    assert ei.value.kind == "corrupt dicom"  # its header lies: a damaged or forged zip
    assert "more bytes than it declares" in ei.value.message
    assert a.bytes_read == 0


def test_member_holding_less_than_it_declares(tmp_path, backend):
    p = write_zip(tmp_path / "s.zip", [("a.dcm", b"z" * 1000)])
    with SubjectArchive(p) as a:
        a._infos["a.dcm"].file_size = 2000
        with pytest.raises(SubjectError) as ei:
            a.read("a.dcm")
    assert ei.value.kind == "corrupt dicom"


def test_truncated_member_data(tmp_path, backend):
    """A directory claiming more compressed bytes than the stream holds: the deflate
    stream is cut short (the zip's end is reached inside it)."""
    rng = np.random.default_rng(1)
    p = write_zip(tmp_path / "t.zip", [("a.dcm", rng.integers(0, 9, 50_000,
                                                               dtype=np.uint8).tobytes())])
    with SubjectArchive(p) as a:
        info = a._infos["a.dcm"]
        info.compress_size //= 2  # only half the stream is read
        with pytest.raises(SubjectError) as ei:
            a.read("a.dcm")
    assert ei.value.kind == "corrupt dicom"


def test_bomb_is_refused_before_inflating(tmp_path, backend):
    p = write_zip(tmp_path / "b.zip", [("bomb.dcm", b"\x00" * (4 << 20))])
    with SubjectArchive(p, Limits(max_member_bytes=1 << 20)) as a:
        with pytest.raises(SubjectError) as ei:
            a.read("bomb.dcm")
    assert ei.value.kind == "limit exceeded" and a.bytes_read == 0


def test_implausible_compressed_size_goes_through_zipfile(tmp_path, monkeypatch):
    """A directory claiming far more compressed bytes than a member could need is not
    read in one piece: zipfile streams it, within the declared size."""
    p = write_zip(tmp_path / "z.zip", [("a.dcm", b"q" * 5000)])
    calls = []
    monkeypatch.setattr(inflate, "inflate", lambda *a: calls.append(a))
    with SubjectArchive(p) as a:
        a._infos["a.dcm"].compress_size = 10 ** 9
        assert a.read("a.dcm") == b"q" * 5000  # the stream ends where it ends
    assert calls == []


def test_inflate_function_checks(backend):
    data = b"abc" * 1000
    raw = zlib.compress(data)[2:-4]  # raw deflate
    crc = zlib.crc32(data)
    assert inflate.inflate(raw, len(data), inflate.DEFLATED, crc) == data
    assert inflate.inflate(data, len(data), inflate.STORED, crc) == data
    assert inflate.crc32(data) == crc
    with pytest.raises(inflate.InflateError, match="CRC-32"):
        inflate.inflate(raw, len(data), inflate.DEFLATED, crc ^ 0xFFFF)
    with pytest.raises(inflate.InflateError) as ei:
        inflate.inflate(data, len(data) - 1, inflate.STORED, crc)
    assert ei.value.oversized
    with pytest.raises(ValueError, match="method"):
        inflate.inflate(raw, len(data), 12, crc)
