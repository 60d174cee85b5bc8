"""Bounded zip access and reading water/fat slices from small hand-made zips."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from mimir.errors import SubjectError
from mimir.limits import Limits
from mimir.phantom.dicomwrite import encode_slice
from mimir.reading.archive import SubjectArchive, subject_name
from mimir.reading.slices import read_water_fat

HEADER = "filename,patientid,studyid,aet,date,series discription"


def slice_bytes(sn: int, desc: str, z: float, rows: int = 4, cols: int = 3,
                value: int = 100, uid: str = "1.2.3") -> bytes:
    px = np.full((rows, cols), value, dtype=np.uint16)
    px[0, 0] = int(z) % 50
    header = [(0x00080031, "TM", "101112.000000"), (0x0008103E, "LO", desc),
              (0x0020000E, "UI", f"1.2.{sn}"), (0x00200011, "IS", str(sn)),
              (0x00200032, "DS", f"-250\\-190\\{z}"), (0x00200037, "DS", "1\\0\\0\\0\\1\\0"),
              (0x00280002, "US", 1), (0x00280010, "US", rows), (0x00280011, "US", cols),
              (0x00280030, "DS", "2.23214293\\2.23214293"), (0x00280100, "US", 16),
              (0x00280103, "US", 0)]
    return encode_slice(header, px, uid)


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def small_subject(with_manifest: bool = True, crlf: bool = False) -> list[tuple[str, bytes]]:
    """Two slices each of in/F/W for one station (series 1-3)."""
    members, rows = [], []
    for sn, c in ((1, "in"), (2, "F"), (3, "W")):
        for j, z in enumerate((10.0, 7.0)):
            name = f"s{sn}_{j}.dcm"
            desc = f"Dixon_noBH_{c}"
            members.append((name, slice_bytes(sn, desc, z, value=100 * sn, uid=f"1.2.{sn}.{j}")))
            rows.append(f"{name},1,2,AET,Aug 30, 2015 10:11:12 AM,{desc}")
    if with_manifest:
        nl = "\r\n" if crlf else "\n"
        members.append(("manifest.cvs", (nl.join([HEADER] + rows) + nl).encode()))
    return members


def test_subject_name():
    assert subject_name("/x/1234567_20201_2_0.zip") == "1234567_20201_2_0"
    assert subject_name("a.b.c") == "a"
    assert subject_name(Path("rel") / "noext") == "noext"


def test_missing_file(tmp_path):
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(tmp_path / "1_20201_2_0.zip")
    assert ei.value.kind == "missing file"
    assert ei.value.subject == "1_20201_2_0"


def test_folder_is_missing_file(tmp_path):
    (tmp_path / "d.zip").mkdir()
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(tmp_path / "d.zip")
    assert ei.value.kind == "missing file"


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"PK\x03\x04junk"])
def test_not_a_zip(tmp_path, content):
    p = tmp_path / "2_20201_2_0.zip"
    p.write_bytes(content)
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(p)
    assert ei.value.kind == "not a zip"
    assert "2_20201_2_0" in str(ei.value)


def test_truncated_zip_is_not_a_zip(tmp_path):
    p = write_zip(tmp_path / "t.zip", small_subject())
    data = p.read_bytes()
    p.write_bytes(data[:int(len(data) * 0.6)])
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(p)
    assert ei.value.kind == "not a zip"


def test_too_many_members(tmp_path):
    p = write_zip(tmp_path / "m.zip", [(f"{i}.dcm", b"x") for i in range(6)])
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(p, Limits(max_members=5))
    assert ei.value.kind == "limit exceeded"
    with SubjectArchive(p, Limits(max_members=6)) as a:
        assert len(a.members) == 6


def test_zip_file_size_limit(tmp_path):
    p = write_zip(tmp_path / "s.zip", [("a", b"x" * 100)])
    with pytest.raises(SubjectError) as ei:
        SubjectArchive(p, Limits(max_zip_bytes=10))
    assert ei.value.kind == "limit exceeded"


def test_zip_bomb_member_fails_before_decompressing(tmp_path):
    p = write_zip(tmp_path / "b.zip", [("bomb.dcm", b"\x00" * (4 << 20))])
    assert p.stat().st_size < 100_000
    with SubjectArchive(p, Limits(max_member_bytes=1 << 20)) as a:
        with pytest.raises(SubjectError) as ei:
            a.read("bomb.dcm")
        assert ei.value.kind == "limit exceeded"
        assert ei.value.member == "bomb.dcm"
        assert a.bytes_read == 0
        # a bounded header probe is refused too: the declared size is checked first
        with pytest.raises(SubjectError):
            a.read("bomb.dcm", max_bytes=100)


def test_subject_bytes_limit_is_cumulative(tmp_path):
    p = write_zip(tmp_path / "c.zip", [(f"{i}", b"y" * 600) for i in range(3)])
    with SubjectArchive(p, Limits(max_subject_bytes=1500)) as a:
        assert a.read("0") == b"y" * 600
        assert a.read("1", max_bytes=10) == b"y" * 10
        assert a.bytes_read == 610
        assert len(a.read("2")) == 600
        with pytest.raises(SubjectError) as ei:
            a.read("0")
        assert ei.value.kind == "limit exceeded"


def test_member_lying_about_its_size_is_refused(tmp_path):
    """A member whose local data holds more than its declared size never yields more."""
    p = write_zip(tmp_path / "l.zip", [("a.dcm", b"z" * 1000)])
    with SubjectArchive(p) as a:
        info = a._infos["a.dcm"]
        info.file_size = 100  # as a forged central directory would claim
        with pytest.raises(SubjectError) as ei:
            a.read("a.dcm")
        assert ei.value.kind in ("limit exceeded", "corrupt dicom")


def test_unknown_member(tmp_path):
    p = write_zip(tmp_path / "u.zip", [("a", b"1")])
    with SubjectArchive(p) as a:
        assert not a.has("b")
        with pytest.raises(SubjectError) as ei:
            a.read("b")
        assert ei.value.member == "b"


def test_path_traversal_member_is_only_a_name(tmp_path):
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    p = write_zip(work / "p.zip", [("../../evil.dcm", b"evil"), ("folder/", b"")])
    with SubjectArchive(p) as a:
        assert a.members == ["../../evil.dcm"]
        assert a.read("../../evil.dcm") == b"evil"
    assert not list(tmp_path.rglob("evil.dcm"))


def test_damaged_compressed_data_is_corrupt_dicom(tmp_path):
    p = write_zip(tmp_path / "d.zip", [("a.dcm", bytes(range(256)) * 40)])
    data = bytearray(p.read_bytes())
    start = data.index(b"a.dcm") + len("a.dcm")  # local header name, then the data
    for k in range(start + 5, start + 60):
        data[k] ^= 0x5A
    p.write_bytes(bytes(data))
    with SubjectArchive(p) as a, pytest.raises(SubjectError) as ei:
        a.read("a.dcm")
    assert ei.value.kind == "corrupt dicom"
    assert ei.value.member == "a.dcm"


# read_water_fat -----------------------------------------------------------------------

@pytest.mark.parametrize("crlf", [False, True])
def test_read_water_fat_from_manifest(tmp_path, crlf):
    p = write_zip(tmp_path / "5_20201_2_0.zip", small_subject(crlf=crlf))
    with SubjectArchive(p) as a:
        r = read_water_fat(a)
    assert r.source == "manifest"
    assert r.warnings == []
    assert r.members == ["s2_0.dcm", "s2_1.dcm", "s3_0.dcm", "s3_1.dcm"]
    assert [s.series_number for s in r.slices] == [2, 2, 3, 3]
    assert all(s.pixels is not None and s.pixels.dtype == np.uint16 for s in r.slices)


def test_read_water_fat_from_headers_without_manifest(tmp_path):
    p = write_zip(tmp_path / "6_20201_2_0.zip", small_subject(with_manifest=False))
    with SubjectArchive(p) as a:
        r = read_water_fat(a)
    assert r.source == "headers"
    assert any("no manifest" in w for w in r.warnings)
    assert sorted(r.members) == ["s2_0.dcm", "s2_1.dcm", "s3_0.dcm", "s3_1.dcm"]


def test_unusable_manifest_falls_back_with_warning(tmp_path):
    members = small_subject(with_manifest=False)
    members.append(("manifest.csv", b"name,desc\ns2_0.dcm,Dixon_noBH_F\n"))
    p = write_zip(tmp_path / "7_20201_2_0.zip", members)
    with SubjectArchive(p) as a:
        r = read_water_fat(a)
    assert r.source == "headers"
    assert any("unusable" in w and "manifest.csv" in w for w in r.warnings)
    assert len(r.slices) == 4


def test_manifest_listing_absent_member_warns(tmp_path):
    members = small_subject()
    name, text = members[-1]
    members[-1] = (name, text + b"gone.dcm,1,2,AET,Aug 30, 2015 1 AM,Dixon_noBH_W\n")
    p = write_zip(tmp_path / "8_20201_2_0.zip", members)
    with SubjectArchive(p) as a:
        r = read_water_fat(a)
    assert r.source == "manifest"
    assert any("gone.dcm" in w for w in r.warnings)
    assert len(r.slices) == 4


def test_no_water_or_fat_anywhere(tmp_path):
    members = [(n, d) for n, d in small_subject(with_manifest=False) if n.startswith("s1")]
    members.append(("junk.txt", b"hello"))
    p = write_zip(tmp_path / "9_20201_2_0.zip", members)
    with SubjectArchive(p) as a, pytest.raises(SubjectError) as ei:
        read_water_fat(a)
    assert ei.value.kind == "no manifest and no usable headers"
    assert ei.value.subject == "9_20201_2_0"


def test_corrupt_listed_member_names_subject_and_member(tmp_path):
    members = small_subject()
    k = next(i for i, (n, _) in enumerate(members) if n == "s3_1.dcm")
    members[k] = ("s3_1.dcm", b"\x00" * 128 + b"DICM" + b"\x13" * 300)
    p = write_zip(tmp_path / "10_20201_2_0.zip", members)
    with SubjectArchive(p) as a, pytest.raises(SubjectError) as ei:
        read_water_fat(a)
    assert ei.value.kind == "corrupt dicom"
    assert ei.value.member == "s3_1.dcm"
    assert "10_20201_2_0" in str(ei.value) and "s3_1.dcm" in str(ei.value)


def test_huge_slice_is_limit_exceeded_with_member(tmp_path):
    members = small_subject()
    k = next(i for i, (n, _) in enumerate(members) if n == "s2_0.dcm")
    big = slice_bytes(2, "Dixon_noBH_F", 10.0)
    # claim 30000 x 30000 pixels: patch Rows and Columns (US values) in place
    big = big.replace(b"\x28\x00\x10\x00US\x02\x00\x04\x00", b"\x28\x00\x10\x00US\x02\x000u")
    big = big.replace(b"\x28\x00\x11\x00US\x02\x00\x03\x00", b"\x28\x00\x11\x00US\x02\x000u")
    members[k] = ("s2_0.dcm", big)
    p = write_zip(tmp_path / "11_20201_2_0.zip", members)
    with SubjectArchive(p, Limits(max_slice_pixels=1000)) as a, pytest.raises(SubjectError) as ei:
        read_water_fat(a)
    assert ei.value.kind == "limit exceeded"
    assert ei.value.member == "s2_0.dcm"


def test_traversal_name_listed_in_manifest_writes_nothing(tmp_path):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    members = small_subject(with_manifest=False)
    members.append(("../../evil.dcm", slice_bytes(3, "Dixon_noBH_W", 4.0, uid="9.9")))
    rows = [f"{n},1,2,AET,Aug 30, 2015 1 AM,Dixon_noBH_{'W' if n.startswith(('s3', '..')) else 'F'}"
            for n, _ in members if not n.startswith("s1")]
    members.append(("manifest.cvs", ("\n".join([HEADER] + rows) + "\n").encode()))
    p = write_zip(work / "12_20201_2_0.zip", members)
    with SubjectArchive(p) as a:
        r = read_water_fat(a)
    assert "../../evil.dcm" in r.members  # read from memory, as a name only
    assert not list(tmp_path.rglob("evil.dcm"))
