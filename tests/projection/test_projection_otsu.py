"""The one-pass Otsu thresholds equal scikit-image's ``threshold_otsu`` plane by plane."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.filters import threshold_otsu

from mimir.pipeline import preprocess_subject
from mimir.projection.fractions import (
    coronal_histograms,
    histogram_edges,
    numpy_bins,
    otsu_thresholds,
    signal_sum,
)


def skimage_per_plane(vol: np.ndarray) -> np.ndarray:
    return np.array([threshold_otsu(vol[:, y, :]) for y in range(vol.shape[1])])


def assert_same_thresholds(vol: np.ndarray) -> None:
    got = otsu_thresholds(vol)
    assert got.dtype == np.float64 and got.shape == (vol.shape[1],)
    np.testing.assert_array_equal(got, skimage_per_plane(vol))


def numpy_histograms(vol: np.ndarray) -> np.ndarray:
    return np.stack([np.histogram(vol[:, y, :], bins=256)[0] for y in range(vol.shape[1])])


def random_volume(rng: np.random.Generator, kind: int) -> np.ndarray:
    shape = tuple(int(v) for v in rng.integers(2, 40, 3))
    if kind == 0:  # MRI-like: background noise and tissue
        vol = rng.gamma(2.0, 150.0, shape)
        vol[vol < 80] *= 0.01
    elif kind == 1:  # integer values: many values fall exactly on bin edges
        vol = rng.integers(0, 512, shape).astype(np.float64)
    elif kind == 2:  # few distinct values, some planes two-valued
        vol = rng.choice([1.0, 3.0, 3.5, 1000.0], size=shape)
    elif kind == 3:  # negative and positive values
        vol = rng.normal(0, 1e3, shape)
    elif kind == 4:  # large offset, moderate range
        vol = 1e6 + rng.uniform(0, 50, shape)
    else:  # float32 sums (as water + fat are)
        vol = (rng.uniform(0, 2000, shape).astype(np.float32).astype(np.float64)
               + rng.uniform(0, 2000, shape).astype(np.float32))
    return vol


@pytest.mark.parametrize("kind", range(6))
def test_equal_to_skimage_on_random_volumes(kind):
    rng = np.random.default_rng(100 + kind)
    for _ in range(25):
        vol = random_volume(rng, kind)
        # every layout the volume may come in
        for v in (vol, np.asfortranarray(vol), vol[:, :, ::-1], vol.transpose(2, 1, 0).copy()
                  .transpose(2, 1, 0)):
            assert_same_thresholds(v)


def test_histograms_equal_numpy_including_values_on_edges():
    rng = np.random.default_rng(7)
    vol = rng.integers(0, 257, (30, 6, 40)).astype(np.float64)  # range 256: edges integers
    vol[0, :, 0], vol[1, :, 0] = 0, 256
    lo, hi = vol.min(axis=(0, 2)), vol.max(axis=(0, 2))
    np.testing.assert_array_equal(coronal_histograms(vol, lo, hi), numpy_histograms(vol))
    # and where the edges are not representable: one third steps
    vol = rng.integers(0, 769, (30, 6, 40)) / 3.0
    lo, hi = vol.min(axis=(0, 2)), vol.max(axis=(0, 2))
    np.testing.assert_array_equal(coronal_histograms(vol, lo, hi), numpy_histograms(vol))


def test_numpy_bins_match_numpy_histogram():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-5, 7, 500), np.linspace(-5, 7, 257)])
    lo, hi = x.min(), x.max()
    edges = histogram_edges(lo, hi)
    np.testing.assert_array_equal(edges, np.histogram(x, bins=256)[1])
    idx = numpy_bins(x, np.full(x.size, lo), np.full(x.size, hi), np.tile(edges, (x.size, 1)))
    np.testing.assert_array_equal(np.bincount(idx, minlength=256), np.histogram(x, bins=256)[0])


def test_constant_and_nearly_constant_planes():
    rng = np.random.default_rng(1)
    vol = rng.uniform(0, 100, (12, 7, 9))
    vol[:, 0, :] = 5.0                        # constant: its value
    vol[:, 1, :] = 0.0
    vol[3, 1, 4] = -0.0                       # constant up to the sign of zero
    vol[:, 2, :] = 7.0
    vol[5, 2, 5] = 8.0                        # two values, one voxel apart
    vol[:, 3, :] = 1e6
    vol[0, 3, 0] = 1e6 + 1e-4                 # range small for its magnitude
    assert_same_thresholds(vol)
    assert otsu_thresholds(vol)[0] == 5.0


@pytest.mark.parametrize("low, high", [(1e6, 1e6 + 1e-9), (2.0, np.nextafter(2.0, 3.0))])
def test_range_too_narrow_for_256_bins_raises_as_skimage_does(low, high):
    vol = np.random.default_rng(5).uniform(0, 100, (8, 3, 6))
    vol[:, 1, :] = low
    vol[0, 1, 0] = high
    with pytest.raises(ValueError, match="Too many bins"):
        skimage_per_plane(vol)
    with pytest.raises(ValueError, match="Too many bins"):
        otsu_thresholds(vol)


def test_single_voxel_planes_and_thin_volumes():
    rng = np.random.default_rng(2)
    for shape in ((1, 5, 1), (1, 3, 7), (6, 1, 1), (2, 2, 2), (1, 1, 300)):
        assert_same_thresholds(rng.uniform(0, 10, shape))


def test_non_finite_values_raise_as_skimage_does():
    vol = np.ones((4, 3, 5))
    vol[1, 1, 1] = np.nan
    with pytest.raises(ValueError):
        skimage_per_plane(vol)
    with pytest.raises(ValueError):
        otsu_thresholds(vol)
    vol = np.ones((4, 3, 5))
    vol[1, 2, 1] = np.inf
    with pytest.raises(ValueError):
        otsu_thresholds(vol)
    vol = np.full((4, 3, 5), np.inf)  # constant planes of inf: skimage returns inf
    np.testing.assert_array_equal(otsu_thresholds(vol), skimage_per_plane(vol))


def test_float32_volume_goes_through_skimage():
    rng = np.random.default_rng(4)
    vol = rng.uniform(0, 100, (10, 4, 12)).astype(np.float32)
    np.testing.assert_array_equal(otsu_thresholds(vol), skimage_per_plane(vol))


@pytest.mark.slow
def test_equal_to_skimage_on_phantom_signal_sums(phantom_dir, make_phantoms):
    """Real planes: the signal sum of fused phantom subjects (174 planes each)."""
    zips = sorted(phantom_dir.glob("*.zip"))[:2]
    zips += sorted(make_phantoms(1, 12, mismatch=2).glob("*.zip"))
    for z in zips:
        vols = preprocess_subject(z, keep_volumes=True).volumes
        total = signal_sum(vols["water"], vols["fat"])
        assert_same_thresholds(total)
        # a cropped and a scaled copy shift values across bin edges
        assert_same_thresholds(total[20:-20, :, 30:-30] * 1.37)


def test_otsu_from_histograms_is_scikit_images_arithmetic():
    """Bit for bit against ``threshold_otsu(hist=...)``: histograms with and without
    empty bins at the ends, ties, two bins, and the planes' real bin centres."""
    from mimir.projection.fractions import otsu_from_histograms

    rng = np.random.default_rng(7)
    for trial in range(60):
        bins = int(rng.choice([2, 3, 17, 256]))
        counts = rng.integers(0, 50, (5, bins)) * rng.integers(0, 2, (5, bins))
        a, b = rng.choice(bins, 2, replace=False)
        counts[:, a] += 1  # at least two bins hold values: there is a split
        counts[:, b] += 2
        if trial % 3 == 0:  # no empty end bins: all rows at once
            counts[:, 0] += 1
            counts[:, -1] += 3
        if trial % 5 == 0:
            counts[1] = counts[0]  # equal histograms, equal thresholds
        lo = rng.uniform(-50, 500, (5, 1))
        edges = lo + np.cumsum(rng.uniform(0.1, 9, (5, bins + 1)), axis=1)
        centers = (edges[:, :-1] + edges[:, 1:]) / 2.0
        want = [threshold_otsu(hist=(c, x)) for c, x in zip(counts, centers, strict=True)]
        np.testing.assert_array_equal(otsu_from_histograms(counts, centers), want)
