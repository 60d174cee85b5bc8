"""Placement on the output grid and resampling (preprocessing.md section 4)."""

from __future__ import annotations

import numpy as np
import pytest

import tests.reference_preprocessing as ref
from mimir.fusion.placement import OUTPUT_SPACING, place_stations
from mimir.fusion.resample import resample_station

S = np.array([2.23214293, 2.23214293, 3.0])


def test_output_spacing():
    np.testing.assert_array_equal(OUTPUT_SPACING, S)


def test_on_grid_stations_are_not_resampled():
    # station 2 sits 3 columns to the left (x), 2 rows further (y), 20 slices down
    P = np.array([[0.0, 0.0, 0.0], [-3 * S[0], 2 * S[1], -20 * S[2]]])
    dims = np.array([[10, 12, 24], [11, 12, 30]])
    sp = np.tile(S, (2, 1))
    pl = place_stations(P, dims, sp)
    # R = (P - P0)/s = [[0,0,0],[-3,2,-20]]; x shifted by min -3, y by min 0, z negated;
    # columns 0 and 1 swapped -> (row offset, column offset, slice offset down)
    np.testing.assert_allclose(pl.R, [[0, 3, 0], [2, 0, 20]], atol=1e-9)
    np.testing.assert_allclose(pl.R_end, [[10, 15, 24], [13, 12, 50]], atol=1e-9)
    np.testing.assert_array_equal(pl.W, [[0, 3, 0], [2, 0, 20]])
    np.testing.assert_array_equal(pl.W_end, [[10, 15, 24], [13, 12, 50]])
    np.testing.assert_array_equal(pl.W_size, dims)
    assert pl.W.dtype == np.int64 and pl.W_size.dtype == np.int64
    assert not pl.resample.any()


def test_float32_positions_on_grid_stay_on_grid():
    P = np.array([[-250.0, -190.0, 100.0], [-250.0, -190.0, 10.0]], dtype=np.float32)
    dims = np.array([[168, 224, 64], [174, 224, 44]])
    sp = np.array([[S[0], S[1], 3.0], [S[0], S[1], 3.0]], dtype=np.float32)
    pl = place_stations(P, dims, sp)
    np.testing.assert_array_equal(pl.W[:, 2], [0, 30])
    assert not pl.resample.any()


def test_other_slice_spacing_is_resampled():
    P = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -150.0]])
    dims = np.array([[10, 10, 64], [10, 10, 44]])
    sp = np.array([[S[0], S[1], 3.0], [S[0], S[1], 4.5]])
    pl = place_stations(P, dims, sp)
    # 44 slices of 4.5 mm = 66 output slices: integer ends but a different size
    np.testing.assert_array_equal(pl.W_size[1], [10, 10, 66])
    np.testing.assert_array_equal(pl.W[1], [0, 0, 50])
    assert pl.resample.tolist() == [False, True]


def test_fractional_offset_is_resampled_but_tiny_one_is_not():
    dims = np.array([[10, 10, 10]] * 3)
    sp = np.tile(S, (3, 1))
    P = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -30.0 - 0.3 * 3], [0.0, 0.0, -60.0 - 0.005 * 3]])
    pl = place_stations(P, dims, sp)
    assert pl.resample.tolist() == [False, True, False]
    np.testing.assert_allclose(pl.R[1, 2], 10.3)
    np.testing.assert_array_equal(pl.W[1], [0, 0, 10])


def test_round_half_to_even():
    P = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -1.5], [0.0, 0.0, -4.5]])
    dims = np.array([[4, 4, 4]] * 3)
    pl = place_stations(P, dims, np.tile(S, (3, 1)))
    # R z = 0.5 and 1.5: numpy rounds half to even
    np.testing.assert_array_equal(pl.W[:, 2], [0, 0, 2])
    assert pl.resample.tolist() == [False, True, True]


def loop_resample_1d(values, size, scale, offset):
    """The spec's 1D rule, literally."""
    n = len(values)
    out = []
    for i in range(size):
        a = (i - offset) / scale
        i0 = int(np.trunc(a))
        i1 = i0 + 1
        a = min(max(a, 0), n - 1)
        i0 = min(max(i0, 0), n - 1)
        i1 = min(max(i1, 0), n - 1)
        d = a - i0
        out.append(d * values[i1] + (1 - d) * values[i0])
    return np.array(out)


def test_identity_when_on_grid():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 1000, (6, 4, 5)).astype(np.float32)  # (n, rows, cols)
    R = np.array([2.0, 3.0, 7.0])
    R_end = R + np.array([4, 5, 6])
    out = resample_station(A, R, R_end, R.astype(np.int64), np.array([4, 5, 6]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, A.astype(np.float64))


def test_hand_computed_linear_slice_axis():
    # 3 slices [0, 10, 20] stretched onto 5 output slices: scale 5/3, offset 0
    A = np.array([0.0, 10.0, 20.0]).reshape(3, 1, 1)
    out = resample_station(A, np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 5.0]),
                           np.array([0, 0, 0]), np.array([1, 1, 5]))
    # a = 0, 0.6, 1.2, 1.8, 2.4 -> the last clamps to 2 (edge value, no extrapolation)
    np.testing.assert_allclose(out.ravel(), [0.0, 6.0, 12.0, 18.0, 20.0], atol=1e-12)


