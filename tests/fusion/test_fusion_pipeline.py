"""Fusing a subject's stations equals the stage-by-stage procedure, bit for bit.

``fuse_stations`` writes most slices straight into the fused volume and fades and
corrects only the overlap slices; where that does not apply (short stations,
non-neighbours overlapping) it takes whole stations. Both must give exactly what the
stages give one after the other: resample every station whole, trim, fade and correct,
sum, orient.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mimir.fusion.fuse import apply_trim, fade_and_correct, orient, sum_stations, trim_overlaps
from mimir.fusion.pipeline import fuse_stations, has_sign_bits, station_maps, writes_direct
from mimir.fusion.placement import OUTPUT_SPACING, place_stations
from mimir.fusion.resample import resample_station
from mimir.fusion.stations import SliceStack, StationSet
from mimir.qc.measures import overlap_swap_scores
from tests.fusion.fusion_helpers import make_set, ukb_like_set

S = OUTPUT_SPACING


def stagewise(ss: StationSet):
    P = np.stack([s.position for s in ss.water])
    dims = np.array([s.shape for s in ss.water])
    pl = place_stations(P, dims, np.stack([s.spacing for s in ss.water]))
    trim = trim_overlaps(pl.W, pl.W_end, pl.W_size)
    out = {}
    for kind, stations in (("water", ss.water), ("fat", ss.fat)):
        st = []
        for i, s in enumerate(stations):
            a = np.asarray(s.voxels)
            if pl.resample[i]:
                a = resample_station(a, pl.R[i], pl.R_end[i], pl.W[i], pl.W_size[i])
            st.append(apply_trim(a, int(trim.cut_top[i]), int(trim.cut_bottom[i])))
        out[kind + "_stations"] = st
        out[kind] = orient(sum_stations(fade_and_correct(st, trim.overlaps), trim.W,
                                        trim.W_end))
    out["swap"] = overlap_swap_scores(out["water_stations"], out["fat_stations"],
                                      trim.overlaps)
    out["direct"] = (writes_direct(ss.water, station_maps(ss.water, pl), trim))
    return out


def assert_same(ss: StationSet) -> bool:
    exp = stagewise(ss)
    got = fuse_stations(ss)
    for kind in ("water", "fat"):
        assert got.__dict__[kind].shape == exp[kind].shape
        assert got.__dict__[kind].dtype == np.float64
        np.testing.assert_array_equal(got.__dict__[kind], exp[kind])
    assert len(got.swap_scores) == len(exp["swap"])
    for a, b in zip(got.swap_scores, exp["swap"], strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert (np.isnan(a[k]) and np.isnan(b[k])) or a[k] == b[k]
    # stations whose slices are not stacked (as read from DICOM) fuse the same
    stacked = StationSet(water=[replace(s, voxels=SliceStack(list(s.voxels))) for s in ss.water],
                         fat=[replace(s, voxels=SliceStack(list(s.voxels))) for s in ss.fat])
    again = fuse_stations(stacked)
    np.testing.assert_array_equal(again.water, got.water)
    np.testing.assert_array_equal(again.fat, got.fat)
    np.testing.assert_equal(again.swap_scores, got.swap_scores)
    return exp["direct"]


@pytest.mark.parametrize("seed", range(4))
def test_ukb_like_six_stations(seed):
    ss = ukb_like(seed)
    if seed % 2:  # stations as read from DICOM: slices not stacked
        for st in ss.water + ss.fat:
            st.voxels = SliceStack(list(st.voxels))
    assert assert_same(ss)


def ukb_like(seed):
    return ukb_like_set(np.random.default_rng(seed), rows=(16, 22), x_step=float(S[0]))


@pytest.mark.parametrize("case", ["gap", "touching", "small_overlap", "short_middle",
                                  "on_grid", "single"])
def test_irregular_geometries(case):
    rng = np.random.default_rng(11)
    if case == "gap":  # the stations do not meet: nothing to fade
        ss = make_set(rng, [20, 20], [3.0, 4.5], [300.0, 300.0 - 20 * 3.0 - 15.0])
        direct = True
    elif case == "touching":
        ss = make_set(rng, [20, 14], [3.0, 4.5], [300.0, 300.0 - 20 * 3.0])
        direct = True
    elif case == "small_overlap":  # 3 slices: kept as they are
        ss = make_set(rng, [20, 14, 16], [3.0, 4.5, 3.0], [300.0, 249.0, 195.0])
        direct = True
    elif case == "short_middle":  # a station that is all overlap: whole stations
        ss = make_set(rng, [24, 5, 24], [3.0, 3.0, 3.0], [300.0, 240.0, 228.0])
        direct = False
    elif case == "on_grid":  # no station resampled
        ss = make_set(rng, [20, 20, 20], [3.0, 3.0, 3.0], [300.0, 258.0, 216.0])
        direct = True
    else:
        ss = make_set(rng, [9], [4.5], [100.0])
        direct = True
    assert assert_same(ss) == direct


def test_station_inside_its_neighbours_overlap_fails_as_the_stages_do():
    # station 2 (3 slices) lies within the overlap of stations 1 and 3: the fade
    # reaches past its end, in the stage-by-stage procedure as in fuse_stations
    ss = make_set(np.random.default_rng(12), [24, 3, 24], [3.0, 3.0, 3.0],
                  [300.0, 240.0, 234.0])
    with pytest.raises(IndexError):
        stagewise(ss)
    with pytest.raises(IndexError):
        fuse_stations(ss)


def test_signed_values_and_negative_zero():
    """Signed pixel data: ``0 + value`` turns -0.0 into +0.0, in both procedures."""
    rng = np.random.default_rng(13)
    ss = make_set(rng, [20, 14, 16], [3.0, 4.5, 3.0], [300.0, 249.0, 195.0])
    for st in ss.water + ss.fat:
        st.voxels -= 1500
        st.voxels[:, 2:5, 3:6] = -0.0
    assert assert_same(ss)
    fused = fuse_stations(ss)
    zeros = fused.water == 0
    assert zeros.any() and not np.signbit(fused.water[zeros]).any()


def test_has_sign_bits():
    assert not has_sign_bits(np.array([0.0, 1.0, 3.5], dtype=np.float32))
    assert has_sign_bits(np.array([0.0, -0.0], dtype=np.float32))
    assert has_sign_bits(np.array([2.0, -1.0]))
    assert has_sign_bits(-np.array([np.nan]))
    assert not has_sign_bits(np.array([-3, 4]))  # integers convert to no -0.0
    assert has_sign_bits(np.array([[1.0, -2.0]], dtype=np.float32)[:, 1:])
    assert not has_sign_bits(np.zeros((0, 3), dtype=np.float32))
    assert has_sign_bits(SliceStack([np.ones((2, 2), np.float32), -np.ones((2, 2), np.float32)]))
