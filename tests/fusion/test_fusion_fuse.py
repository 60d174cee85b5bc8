"""Overlap trimming, fading, intensity correction and summing (sections 5 and 6)."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.fusion.fuse import (
    apply_trim,
    fade_and_correct,
    fuse_signal,
    orient,
    sum_stations,
    trim_overlaps,
)


def geometry(starts, sizes, rows=4, cols=3):
    """W, W_end, W_size for stations stacked along the slice axis."""
    W = np.array([[0, 0, s] for s in starts])
    W_size = np.array([[rows, cols, n] for n in sizes])
    return W, W + W_size, W_size


@pytest.mark.parametrize("gap", [-3, 0])
def test_non_positive_overlap_unchanged_and_recorded(gap):
    # station 0 ends at 10; station 1 starts at 10 - gap
    W, W_end, W_size = geometry([0, 10 - gap], [10, 6])
    t = trim_overlaps(W, W_end, W_size)
    assert t.overlaps == [gap] and t.raw_overlaps == [gap]
    np.testing.assert_array_equal(t.W, W)
    np.testing.assert_array_equal(t.W_end, W_end)
    np.testing.assert_array_equal(t.W_size, W_size)
    assert t.cut_top.tolist() == [0, 0] and t.cut_bottom.tolist() == [0, 0]


@pytest.mark.parametrize("overlap", [1, 5, 8])
def test_small_overlap_unchanged(overlap):
    W, W_end, W_size = geometry([0, 20 - overlap], [20, 15])
    t = trim_overlaps(W, W_end, W_size)
    assert t.overlaps == [overlap] and t.raw_overlaps == [overlap]
    np.testing.assert_array_equal(t.W, W)
    np.testing.assert_array_equal(t.W_size, W_size)


@pytest.mark.parametrize("overlap, cut_a, cut_b", [
    (9, 0, 1),    # excess 1: c = 0.5
    (10, 1, 1),   # excess 2, even
    (13, 2, 3),   # excess 5, odd: floor to the upper station, ceil to the lower
    (16, 4, 4),   # excess 8, even
])
def test_large_overlap_trimmed_to_eight(overlap, cut_a, cut_b):
    W, W_end, W_size = geometry([0, 30 - overlap], [30, 25])
    W0, We0, Ws0 = W.copy(), W_end.copy(), W_size.copy()
    t = trim_overlaps(W, W_end, W_size)
    assert t.overlaps == [8] and t.raw_overlaps == [overlap]
    assert t.W_end[0, 2] == 30 - cut_a and t.W_size[0, 2] == 30 - cut_a
    assert t.W[1, 2] == 30 - overlap + cut_b and t.W_size[1, 2] == 25 - cut_b
    assert t.W_end[1, 2] == W_end[1, 2] and t.W[0, 2] == 0
    assert t.cut_bottom.tolist() == [cut_a, 0] and t.cut_top.tolist() == [0, cut_b]
    assert t.W_end[0, 2] - t.W[1, 2] == 8
    # rows and columns untouched, inputs not modified
    np.testing.assert_array_equal(t.W[:, :2], W[:, :2])
    for a, b in ((W, W0), (W_end, We0), (W_size, Ws0)):
        np.testing.assert_array_equal(a, b)


def test_three_stations_middle_cut_both_sides():
    # overlaps: 12 (cut 2/2), 3 (kept), then 17 (cut 4/5) with a fourth station
    W, W_end, W_size = geometry([0, 28, 55, 66], [40, 30, 28, 20])
    t = trim_overlaps(W, W_end, W_size)
    assert t.raw_overlaps == [12, 3, 17]
    assert t.overlaps == [8, 3, 8]
    assert t.cut_top.tolist() == [0, 2, 0, 5]
    assert t.cut_bottom.tolist() == [2, 0, 4, 0]
    np.testing.assert_array_equal(t.W[:, 2], [0, 30, 55, 71])
    np.testing.assert_array_equal(t.W_end[:, 2], [38, 58, 79, 86])
    np.testing.assert_array_equal(t.W_size[:, 2], [38, 28, 24, 15])
    np.testing.assert_array_equal(t.W_end - t.W, t.W_size)


def test_apply_trim():
    a = np.arange(10).reshape(10, 1, 1)
    assert apply_trim(a, 2, 3).ravel().tolist() == [2, 3, 4, 5, 6]
    assert apply_trim(a, 0, 0).shape == a.shape


def stack(values, width=2):
    """Slice-major station (n, 1, width): slice k holds v_k - 0.5 and v_k + 0.5."""
    v = np.asarray(values, dtype=np.float64)
    return np.stack([v - 0.5, v + 0.5], axis=1).reshape(len(v), 1, width)


def test_fade_and_correct_hand_computation():
    # station A (top) slice means 1, 2, 9, 3; station B 6, 1, 7, 8; overlap 2.
    # Fade: A[3] *= 1/3 -> 1, A[2] *= 2/3 -> 6;  B[0] *= 1/3 -> 2, B[1] *= 2/3 -> 2/3.
    # mean_a = mean(B[2]) = 7, mean_b = mean(A[4-1-2]) = 2.
    # j=0: target 2 + 5/3 = 11/3, current B[0] + A[2] = 8    -> factor 11/24
    # j=1: target 2 + 10/3 = 16/3, current B[1] + A[3] = 5/3 -> factor 16/5
    A = stack([1, 2, 9, 3])
    B = stack([6, 1, 7, 8])
    A0, B0 = A.copy(), B.copy()
    out = fade_and_correct([A, B], [2])
    exp_A_means = [1, 2, 6 * 11 / 24, 1 * 16 / 5]
    exp_B_means = [2 * 11 / 24, 2 / 3 * 16 / 5, 7, 8]
    for got, orig, means in ((out[0], A0, exp_A_means), (out[1], B0, exp_B_means)):
        assert got.dtype == np.float32
        factors = np.array(means) / orig.mean(axis=(1, 2))
        np.testing.assert_allclose(got, orig * factors[:, None, None], rtol=2e-6)
    # inputs are not modified
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(B, B0)


def test_fade_and_correct_three_stations_middle_faded_both_ends():
    # with constant stations the correction factors are exactly 1 (target == current),
    # so only the fade remains: a linear ramp in and out of the middle station.
    S0 = np.full((5, 1, 1), 10.0)
    S1 = np.full((6, 1, 1), 20.0)
    S2 = np.full((4, 1, 1), 40.0)
    out = fade_and_correct([S0, S1, S2], [1, 3])
    np.testing.assert_allclose(out[0].ravel(), [10, 10, 10, 10, 5], rtol=1e-6)
    np.testing.assert_allclose(out[1].ravel(), [10, 20, 20, 15, 10, 5], rtol=1e-6)
    np.testing.assert_allclose(out[2].ravel(), [10, 20, 30, 40], rtol=1e-6)


@pytest.mark.parametrize("overlap", [-2, 0])
def test_fade_and_correct_non_positive_overlap_does_nothing(overlap):
    A = stack([1, 2, 9, 3])
    B = stack([6, 1, 7, 8])
    out = fade_and_correct([A, B], [overlap])
    np.testing.assert_array_equal(out[0], A.astype(np.float32))
    np.testing.assert_array_equal(out[1], B.astype(np.float32))


def test_fade_and_correct_means_in_float32():
    """Slice means are float32 means (numpy's default for float32 arrays)."""
    rng = np.random.default_rng(3)
    A = rng.uniform(0, 1000, (6, 7, 9)).astype(np.float32)
    B = rng.uniform(0, 1000, (5, 7, 9)).astype(np.float32)
    o = 3
    a, b = A.copy(), B.copy()
    n = a.shape[0]
    for j in range(o):
        a[n - 1 - j] *= (j + 1) / (o + 1)
        b[j] *= (j + 1) / (o + 1)
    mean_a, mean_b = np.mean(b[o]), np.mean(a[n - 1 - o])
    for j in range(o):
        target = mean_b + (mean_a - mean_b) * (j + 1) / (o + 1)
        factor = target / (np.mean(b[j]) + np.mean(a[n - o + j]))
        b[j] *= factor
        a[n - o + j] *= factor
    out = fade_and_correct([A, B], [o])
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)


def test_sum_orient_and_fuse_signal():
    # two stations 1 row x 2 cols, slices top first; overlap of one slice
    A = np.arange(1, 4, dtype=np.float64).reshape(3, 1, 1) * np.array([1.0, 10.0])
    A = A.reshape(3, 1, 2)
    B = np.full((10, 1, 2), 100.0)
    W = np.array([[0, 0, 0], [0, 0, 2]])
    W_end = np.array([[1, 2, 3], [1, 2, 12]])
    vol = sum_stations([A, B], W, W_end)
    assert vol.shape == (12, 1, 2) and vol.dtype == np.float64
    np.testing.assert_array_equal(vol[2], A[2] + B[0])
    np.testing.assert_array_equal(vol[:2], A[:2])
    o = orient(vol)
    # (x = cols, y = rows, z = foot to head), 4 slices dropped at each end
    assert o.shape == (2, 1, 4)
    np.testing.assert_array_equal(o[:, 0, :], vol[::-1][4:8, 0, :].T)
    trim = trim_overlaps(W, W_end, W_end - W)
    fused = fuse_signal([A, B], trim)
    expected = orient(sum_stations(fade_and_correct([A, B], trim.overlaps), W, W_end))
    np.testing.assert_array_equal(fused, expected)
