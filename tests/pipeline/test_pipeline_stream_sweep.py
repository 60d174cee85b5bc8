"""Fusion streamed into the sum sweep equals fusing volumes and sweeping them."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.fusion.pipeline import fuse_stations
from mimir.fusion.placement import OUTPUT_SPACING
from mimir.pipeline.stream import fuse_and_sum
from mimir.projection.image2d import TABLE_ROWS
from mimir.projection.passes import sum_sweep
from tests.fusion.fusion_helpers import make_set, ukb_like_set

S = OUTPUT_SPACING


def assert_stream_equals_volumes(ss, crop=TABLE_ROWS, block=4):
    streamed = fuse_and_sum(ss, crop, block=block)
    assert streamed is not None
    fused = fuse_stations(ss)
    ref = sum_sweep(fused.water, fused.fat, crop)
    got = streamed.sums
    np.testing.assert_array_equal(got.total, ref.total)
    np.testing.assert_array_equal(got.lo, ref.lo)
    np.testing.assert_array_equal(got.hi, ref.hi)
    for k in ("water", "fat"):
        np.testing.assert_array_equal(got.coronal[k], ref.coronal[k])
        np.testing.assert_array_equal(got.sagittal[k], ref.sagittal[k])
    assert streamed.shape == fused.water.shape
    np.testing.assert_equal(streamed.swap_scores, fused.swap_scores)  # nan equals nan
    assert streamed.geometry.warnings == fused.warnings
    cropped = fused.fat[:, :fused.fat.shape[1] - crop, :]
    for y in range(cropped.shape[1]):
        np.testing.assert_array_equal(streamed.fat.coronal(y), cropped[:, y, :])
    for x in range(cropped.shape[0]):
        np.testing.assert_array_equal(streamed.fat.sagittal(x), cropped[x, :, :])
    return streamed


@pytest.mark.parametrize("block", [1, 3, 4])
def test_six_stations_with_overlaps_and_shifts(block):
    ss = ukb_like_set(np.random.default_rng(block), rows=(26, 32), x_step=float(S[0]))
    assert_stream_equals_volumes(ss, crop=5, block=block)


def test_gap_between_stations_gives_zero_slices():
    rng = np.random.default_rng(5)
    ss = make_set(rng, [20, 20], [3.0, 4.5], [300.0, 300.0 - 20 * 3.0 - 15.0], rows=(30, 30))
    streamed = assert_stream_equals_volumes(ss, crop=5)
    assert streamed.geometry.warnings  # the stations do not meet
    assert (streamed.sums.total == 1).all(axis=(0, 1)).any()  # empty slices: sums of 1


def test_signed_values_and_table_crop():
    rng = np.random.default_rng(6)
    ss = make_set(rng, [20, 14, 16], [3.0, 4.5, 3.0], [300.0, 249.0, 195.0], rows=(30, 28))
    for st in ss.water + ss.fat:
        st.voxels -= 1500
        st.voxels[:, 2:5, 3:6] = -0.0
    assert_stream_equals_volumes(ss, crop=7)


def test_falls_back_where_stations_are_all_overlap():
    rng = np.random.default_rng(7)
    ss = make_set(rng, [24, 5, 24], [3.0, 3.0, 3.0], [300.0, 240.0, 228.0], rows=(30, 30))
    assert fuse_and_sum(ss, 5) is None
    # and where the table crop leaves no rows
    ss = make_set(rng, [20, 14], [3.0, 4.5], [300.0, 249.0], rows=(20, 20))
    assert fuse_and_sum(ss, 20) is None
