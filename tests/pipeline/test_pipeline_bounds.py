"""Plausibility and memory bounds of a subject's geometry (mimir.pipeline.bounds), checked
before fusion allocates anything of the grid's size."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.errors import SubjectError
from mimir.fusion.pipeline import fuse_stations
from mimir.fusion.placement import place_stations
from mimir.fusion.stations import Station, StationSet, group_stations, make_consistent
from mimir.limits import Limits
from mimir.pipeline import bounds
from mimir.reading.dicom import DicomSlice

PX = 500.0 / 224.0
#: (rows, slices, slice spacing) of the protocol's six stations.
PROTOCOL = ((168, 64, 3.0), (174, 44, 4.5), (174, 44, 4.5), (174, 44, 4.5), (162, 72, 3.5),
            (156, 64, 4.0))


def station(z_top, rows=174, cols=224, n=44, dz=4.5, x=-250.0, px=PX, sn=4, name="W"):
    return Station(series_number=sn, name=f"Dixon_noBH_{name}", time="1",
                   position=np.array([x, -190.0, z_top], dtype=np.float32),
                   voxels=np.zeros((n, rows, cols), dtype=np.float32),
                   spacing=np.array([px, px, dz], dtype=np.float32))


def protocol(gap=0.0, x_step=0.0) -> StationSet:
    water, top = [], 60.0
    for k, (rows, n, dz) in enumerate(PROTOCOL):
        water.append(station(top, rows=rows, n=n, dz=dz, x=-250.0 + k * x_step, sn=4 * k + 4))
        top = top - n * dz + 37.3 - gap
    fat = [Station(s.series_number - 1, "Dixon_noBH_F", s.time, s.position, s.voxels,
                   s.spacing) for s in water]
    return StationSet(water=water, fat=fat)


def test_protocol_geometry_passes():
    bounds.check_geometry(protocol())


def test_protocol_grid_is_well_inside_the_limits():
    ss = protocol()
    P = np.stack([s.position for s in ss.water])
    dims = np.array([s.shape for s in ss.water])
    pl = place_stations(P, dims, np.stack([s.spacing for s in ss.water]))
    rows, cols, n = bounds.grid_shape(pl)
    assert (rows, cols) == (174, 224) and 360 < n < 380  # about 1.1 m
    assert rows * cols * n < Limits().max_fused_voxels / 2


@pytest.mark.parametrize("kw, word", [
    ({"n": 112, "dz": 4.5}, "slices span 504"),  # 504 mm > 500
    ({"rows": 314}, "rows span 701"),  # 314 x 2.232 = 701 mm > 700
    ({"cols": 314}, "columns span 701"),
    ({"dz": 0.9, "n": 10}, "slice spacing 0.9"),
    ({"dz": 10.5, "n": 10}, "slice spacing 10.5"),
    ({"dz": float("nan")}, "not finite"),
    ({"dz": 1e9 / 43, "n": 44}, "slice spacing"),  # one slice at -1e9 mm, unchecked
    ({"z_top": 6000.0}, "from the scanner's origin"),
])
def test_implausible_station_fails(kw, word):
    args = {"z_top": 0.0, **kw}
    with pytest.raises(SubjectError) as ei:
        bounds.check_station(station(**args))
    assert ei.value.kind == "implausible geometry"
    assert word in ei.value.message, ei.value.message


def test_station_at_the_bounds_passes():
    bounds.check_station(station(0.0, rows=313, cols=313, n=50, dz=10.0))
    bounds.check_station(station(0.0, n=500, dz=1.0))


def test_fused_grid_longer_than_2_m_fails():
    bounds.check_geometry(protocol(gap=160.0))  # about 1.9 m
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(protocol(gap=200.0))
    assert ei.value.kind == "implausible geometry" and "along z" in ei.value.message


def test_fused_grid_wider_than_the_bore_fails():
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(protocol(x_step=45.0))  # 500 + 5 x 45 mm
    assert "along x" in ei.value.message


@pytest.mark.parametrize("what", ["the fused grid", "the placed stations together",
                                  "resampling one station"])
def test_voxel_limit(what):
    """Each of the three counts can be the one over the limit."""
    if what == "the fused grid":
        ss, cap = protocol(), 10_000_000  # grid 14.3 M, stations together 16.8 M
    elif what == "the placed stations together":
        # six stations stacked 1 mm apart: a small grid, six times the station voxels
        ss = StationSet(water=[station(-k * 1.0) for k in range(6)],
                        fat=[station(-k * 1.0, name="F") for k in range(6)])
        cap = 4 * 174 * 224 * 66
    else:
        # 1 mm slices resampled to 3 mm: 400 input slices, 134 placed
        ss = StationSet(water=[station(0.0, n=400, dz=1.0)], fat=[station(0.0, n=400, dz=1.0,
                                                                          name="F")])
        cap = 174 * 224 * 300
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(ss, Limits(max_fused_voxels=cap))
    assert ei.value.kind == "implausible geometry"
    assert what in ei.value.message and "--max-fused-voxels" in ei.value.message
    if what == "the placed stations together":  # within the limit, still no blend
        with pytest.raises(SubjectError, match="too few to blend"):
            bounds.check_geometry(ss, Limits(max_fused_voxels=10**9))
    else:
        bounds.check_geometry(ss, Limits(max_fused_voxels=10**9))


@pytest.mark.parametrize("kw, ok", [({"n": 3, "dz": 3.0}, False), ({"n": 9, "dz": 3.0}, True),
                                    ({"rows": 22}, False), ({"rows": 23}, True)])
def test_grid_too_small_for_an_image_fails(kw, ok):
    """The procedure drops 4 slices at each end and 22 rows of table: a smaller grid
    leaves nothing to make the image from."""
    ss = StationSet(water=[station(0.0, **kw)], fat=[station(0.0, name="F", **kw)])
    if ok:
        bounds.check_geometry(ss)
        return
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(ss)
    assert ei.value.kind == "implausible geometry" and "too small" in ei.value.message


def test_resampling_voxels_takes_the_larger_size_per_axis():
    dims = np.array([[100, 200, 400], [10, 10, 10]])
    W = np.array([[150, 100, 134], [0, 10, 10]])
    assert bounds.resampling_voxels(dims, W).tolist() == [150 * 200 * 400, 0]


def test_one_slice_at_minus_1e9_is_caught_before_fusion_even_unchecked():
    """The reading checks refuse that slice; the bounds alone would too (before any
    allocation of the grid's size)."""
    def sl(sn, desc, z):
        return DicomSlice(series_number=sn, description=desc,
                          position=np.array([-250, -190, z], dtype=np.float32),
                          spacing=np.array([PX, PX], dtype=np.float32), series_time="1",
                          series_uid="", instance_number=None, rows=4, cols=3,
                          pixels=np.ones((4, 3), dtype=np.float32))
    zs = [10.0 - 4.5 * k for k in range(44)]
    slices = [sl(3, "Dixon_noBH_F", z) for z in zs]
    slices += [sl(4, "Dixon_noBH_W", -1e9 if k == 20 else z) for k, z in enumerate(zs)]
    ss = make_consistent(group_stations(slices))
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(ss)
    assert ei.value.kind == "implausible geometry"


@pytest.mark.parametrize("thin, ok", [(4, False), (5, True)])
def test_station_thinner_than_its_overlap_fails(thin, ok):
    """A lower station of 4 slices that overlaps its neighbour by 4 leaves the blend no
    slice to read (it used to end as ``numerical failure: IndexError``); 5 slices fuse."""
    def pair(name):
        sts = [station(0.0, n=44, dz=3.0, sn=4, name=name),
               station(-132.0 + 12.0, n=thin, dz=3.0, sn=8, name=name)]
        for st in sts:
            st.voxels[:] = 100.0
        return sts
    ss = StationSet(water=pair("W"), fat=pair("F"))
    if ok:
        bounds.check_geometry(ss)
        fused = fuse_stations(ss)
        assert fused.trim.overlaps == [4] and np.all(np.isfinite(fused.water))
        return
    with pytest.raises(SubjectError) as ei:
        bounds.check_geometry(ss)
    assert ei.value.kind == "implausible geometry"
    assert "overlap by 4 slices" in ei.value.message and "station 2 keeps only 4" in \
        ei.value.message