def test_hand_computed_linear_with_offset_clamps_at_start():
    # 4 rows [1, 3, 7, 15] shrunk onto 3 rows (scale 0.75) starting 0.4 voxel late
    A = np.array([1.0, 3.0, 7.0, 15.0]).reshape(1, 4, 1)
    R = np.array([0.4, 0.0, 0.0])
    R_end = np.array([3.4, 1.0, 1.0])
    out = resample_station(A, R, R_end, np.array([0, 0, 0]), np.array([3, 1, 1]))
    # a = (i - 0.4) / 0.75 = -0.5333, 0.8, 2.1333 -> i0 = 0, 0, 2 (trunc toward zero)
    # i = 0: a clamps to 0, d = 0 -> 1; i = 1: 0.8*3 + 0.2*1 = 2.6;
    # i = 2: d = 0.1333 -> 0.1333*15 + 0.8667*7 = 8.0667
    d = (2 - 0.4) / 0.75 - 2
    np.testing.assert_allclose(out.ravel(), [1.0, 2.6, d * 15 + (1 - d) * 7], rtol=1e-12)


def test_clamp_to_edge_beyond_both_ends():
    A = np.array([5.0, 9.0]).reshape(1, 1, 2)
    # columns: 2 source columns over 6 output columns starting 2 voxels before W
    R = np.array([0.0, -2.0, 0.0])
    R_end = np.array([1.0, 0.0, 1.0])
    out = resample_station(A, R, R_end, np.array([0, -3, 0]), np.array([1, 6, 1]))
    # scale = 1, offset = 1: a = -1, 0, 1, 2, 3, 4
    np.testing.assert_allclose(out.ravel(), [5.0, 5.0, 9.0, 9.0, 9.0, 9.0])
    np.testing.assert_allclose(out.ravel(), loop_resample_1d([5.0, 9.0], 6, 1.0, 1.0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_resample_matches_literal_separable_rule(seed):
    rng = np.random.default_rng(seed)
    n, rows, cols = rng.integers(3, 8, 3)
    A = rng.normal(100, 30, (n, rows, cols)).astype(np.float32)
    dims = np.array([rows, cols, n], dtype=np.float64)
    R = rng.uniform(-1, 3, 3)
    sp_ratio = rng.uniform(0.6, 1.7, 3)
    R_end = R + dims * sp_ratio
    W = np.round(R).astype(np.int64)
    W_size = np.round(R_end).astype(np.int64) - W
    out = resample_station(A, R, R_end, W, W_size)
    assert out.shape == (W_size[2], W_size[0], W_size[1])
    scale = (R_end - R) / dims
    offset = R - W
    # literal: rows pass, columns pass, slices pass, on the (rows, cols, n) layout
    B = np.transpose(A, (1, 2, 0)).astype(np.float64)
    for ax in range(3):
        B = np.apply_along_axis(loop_resample_1d, ax, B, int(W_size[ax]), scale[ax], offset[ax])
    np.testing.assert_allclose(out, np.transpose(B, (2, 0, 1)), rtol=1e-12, atol=1e-9)
    # and the independent reference implementation of the test-suite agrees
    refout = ref.resample_station(np.transpose(A, (1, 2, 0)), R, R_end, W, W_size,
                                  dims.astype(np.int64))
    np.testing.assert_allclose(out, np.transpose(refout, (2, 0, 1)), rtol=1e-12, atol=1e-9)


def test_placement_matches_reference_on_phantom_like_geometry():
    P = np.array([[-250.0, -187.5, 600.0], [-250.0, -194.19643, 420.0],
                  [-250.0, -194.19643, 237.0], [-250.0, -180.80357, 60.0]], dtype=np.float32)
    dims = np.array([[168, 224, 64], [174, 224, 44], [174, 224, 44], [162, 224, 72]])
    sp = np.array([[S[0], S[1], 3.0], [S[0], S[1], 4.5], [S[0], S[1], 4.5],
                   [S[0], S[1], 3.5]], dtype=np.float32)
    pl = place_stations(P, dims, sp)
    stations = [{"position": P[i], "voxels": np.empty(tuple(dims[i]), np.uint8),
                 "spacing": sp[i]} for i in range(4)]
    g = ref.place_stations(stations)
    for key in ("R", "R_end", "W", "W_end", "W_size"):
        np.testing.assert_array_equal(getattr(pl, key), g[key], err_msg=key)
    expected = [ref.needs_resampling(g["R"][i], g["R_end"][i], g["W_size"][i], dims[i])
                for i in range(4)]
    assert pl.resample.tolist() == expected
