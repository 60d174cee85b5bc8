"""The fast path and the zip path describe the same body, voxel for voxel.

:func:`mimir.phantom.fastpath.fast_subject` makes the station images the zip would hold
and fuses them with the preprocessing code, leaving out only DICOM and the zip; the zip
of the same subject and seed, preprocessed by :func:`mimir.pipeline.preprocess_subject`,
must give the same volumes, the same 2D image and the same truth. (Near-equality is not
enough: a module trained on fast-path images is used on zip-path ones, and an earlier
fast path whose images merely correlated (r > 0.95) biased such a module.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mimir.phantom.fastpath import fast_image, fast_subject, truth_row
from mimir.phantom.subject import draw_cohort
from mimir.phantom.variants import Variants
from mimir.pipeline import preprocess_subject


@pytest.fixture(scope="module")
def subject():
    return draw_cohort(1, 0)[0]


@pytest.fixture(scope="module")
def from_zip(clean_dir, zip_of):
    return preprocess_subject(zip_of(clean_dir), keep_volumes=True)


@pytest.fixture(scope="module")
def fast(subject):
    return fast_subject(subject, 0)


def test_zip_preprocesses_cleanly(from_zip, subject):
    assert from_zip.name == f"{subject.eid}_20201_2_0"
    assert from_zip.facts["water_stations"] == 6
    assert from_zip.facts["superimposed"] == 0


def test_fast_volumes_equal_the_zip_volumes(fast, from_zip, subject):
    assert fast.name == from_zip.name
    for key in ("water", "fat"):
        zv, fv = from_zip.volumes[key], getattr(fast, key)
        assert fv.shape == zv.shape, key
        assert fv.dtype == zv.dtype, key
        assert np.array_equal(fv, zv), key


def test_fast_image_equals_the_zip_image(subject, from_zip, fast):
    image, truth = fast_image(subject, 0)
    assert image.shape == from_zip.image.shape == (3, 256, 256)
    assert image.dtype == from_zip.image.dtype == np.uint8
    assert np.array_equal(image, from_zip.image)
    assert truth == fast.truth  # deterministic: the same subject and seed


def test_fast_swap_equals_the_swap_variant(subject, make_phantoms):
    """The swap option exchanges the same station as the zip variant, and QC sees the
    same overlap scores in both."""
    swapped = preprocess_subject(next(make_phantoms(1, seed=0, swap=3).glob("*.zip")),
                                 keep_volumes=True)
    fs = fast_subject(subject, 0, with_truth=False, swap=3, swap_scores=True)
    assert np.array_equal(fs.fat, swapped.volumes["fat"])
    assert fs.swap_scores


def test_fast_truth_equals_the_zip_truth(fast, clean_dir, subject):
    row = truth_row(subject, 0)
    csv = pd.read_csv(clean_dir / "truth.csv").iloc[0]
    assert set(fast.truth) == set(row) - {"name"}
    assert fast.name == row["name"] == csv["name"]
    for key, value in fast.truth.items():
        assert value == pytest.approx(row[key], rel=1e-9, abs=1e-12), key
        assert value == pytest.approx(csv[key], rel=1e-9, abs=1e-12), key


def test_fast_knee_cut_truth_equals_the_variant_truth(subject):
    fast_cut = fast_subject(subject, 0, knee_cut=True)
    row = truth_row(subject, 0, Variants(knee_cut=True))
    for key, value in fast_cut.truth.items():
        assert value == pytest.approx(row[key], rel=1e-9, abs=1e-12), key
    assert row["thigh_muscle_volume_L"] < truth_row(subject, 0)["thigh_muscle_volume_L"]
