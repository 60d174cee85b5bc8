"""Grouping slices into stations and making water and fat consistent (sections 2-3)."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.errors import SubjectError
from mimir.fusion.stations import SliceStack, group_stations, make_consistent
from mimir.reading.dicom import DicomSlice


def sl(sn, desc, z, time="100000.000000", rows=3, cols=2, x=-250.0, value=None):
    px = np.full((rows, cols), float(z if value is None else value), dtype=np.float32)
    return DicomSlice(series_number=sn, description=desc,
                      position=np.array([x, -190.0, z], dtype=np.float32),
                      spacing=np.array([2.5, 2.25], dtype=np.float32), series_time=time,
                      series_uid="", instance_number=None, rows=rows, cols=cols, pixels=px)


def test_group_orders_series_and_slices():
    slices = [sl(4, "Dixon_noBH_W", 3.0), sl(3, "Dixon_noBH_F", 0.0, x=-260.0),
              sl(4, "Dixon_noBH_W", 9.0), sl(3, "Dixon_noBH_F", 9.0), sl(4, "Dixon_noBH_W", 6.0),
              sl(3, "Dixon_noBH_F", 4.5, x=-255.0)]
    st = group_stations(slices)
    assert [s.series_number for s in st] == [3, 4]
    fat, water = st
    # position: element-wise maximum (x from one slice, z from another)
    np.testing.assert_array_equal(fat.position, np.array([-250.0, -190.0, 9.0], np.float32))
    # slices z descending, top first
    assert fat.voxels[:, 0, 0].tolist() == [9.0, 4.5, 0.0]
    assert water.voxels[:, 0, 0].tolist() == [9.0, 6.0, 3.0]
    assert water.shape == (3, 2, 3)
    np.testing.assert_allclose(water.spacing, [2.5, 2.25, 3.0])
    np.testing.assert_allclose(fat.spacing, [2.5, 2.25, 4.5])


def test_name_and_time_from_first_slice_in_manifest_order():
    slices = [sl(5, "Dixon_noBH_W", 0.0, time="2"), sl(5, "other", 3.0, time="1")]
    (st,) = group_stations(slices)
    assert st.name == "Dixon_noBH_W" and st.time == "2"


def test_mixed_slice_sizes_fail():
    with pytest.raises(SubjectError) as ei:
        group_stations([sl(1, "Dixon_noBH_W", 0.0), sl(1, "Dixon_noBH_W", 3.0, rows=4)])
    assert ei.value.kind == "inconsistent stations"


def station_pair(sn_f, sn_w, top, n=3, time="100000.000000", rows_f=3, value=1.0):
    zs = [top - 3.0 * k for k in range(n)]
    return ([sl(sn_f, "Dixon_noBH_F", z, time=time, rows=rows_f, value=value) for z in zs]
            + [sl(sn_w, "Dixon_noBH_W", z, time=time, value=value) for z in zs])


def test_consistent_orders_by_z_descending():
    slices = station_pair(3, 4, 0.0) + station_pair(7, 8, 100.0)
    ss = make_consistent(group_stations(slices))
    assert [s.series_number for s in ss.water] == [8, 4]
    assert [s.series_number for s in ss.fat] == [7, 3]
    assert ss.warnings == [] and ss.notes == {"superimposed": 0, "cropped": 0}


def test_superimposed_keeps_latest_time_without_dot():
    slices = (station_pair(3, 4, 0.0, time="101112.900000", value=1.0)
              + station_pair(7, 8, 50.0)
              + station_pair(25, 26, 0.0, time="101113.100000", value=2.0))
    ss = make_consistent(group_stations(slices))
    assert [s.series_number for s in ss.water] == [8, 26]
    assert [s.series_number for s in ss.fat] == [7, 25]
    assert ss.notes["superimposed"] == 1
    assert any("superimposed" in w for w in ss.warnings)


def test_mismatched_shapes_cropped_low_indices():
    slices = station_pair(3, 4, 0.0, rows_f=2)
    ss = make_consistent(group_stations(slices))
    assert ss.water[0].shape == ss.fat[0].shape == (2, 2, 3)
    assert ss.notes["cropped"] == 1 and ss.warnings


def test_missing_fat_or_water():
    with pytest.raises(SubjectError) as ei:
        make_consistent(group_stations([sl(4, "Dixon_noBH_W", z) for z in (0.0, 3.0)]))
    assert ei.value.kind == "missing water or fat"


def test_unpaired_station_is_inconsistent():
    slices = station_pair(3, 4, 0.0) + [sl(8, "Dixon_noBH_W", z) for z in (50.0, 47.0)]
    with pytest.raises(SubjectError) as ei:
        make_consistent(group_stations(slices))
    assert ei.value.kind == "inconsistent stations"


def test_position_disagreement_fails():
    slices = [sl(3, "Dixon_noBH_F", z, x=-240.0) for z in (0.0, 3.0)]
    slices += [sl(4, "Dixon_noBH_W", z) for z in (0.0, 3.0)]
    with pytest.raises(SubjectError) as ei:
        make_consistent(group_stations(slices))
    assert ei.value.kind == "inconsistent stations"
    assert "positions disagree" in ei.value.message


def test_slice_stack_behaves_as_the_stacked_array():
    rng = np.random.default_rng(0)
    planes = [rng.uniform(0, 9, (4, 5)).astype(np.float32) for _ in range(6)]
    stack = SliceStack(planes)
    full = np.stack(planes)
    assert stack.shape == full.shape and stack.dtype == full.dtype and len(stack) == 6
    np.testing.assert_array_equal(np.asarray(stack), full)
    assert stack[2] is planes[2]  # a slice by number: no copy
    for key in (slice(1, 4), slice(None, None, 2), (slice(0, 3), slice(1, 3), slice(None, 4))):
        part = stack[key]
        assert isinstance(part, SliceStack)
        np.testing.assert_array_equal(np.asarray(part), full[key])
    np.testing.assert_array_equal(stack[:, 0, 0], full[:, 0, 0])  # anything else: stacked
    np.testing.assert_array_equal(np.array(stack, dtype=np.float64), full.astype(np.float64))
    assert np.asarray(stack[4:4]).shape == (0, 4, 5)


def test_grouped_stations_keep_slices_as_read():
    slices = [sl(4, "Dixon_noBH_W", z) for z in (3.0, 9.0, 6.0)]
    (st,) = group_stations(slices)
    assert isinstance(st.voxels, SliceStack)
    assert st.voxels[0] is slices[1].pixels  # top slice first, not copied
