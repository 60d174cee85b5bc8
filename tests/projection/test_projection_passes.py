"""The two sweeps over z give exactly what the volume-at-a-time functions give."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.projection.fractions import body_mask, otsu_thresholds, signal_sum
from mimir.projection.image2d import (
    TABLE_ROWS,
    crop_table,
    fraction_planes,
    make_image,
    make_image_from_sweeps,
)
from mimir.projection.passes import mask_sweep, sum_sweep
from mimir.qc.measures import coverage_from_counts, coverage_measures


def fused_like(rng, X=40, Y=48, Z=30, stored_flipped=True):
    """Water and fat as fused volumes are laid out: stored (z, y, x), z reversed."""
    vols = []
    for _ in range(2):
        store = rng.gamma(2.0, 100.0, (Z + 8, Y, X)).astype(np.float32).astype(np.float64)
        store[:, :, :5] = 0.0  # background: exact zeros in both signals
        store[:, Y - 10:, :] *= 0.01  # a dark table
        store[3:9] += rng.uniform(0, 1, (6, Y, X)).astype(np.float32)  # overlap sums
        view = store[::-1] if stored_flipped else store
        vols.append(view.transpose(2, 1, 0)[:, :, 4:-4])
    return vols


@pytest.mark.parametrize("layout", ["fused", "c_order", "fortran"])
@pytest.mark.parametrize("block", [1, 2, 7])
def test_sum_sweep_equals_volume_functions(layout, block):
    rng = np.random.default_rng(block)
    water, fat = fused_like(rng)
    if layout == "c_order":
        water, fat = np.ascontiguousarray(water), np.ascontiguousarray(fat)
    elif layout == "fortran":
        water, fat = np.asfortranarray(water), np.asfortranarray(fat)
    s = sum_sweep(water, fat, TABLE_ROWS, block=block)
    total = signal_sum(water, fat)
    np.testing.assert_array_equal(s.total, total)
    assert (s.total == 1).any()  # zeros were replaced
    np.testing.assert_array_equal(s.lo, total.min(axis=(0, 2)))
    np.testing.assert_array_equal(s.hi, total.max(axis=(0, 2)))
    for name, vol in (("water", water), ("fat", fat)):
        cropped = crop_table(vol)
        # bit for bit, including the order of the float64 additions
        np.testing.assert_array_equal(s.coronal[name], np.sum(cropped, axis=1))
        np.testing.assert_array_equal(s.sagittal[name], np.sum(cropped, axis=0))


@pytest.mark.parametrize("block", [1, 3, 8])
def test_mask_sweep_equals_mask_and_its_counts(block):
    rng = np.random.default_rng(20 + block)
    water, fat = fused_like(rng)
    total = signal_sum(water, fat)
    mask, t = body_mask(total)
    m = mask_sweep(total, t, TABLE_ROWS, block=block)
    np.testing.assert_array_equal(m.mask, mask)
    assert 0.05 < mask.mean() < 0.95
    cropped = crop_table(mask)
    np.testing.assert_array_equal(m.per_y, np.count_nonzero(cropped, axis=(0, 2)))
    np.testing.assert_array_equal(m.per_x, np.count_nonzero(cropped, axis=(1, 2)))
    assert coverage_from_counts(m.area, m.lateral, m.anterior) == coverage_measures(mask)


def test_coverage_with_body_touching_edges():
    mask = np.zeros((10, 8, 12), dtype=bool)
    mask[2:8, 2:6, :] = True
    mask[0, 3, 4:6] = True  # lateral edge, 2 slices
    mask[4, 0, 9] = True  # anterior edge, 1 slice
    m = mask_sweep(mask.astype(np.float64), 0.5, 2)
    got = coverage_from_counts(m.area, m.lateral, m.anterior)
    assert got == coverage_measures(mask)
    assert got["lateral_edge"] == pytest.approx(2 / 12) and got["anterior_edge"] == 1 / 12


def test_image_from_sweeps_equals_make_image():
    rng = np.random.default_rng(3)
    water, fat = fused_like(rng, X=60, Y=70, Z=50)
    s = sum_sweep(water, fat, TABLE_ROWS)
    t = float(np.mean(otsu_thresholds(s.total, s.lo, s.hi)))
    m = mask_sweep(s.total, t, TABLE_ROWS)
    total = signal_sum(water, fat)
    mask, t_ref = body_mask(total)
    assert t == t_ref
    ref, info = make_image(water, fat, total, mask)
    img, got = make_image_from_sweeps(fat, s.total, s, m)
    assert got["planes"] == info["planes"] == fraction_planes(crop_table(mask))
    np.testing.assert_array_equal(img, ref)
    assert img.dtype == np.uint8 and img.shape == (3, 256, 256) and img.max() > 100


def test_constant_projection_still_fails():
    water = np.ones((6, 30, 8))
    s = sum_sweep(water, water, TABLE_ROWS)
    m = mask_sweep(s.total, 1.5, TABLE_ROWS)
    with pytest.raises(FloatingPointError):
        make_image_from_sweeps(water, s.total, s, m)
