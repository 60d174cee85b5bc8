"""Fat fraction, signal sum and the Otsu body mask (preprocessing.md section 7)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.filters import threshold_otsu

from mimir.projection.fractions import body_mask, fat_fraction, otsu_thresholds, signal_sum


def test_signal_sum_replaces_exact_zeros_only():
    water = np.array([0.0, 1.0, -1.0, 1e-30, 2.5], dtype=np.float32)
    fat = np.array([0.0, 0.0, 1.0, 0.0, -2.5], dtype=np.float32)
    s = signal_sum(water, fat)
    assert s.dtype == np.float64
    np.testing.assert_array_equal(s, [1.0, 1.0, 1.0, np.float32(1e-30), 1.0])
    # water + fat = 0 from opposite values is also an exact zero
    assert s[2] == 1.0 and s[4] == 1.0
    # inputs untouched
    assert water[0] == 0 and fat[0] == 0


def test_signal_sum_keeps_non_zero_sums():
    rng = np.random.default_rng(0)
    w = rng.uniform(1, 10, (3, 4, 5))
    f = rng.uniform(1, 10, (3, 4, 5))
    np.testing.assert_array_equal(signal_sum(w, f), w + f)


def test_fat_fraction_per_mille():
    fat = np.array([0.0, 25.0, 100.0, 7.0])
    total = np.array([1.0, 100.0, 100.0, 1.0])
    np.testing.assert_allclose(fat_fraction(fat, total), [0.0, 250.0, 1000.0, 7000.0])


@pytest.mark.parametrize("seed", [0, 1])
def test_otsu_thresholds_equal_skimage_per_coronal_plane(seed):
    rng = np.random.default_rng(seed)
    vol = rng.gamma(2.0, 100.0, (20, 7, 30))
    vol[:, :, :10] *= 0.05  # background
    vol[:, 3, :] = 5.0  # a constant plane
    vol[:, 3, 0] = 6.0
    t = otsu_thresholds(vol)
    assert t.shape == (7,) and t.dtype == np.float64
    expected = [threshold_otsu(vol[:, y, :]) for y in range(7)]
    np.testing.assert_array_equal(t, expected)


def test_body_mask_uses_mean_of_plane_thresholds():
    rng = np.random.default_rng(5)
    vol = rng.uniform(0, 10, (12, 5, 16))
    vol[3:9, :, 4:12] += 500
    mask, t = body_mask(vol)
    expected_t = np.mean([threshold_otsu(vol[:, y, :]) for y in range(5)])
    assert t == pytest.approx(expected_t, rel=1e-12)
    np.testing.assert_array_equal(mask, vol >= expected_t)
    assert mask.dtype == bool
    assert mask[3:9, :, 4:12].all() and not mask[:, :, :4].all()
