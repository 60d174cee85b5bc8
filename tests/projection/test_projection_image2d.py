"""The three-channel 2D image (preprocessing.md section 8)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mimir.projection.fractions import body_mask, signal_sum
from mimir.projection.image2d import (
    crop_table,
    first_index_reaching,
    fraction_channel,
    fraction_planes,
    make_image,
    projection_channel,
)


@pytest.mark.parametrize("counts, target, expected", [
    ([1, 1, 1, 1], 2, 2),      # k is the first index whose prefix [0, k) reaches the target
    ([1, 1, 1, 1], 1.5, 2),    # the plane just past the centre
    ([4, 0, 0, 4], 4, 1),
    ([1, 1, 1, 1], 0, 0),      # empty prefix already reaches 0
    ([1, 1, 1], 3, 0),         # only k < n is searched: the full sum is never reached -> 0
    ([1, 1, 1], 10, 0),        # never reached -> 0
    ([0, 0, 5, 5], 5, 3),
    ([], 1, 0),
])
def test_first_index_reaching(counts, target, expected):
    assert first_index_reaching(np.array(counts, dtype=np.int64), target) == expected


def test_fraction_planes_quirks():
    # X = 5 x-indices: sagittal target uses only the first int(5/2) = 2 of them
    mask = np.zeros((5, 4, 2), dtype=bool)
    mask[0, 0, :] = True           # x0: 2 voxels
    mask[1, 1:3, :] = True         # x1: 4 voxels
    mask[2, :, :] = True           # x2: 8
    mask[3, 3, 0] = True           # x3: 1
    # per y: y0 = 2 + 2 = 4, y1 = 2 + 2 = 4, y2 = 2 + 2 = 4, y3 = 2 + 1 = 3 -> total 15
    per_y = mask.sum(axis=(0, 2)).tolist()
    assert per_y == [4, 4, 4, 3]
    k_cor, k_sag = fraction_planes(mask)
    # coronal: half of 15 = 7.5; prefix sums 0, 4, 8 -> k = 2
    assert k_cor == 2
    # sagittal: half of the first two x-indices' count (2 + 4) = 3; prefix 0, 2, 6 -> 2
    assert k_sag == 2


def test_fraction_planes_empty_mask():
    mask = np.zeros((6, 5, 4), dtype=bool)
    assert fraction_planes(mask) == (0, 0)


def test_crop_table_drops_last_22_y():
    v = np.arange(2 * 30 * 3).reshape(2, 30, 3)
    c = crop_table(v)
    assert c.shape == (2, 8, 3)
    np.testing.assert_array_equal(c, v[:, :8, :])


def literal_channel(volume):
    cor = np.rot90(volume.sum(axis=1))
    sag = np.rot90(volume.sum(axis=0))
    parts = [((p - p.min()) / (p.max() - p.min()) * 255).astype(np.uint8) for p in (cor, sag)]
    return cv2.resize(np.concatenate(parts, axis=1), (256, 256))


def test_projection_channel_literal():
    rng = np.random.default_rng(0)
    vol = rng.uniform(0, 100, (30, 20, 50))
    ch = projection_channel(vol)
    assert ch.shape == (256, 256) and ch.dtype == np.uint8
    np.testing.assert_array_equal(ch, literal_channel(vol))
    assert ch.max() > 200 and ch.min() < 55


def test_projection_channel_constant_is_error():
    with pytest.raises(FloatingPointError):
        projection_channel(np.ones((4, 5, 6)))
    bad = np.ones((4, 5, 6))
    bad[0, 0, 0] = np.nan
    with pytest.raises(FloatingPointError):
        projection_channel(bad)


def test_fraction_channel_scaling_and_planes():
    X, Y, Z = 8, 6, 10
    fat = np.zeros((X, Y, Z))
    total = np.full((X, Y, Z), 1000.0)
    fat[:, :, :] = np.linspace(0, 800, Z)  # 0 to 80 % fat along z
    mask = np.zeros((X, Y, Z), dtype=bool)
    mask[:, 2:4, :] = True
    ch, (k_cor, k_sag) = fraction_channel(fat, total, mask)
    assert (k_cor, k_sag) == fraction_planes(mask)
    ff = 1000 * fat / total
    cor = (np.clip(np.rot90(ff[:, k_cor, :]) / 500, 0, 1) * 255).astype(np.uint8)
    sag = (np.clip(np.rot90(ff[k_sag, :, :]) / 500, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(ch, cv2.resize(np.concatenate([cor, sag], 1), (256, 256)))
    # >= 50 % fat saturates, 0 stays 0
    assert ch.max() == 255 and ch.min() == 0


def test_make_image_literal():
    rng = np.random.default_rng(4)
    X, Y, Z = 24, 40, 30
    water = rng.uniform(0, 50, (X, Y, Z))
    fat = rng.uniform(0, 50, (X, Y, Z))
    water[5:19, 8:30, 3:27] += 400
    fat[5:12, 8:30, 3:27] += 300
    total = signal_sum(water, fat)
    mask, _ = body_mask(total)
    img, info = make_image(water, fat, total, mask)
    assert img.shape == (3, 256, 256) and img.dtype == np.uint8
    w, f, t, m = (v[:, :Y - 22, :] for v in (water, fat, total, mask))
    np.testing.assert_array_equal(img[0], literal_channel(w))
    np.testing.assert_array_equal(img[1], literal_channel(f))
    assert info["planes"] == fraction_planes(m)
    ch2, _ = fraction_channel(f, t, m)
    np.testing.assert_array_equal(img[2], ch2)
