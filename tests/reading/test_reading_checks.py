"""Consistency checks of slices and series (mimir.reading.checks) and their use while
reading a subject: the same rules in both DICOM readers, the pixel budget, ambiguous
members, members missing from the manifest, header-only discovery."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from mimir.errors import SubjectError
from mimir.limits import Limits
from mimir.phantom.dicomwrite import encode_slice
from mimir.reading import checks
from mimir.reading.archive import SubjectArchive
from mimir.reading.dicom import DicomSlice, read_slice
from mimir.reading.slices import read_water_fat
from tests.fuzz.recode import set_value, strip_preamble

SP = "2.23214293"


def header(sn=4, desc="Dixon_noBH_W", z=10.0, x=-250.0, rows=4, cols=3, spacing=SP):
    return [(0x00080031, "TM", "101112.000000"), (0x0008103E, "LO", desc),
            (0x0020000E, "UI", f"1.2.{sn}"), (0x00200011, "IS", str(sn)),
            (0x00200032, "DS", f"{x}\\-190\\{z}"), (0x00200037, "DS", "1\\0\\0\\0\\1\\0"),
            (0x00280002, "US", 1),
            (0x00280004, "CS", "MONOCHROME2"),
            (0x00280010, "US", rows), (0x00280011, "US", cols),
            (0x00280030, "DS", f"{spacing}\\{spacing}"), (0x00280100, "US", 16),
            (0x00280101, "US", 12), (0x00280103, "US", 0)]


def slice_file(rows=4, cols=3, **kw) -> bytes:
    px = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) * 7 + 3)
    return encode_slice(header(rows=rows, cols=cols, **kw), px, f"1.2.3.{kw.get('z', 10.0)}")


def sl(z, sn=4, x=-250.0, y=-190.0, spacing=2.23214293, rows=4, cols=3):
    return DicomSlice(series_number=sn, description="Dixon_noBH_W",
                      position=np.array([x, y, z], dtype=np.float32),
                      spacing=np.array([spacing, spacing], dtype=np.float32), series_time="1",
                      series_uid="", instance_number=None, rows=rows, cols=cols,
                      orientation="1\\0\\0\\0\\1\\0")


# one slice ------------------------------------------------------------------------------

@pytest.mark.parametrize("layout, word", [
    ((0, 16, 12, 0), "SamplesPerPixel"), ((3, 16, 12, 0), "SamplesPerPixel"),
    ((None, 16, 12, 0), "SamplesPerPixel"), ((1, 8, 8, 0), "BitsAllocated"),
    ((1, 32, 12, 0), "BitsAllocated"), ((1, None, 12, 0), "BitsAllocated"),
    ((1, 16, 17, 0), "BitsStored"), ((1, 16, 0, 0), "BitsStored"),
    ((1, 16, 12, 1), "PixelRepresentation"), ((1, 16, 12, 2), "PixelRepresentation"),
    ((1, 16, 12, None), "PixelRepresentation"),
])
def test_pixel_layout_other_than_20201_is_corrupt(layout, word):
    with pytest.raises(SubjectError) as ei:
        checks.check_pixel_layout(*layout)
    assert ei.value.kind == "corrupt dicom" and word in ei.value.message


@pytest.mark.parametrize("layout", [(1, 16, 12, 0), (1, 16, 16, 0), (1, 16, None, 0)])
def test_pixel_layout_of_20201_passes(layout):
    checks.check_pixel_layout(*layout)


def test_pixel_bytes_must_be_exact():
    checks.check_pixel_bytes(174, 224, 16, 174 * 224 * 2)
    checks.check_pixel_bytes(174, 224, 16, None)  # compressed: the shape is checked later
    for n in (0, 174 * 224 * 2 - 1, 174 * 224 * 2 + 2, 174 * 223 * 2):
        with pytest.raises(SubjectError, match="pixel data holds"):
            checks.check_pixel_bytes(174, 224, 16, n)
    with pytest.raises(SubjectError):
        checks.check_pixel_bytes(0, 224, 16, 0)


def test_pixel_values_must_fit_bits_stored():
    px = np.array([[0, 4095]], dtype=np.uint16)
    checks.check_pixel_values(px, 12)
    checks.check_pixel_values(px, None)
    checks.check_pixel_values(np.array([[65535]], dtype=np.uint16), 16)
    with pytest.raises(SubjectError, match="does not fit in BitsStored = 11"):
        checks.check_pixel_values(px, 11)


@pytest.mark.parametrize("pos", [[np.nan, 0, 0], [0, np.inf, 0], [0, 0, -np.inf],
                                 [-1e9, -1e9, -1e9], [0, 0, 5000.5], [1, 2]])
def test_bad_positions_are_corrupt(pos):
    with pytest.raises(SubjectError) as ei:
        checks.check_position(pos)
    assert ei.value.kind == "corrupt dicom" and "ImagePositionPatient" in ei.value.message


@pytest.mark.parametrize("sp", [[np.nan, 2.2], [np.inf, 2.2], [0, 0], [-2.2, -2.2],
                                [1e9, 1e9], [1e-9, 1e-9], [0.49, 2.2], [2.2, 5.01], [2.2]])
def test_bad_pixel_spacings_are_corrupt(sp):
    with pytest.raises(SubjectError) as ei:
        checks.check_pixel_spacing(sp)
    assert ei.value.kind == "corrupt dicom" and "PixelSpacing" in ei.value.message


def test_plausible_values_pass():
    checks.check_position([-250.0, -194.2, -1100.0])
    for sp in ([2.23214293, 2.23214293], [0.5, 5.0]):
        checks.check_pixel_spacing(sp)


# series ---------------------------------------------------------------------------------

def members(n):
    return [f"m{i}.dcm" for i in range(n)]


def test_evenly_spaced_series_passes_without_warning():
    s = [sl(10.0 - 4.5 * k) for k in range(44)]
    assert checks.check_series(s, members(44)) == []


def test_missing_slice_is_accepted_with_a_warning():
    """43 of 44 slices: accepted (the procedure's spacing spans the gap), recorded."""
    zs = [10.0 - 4.5 * k for k in range(44)]
    del zs[20]
    w = checks.check_series([sl(z) for z in zs], members(43))
    assert len(w) == 1 and "1 slice(s) missing" in w[0] and "series 4" in w[0]
    zs2 = [z for k, z in enumerate(zs) if k not in (5, 6)]  # two more, in one gap
    w2 = checks.check_series([sl(z) for z in zs2], members(41))
    assert any("2 slice(s) missing" in x for x in w2)


@pytest.mark.parametrize("dz, ok", [(0.005, True), (0.009, True), (0.02, False),
                                    (0.5, False), (2.25, False)])
def test_off_grid_slice_fails_beyond_tolerance(dz, ok):
    zs = [10.0 - 3.0 * k for k in range(10)]
    zs[0] += dz  # the top slice: it sets the station's spacing
    s = [sl(z) for z in zs]
    if ok:
        assert checks.check_series(s, members(10)) == []
        return
    with pytest.raises(SubjectError) as ei:
        checks.check_series(s, members(10))
    assert ei.value.kind == "inconsistent stations"
    assert ei.value.member in ("m0.dcm", "m1.dcm")


def test_duplicate_position_fails_naming_the_member():
    zs = [10.0 - 3.0 * k for k in range(10)]
    zs[7] = zs[3]
    with pytest.raises(SubjectError) as ei:
        checks.check_series([sl(z) for z in zs], members(10))
    assert ei.value.kind == "inconsistent stations"
    assert ei.value.member in ("m3.dcm", "m7.dcm")


def test_all_slices_at_one_position_fail():
    with pytest.raises(SubjectError) as ei:
        checks.check_series([sl(0.0) for _ in range(5)], members(5))
    assert ei.value.kind == "inconsistent stations" and ei.value.member


@pytest.mark.parametrize("change, word", [
    ({"x": -249.9}, "x, y"), ({"y": -185.0}, "x, y"), ({"spacing": 2.0}, "PixelSpacing"),
    ({"rows": 5}, "sizes")])
def test_one_slice_differing_from_its_series_fails(change, word):
    s = [sl(10.0 - 3.0 * k) for k in range(6)]
    s[4] = sl(10.0 - 3.0 * 4, **change)
    with pytest.raises(SubjectError) as ei:
        checks.check_series(s, members(6))
    assert ei.value.kind == "inconsistent stations" and word in ei.value.message
    assert ei.value.member == "m4.dcm"


def test_xy_within_a_hundredth_of_a_pixel_passes():
    s = [sl(10.0 - 3.0 * k) for k in range(6)]
    s[2] = sl(10.0 - 3.0 * 2, x=-250.0 + 0.015)
    assert checks.check_series(s, members(6)) == []


def test_series_are_checked_separately():
    a = [sl(10.0 - 3.0 * k, sn=3) for k in range(4)]
    b = [sl(100.0 - 4.5 * k, sn=4, x=-200.0, spacing=2.0) for k in range(4)]
    single = [sl(0.0, sn=9)]
    assert checks.check_series(a + b + single, members(9)) == []


# both readers ---------------------------------------------------------------------------

MUTATIONS = [("BitsAllocated", 8), ("BitsStored", 17), ("BitsStored", 6), ("SamplesPerPixel", 0),
             ("PixelRepresentation", 1), ("PixelSpacing", "nan\\nan"),
             ("PixelSpacing", "1e9\\1e9"), ("ImagePositionPatient", "-1e9\\-1e9\\-1e9"),
             ("ImagePositionPatient", "0\\inf\\0"), ("Rows", 5), ("Columns", 2),
             ("PixelData", b"\x01\x02" * 5)]


@pytest.mark.parametrize("tag, value", MUTATIONS, ids=[f"{t}={v!r}" for t, v in MUTATIONS])
def test_both_readers_refuse_alike(tag, value):
    buf = set_value(slice_file(), tag, value)
    with pytest.raises(SubjectError) as fast:
        read_slice(buf)
    with pytest.raises(SubjectError) as slow:
        read_slice(strip_preamble(buf))  # no preamble: only pydicom reads it
    assert fast.value.kind == slow.value.kind == "corrupt dicom"
    assert fast.value.message == slow.value.message
    # header-only reads (finding series without a manifest) are not checked
    assert read_slice(buf, with_pixels=False).series_number == 4


def test_both_readers_accept_and_agree_on_a_good_slice():
    buf = slice_file()
    a, b = read_slice(buf), read_slice(strip_preamble(buf))
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(a.position, b.position)
    assert (a.bits_allocated, a.pixel_bytes) == (b.bits_allocated, b.pixel_bytes) == (16, 24)


# reading a subject ----------------------------------------------------------------------

MANIFEST_HEADER = "filename,patientid,studyid,aet,date,series discription"


def write_subject(path: Path, extra=(), rows_extra=(), n=3, manifest=True) -> Path:
    """Water (series 4) and fat (series 3) series of ``n`` slices, 3 mm apart."""
    members, rows = [], []
    for sn, c in ((3, "F"), (4, "W")):
        for k in range(n):
            name = f"s{sn}_{k}.dcm"
            members.append((name, slice_file(sn=sn, desc=f"Dixon_noBH_{c}", z=10.0 - 3 * k)))
            rows.append(f"{name},1,2,AET,Aug 30, 2015 1 AM,Dixon_noBH_{c}")
    members += list(extra)
    rows += list(rows_extra)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        if manifest:
            zf.writestr("manifest.cvs", "\n".join([MANIFEST_HEADER] + rows) + "\n")
    return path


def read(path: Path, limits: Limits | None = None):
    with SubjectArchive(path, limits or Limits()) as a:
        return read_water_fat(a)


def test_pixel_budget_of_a_subject(tmp_path):
    p = write_subject(tmp_path / "1_20201_2_0.zip")
    assert len(read(p, Limits(max_subject_pixels=6 * 12)).slices) == 6
    with pytest.raises(SubjectError) as ei:
        read(p, Limits(max_subject_pixels=6 * 12 - 1))
    assert ei.value.kind == "limit exceeded" and ei.value.member == "s4_2.dcm"


def test_missing_middle_slice_read_with_warning(tmp_path):
    zs = [10.0, 7.0, 1.0]  # 4.0 missing
    extra = [(f"w{k}.dcm", slice_file(sn=5, desc="Dixon_noBH_W", z=z, x=-100.0))
             for k, z in enumerate(zs)]
    extra += [(f"f{k}.dcm", slice_file(sn=6, desc="Dixon_noBH_F", z=z, x=-100.0))
              for k, z in enumerate(zs)]
    rows = [f"{n},1,2,AET,Aug 30, 2015 1 AM,Dixon_noBH_{n[0].upper()}" for n, _ in extra]
    r = read(write_subject(tmp_path / "2_20201_2_0.zip", extra, rows))
    assert sum("missing between" in w for w in r.warnings) == 2
    assert len(r.slices) == 12


def test_ambiguous_duplicate_member_is_corrupt(tmp_path):
    p = write_subject(tmp_path / "3_20201_2_0.zip")
    with zipfile.ZipFile(p, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("s4_1.dcm", slice_file(sn=4, desc="Dixon_noBH_W", z=99.0))
    with pytest.raises(SubjectError) as ei:
        read(p)
    assert ei.value.kind == "corrupt dicom" and ei.value.member == "s4_1.dcm"
    assert "2 different members" in ei.value.message


def test_exact_duplicate_member_is_harmless(tmp_path):
    p = write_subject(tmp_path / "4_20201_2_0.zip")
    with zipfile.ZipFile(p, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("s4_1.dcm", slice_file(sn=4, desc="Dixon_noBH_W", z=7.0))
    assert len(read(p).slices) == 6


def test_members_missing_from_the_manifest_are_warned(tmp_path):
    extra = [("stray.dcm", slice_file(sn=4, desc="Dixon_noBH_W", z=-20.0))]
    r = read(write_subject(tmp_path / "5_20201_2_0.zip", extra))
    assert any("not listed in manifest" in w and "stray.dcm" in w for w in r.warnings)
    assert len(r.slices) == 6


def test_without_manifest_an_unreadable_dicom_member_fails(tmp_path):
    bad = set_value(slice_file(sn=4, desc="Dixon_noBH_W", z=-20.0), "PixelSpacing", None)
    p = write_subject(tmp_path / "6_20201_2_0.zip", [("bad.dcm", bad)], manifest=False)
    with pytest.raises(SubjectError) as ei:
        read(p)
    assert ei.value.kind == "corrupt dicom" and ei.value.member == "bad.dcm"


def test_without_manifest_other_files_are_skipped(tmp_path):
    p = write_subject(tmp_path / "7_20201_2_0.zip", [("notes.txt", b"hello")], manifest=False)
    r = read(p)
    assert r.source == "headers" and len(r.slices) == 6
    assert any("skipped member notes.txt" in w for w in r.warnings)
