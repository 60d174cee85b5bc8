"""A clean phantom zip, read back with pydicom, follows ukb-20201-format.md.

The expected values are copied from the format document (not imported from the
generator), so a change to the generator that breaks the documented layout fails here.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

#: station -> (rows, cols, slices, slice spacing in mm), from the format document.
STATIONS = {1: (168, 224, 64, 3.0), 2: (174, 224, 44, 4.5), 3: (174, 224, 44, 4.5),
            4: (174, 224, 44, 4.5), 5: (162, 224, 72, 3.5), 6: (156, 224, 64, 4.0)}
CONTRASTS = ("in", "opp", "F", "W")
SPACING = 2.23214293
UID_PREFIX = "1.3.12.2.1107.5.2.18."


def description(k: int, c: str) -> str:
    return ("Dixon_BH_17s_" if 2 <= k <= 4 else "Dixon_noBH_") + c


def test_zip_name_and_flat_members(clean):
    assert re.fullmatch(r"\d{7}_20201_2_0\.zip", clean.path.name)
    assert all("/" not in n and "\\" not in n for n in clean.names)
    assert clean.unreadable == []
    # every member is a slice or the one manifest
    assert len(clean.dcm_names) + len(clean.manifest_names) == len(clean.names)
    assert len(clean.manifest_names) == 1


def test_members_have_preamble_and_explicit_little_endian(clean):
    for name in clean.dcm_names:
        head = clean.heads[name]
        assert len(head) == 132 and head[128:132] == b"DICM", name
        ds = clean.datasets[name]
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_member_names_are_sop_instance_uids(clean):
    uids = set()
    for name in clean.dcm_names:
        ds = clean.datasets[name]
        assert name == f"{ds.SOPInstanceUID}.dcm"
        assert name.startswith(UID_PREFIX)
        assert len(str(ds.SOPInstanceUID)) <= 64
        uids.add(str(ds.SOPInstanceUID))
    assert len(uids) == len(clean.dcm_names)


def test_twenty_four_series_with_documented_numbers_and_descriptions(clean):
    assert sorted(clean.series) == list(range(1, 25))
    for k in range(1, 7):
        for i, c in enumerate(CONTRASTS):
            s = clean.series[4 * k - 3 + i]
            assert s.description == description(k, c), (k, c)


def test_station_geometry_table(clean):
    for k, (rows, cols, n, dz) in STATIONS.items():
        for c in CONTRASTS:
            s = clean.station(k)[c]
            assert (s.rows, s.cols) == (rows, cols), (k, c)
            assert s.pixels.shape == (n, rows, cols), (k, c)
            assert len(s.names) == n
            assert s.instances == list(range(1, n + 1))
            spacing = (s.z.max() - s.z.min()) / (n - 1)
            assert spacing == pytest.approx(dz, abs=1e-4), (k, c)


def test_pixels_spacing_orientation_and_position(clean):
    for k, (rows, _cols, _n, dz) in STATIONS.items():
        for c in CONTRASTS:
            s = clean.station(k)[c]
            assert s.pixel_spacing == [SPACING, SPACING]
            assert s.orientation == [1, 0, 0, 0, 1, 0]
            assert s.pixels.dtype == np.uint16
            np.testing.assert_allclose(s.positions[:, 0], -112 * SPACING, atol=1e-3)
            np.testing.assert_allclose(s.positions[:, 1], -(rows / 2) * SPACING, atol=1e-3)
            # z decreases by the slice spacing from one instance to the next
            np.testing.assert_allclose(np.diff(s.z), -dz, atol=1e-3)
            np.testing.assert_allclose(s.slice_location, s.z, atol=1e-6)


def test_pixel_header_is_unsigned_16_bit(clean):
    for name in clean.dcm_names:
        ds = clean.datasets[name]
        assert ds.BitsAllocated == 16
        assert ds.PixelRepresentation == 0
        assert ds.SamplesPerPixel == 1
    # values fit the declared BitsStored, so no reader masks them
    bits = int(clean.datasets[clean.dcm_names[0]].BitsStored)
    assert max(int(s.pixels.max()) for s in clean.series.values()) < 2 ** bits
    # and the images are not empty
    assert all(s.pixels.max() > 100 for s in clean.series.values())


def test_series_tags_present_and_formatted(clean):
    uids = set()
    for s in clean.series.values():
        assert re.fullmatch(r"\d{6}\.\d{6}", s.time), s.time
        assert s.uid.startswith(UID_PREFIX)
        uids.add(s.uid)
        for name in s.names:
            ds = clean.datasets[name]
            for tag in ("SeriesTime", "SeriesInstanceUID", "InstanceNumber", "Rows",
                        "Columns", "SeriesNumber", "SeriesDescription",
                        "ImagePositionPatient", "PixelSpacing"):
                assert tag in ds, (name, tag)
            assert ds.SeriesInstanceUID == s.uid
            assert ds.SeriesTime == s.time
    assert len(uids) == 24


def test_stations_acquired_in_order(clean):
    times = [float(clean.station(k)["W"].time) for k in range(1, 7)]
    assert times == sorted(times)
    assert len(set(times)) == 6
    # the four contrasts of a station share one position
    for k in range(1, 7):
        st = clean.station(k)
        for c in ("in", "opp", "F"):
            np.testing.assert_array_equal(st[c].positions, st["W"].positions)


def test_neighbouring_stations_overlap_35_to_40_mm(clean):
    tops, bottoms = [], []
    for k in range(1, 7):
        s = clean.station(k)["W"]
        n = len(s.z)
        dz = (s.z.max() - s.z.min()) / (n - 1)
        tops.append(s.z.max())
        bottoms.append(s.z.max() - n * dz)
    for k in range(5):
        overlap = tops[k + 1] - bottoms[k]
        assert 35.0 - 1e-3 <= overlap <= 40.0 + 1e-3, (k + 1, overlap)
        assert tops[k + 1] < tops[k]
    # the fused body covers about 1.1 m
    assert 1000 < tops[0] - bottoms[-1] < 1200


def test_in_and_opp_are_sum_and_difference_of_water_and_fat(clean):
    for k in range(1, 7):
        st = clean.station(k)
        w = st["W"].pixels.astype(np.int64)
        f = st["F"].pixels.astype(np.int64)
        np.testing.assert_array_equal(st["in"].pixels.astype(np.int64), w + f)
        np.testing.assert_array_equal(st["opp"].pixels.astype(np.int64), np.abs(w - f))
        # water and fat are different images (not a copy of each other)
        assert np.mean(np.abs(w - f)) > 10


def test_manifest_layout(clean):
    assert clean.manifest_names == ["manifest.cvs"]
    data = clean.member("manifest.cvs")
    assert b"\r" not in data
    assert data.endswith(b"\n") and not data.endswith(b"\n\n")
    lines = data.decode("ascii").split("\n")[:-1]
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    assert header[0] == "filename"
    assert "series discription" in header
    assert len(rows) == len(clean.dcm_names)
    # the unquoted date comma: one field more than the header
    assert {len(r) for r in rows} == {len(header) + 1}
    assert sorted(r[0] for r in rows) == sorted(clean.dcm_names)
    # the series description sits one column to the right of its header
    col = header.index("series discription") + 1
    for r in rows:
        assert r[col] == clean.datasets[r[0]].SeriesDescription


def _original_style_descriptions(text: str) -> list[str]:
    """Parse a manifest the way the original MIMIR did: the description column's index is
    taken from the first data row holding a ``Dixon_noBH_F`` field, then every row
    (the header included) is indexed with it."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    rows = [ln.split(",") for ln in lines]
    col = next(i for r in rows[1:] for i, f in enumerate(r) if "Dixon_noBH_F" in f)
    return [r[col] for r in rows]  # IndexError where a row is too short


def test_manifest_reads_with_a_header_indexing_parser(clean):
    text = clean.member("manifest.cvs").decode("ascii")
    header = text.split("\n")[0].split(",")
    descs = _original_style_descriptions(text)
    # the header holds every field the data rows use up to the description column
    col = next(i for i, f in enumerate(text.split("\n")[1].split(",")) if "Dixon_" in f)
    assert len(header) > col
    assert descs[0] == header[col]
    assert set(descs[1:]) == {clean.datasets[n].SeriesDescription for n in clean.dcm_names}
    # the column after the description is each file's size
    for line in text.split("\n")[1:-1]:
        fields = line.split(",")
        assert int(fields[col + 1]) == len(clean.member(fields[0]))
