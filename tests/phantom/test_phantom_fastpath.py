"""The fast path and the zip path describe the same body.

:func:`mimir.phantom.fastpath.fast_subject` renders a subject straight onto the fused
grid; the zip of the same subject and seed, preprocessed by
:func:`mimir.pipeline.preprocess_subject`, must give the same volumes, the same 2D
image and the same truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mimir.phantom.cohort import truth_row
from mimir.phantom.fastpath import fast_image, fast_subject
from mimir.phantom.subject import draw_cohort
from mimir.phantom.variants import Variants
from mimir.pipeline import preprocess_subject

#: Truth columns that depend on the exact in-plane coordinates of the grid. The fast
#: path builds its y coordinates from a float32 station position (fastpath.py,
#: ``y0 = float(np.min(P[:, 1]))`` with ``P`` float32) while truth.csv uses the float64
#: one (geometry.output_grid), which moves the liver fat texture by ~4e-6 mm and the
#: liver fat mean by ~1e-7 relative. Compared at 1e-6 relative until that is fixed;
#: every other column at 1e-9.
GRID_SENSITIVE: set[str] = set()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(np.float64),
                             np.ravel(b).astype(np.float64))[0, 1])


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


def test_fast_volumes_match_the_zip_volumes(fast, from_zip, subject):
    assert fast.name == from_zip.name
    for key in ("water", "fat"):
        zv, fv = from_zip.volumes[key], getattr(fast, key)
        assert fv.shape == zv.shape, key
        assert np.isfinite(fv).all()
        assert corr(fv, zv) > 0.95, key
        # the same intensity scale, not only the same pattern
        assert fv.mean() == pytest.approx(zv.mean(), rel=0.05), key


def test_fast_image_matches_the_zip_image(subject, from_zip, fast):
    image, truth = fast_image(subject, 0)
    assert image.shape == from_zip.image.shape == (3, 256, 256)
    assert image.dtype == from_zip.image.dtype == np.uint8
    for c in (0, 1):
        assert corr(image[c], from_zip.image[c]) > 0.95, c
    assert truth == fast.truth  # deterministic: the same subject and seed


def test_fast_truth_equals_the_zip_truth(fast, clean_dir, subject):
    row = truth_row(subject, 0)
    csv = pd.read_csv(clean_dir / "truth.csv").iloc[0]
    assert set(fast.truth) == set(row) - {"name"}
    assert fast.name == row["name"] == csv["name"]
    for key, value in fast.truth.items():
        rel = 1e-6 if key in GRID_SENSITIVE else 1e-9
        assert value == pytest.approx(row[key], rel=rel, abs=1e-12), key
        assert value == pytest.approx(csv[key], rel=rel, abs=1e-12), key


def test_fast_knee_cut_truth_equals_the_variant_truth(subject):
    fast_cut = fast_subject(subject, 0, knee_cut=True)
    row = truth_row(subject, 0, Variants(knee_cut=True))
    for key, value in fast_cut.truth.items():
        rel = 1e-6 if key in GRID_SENSITIVE else 1e-9
        assert value == pytest.approx(row[key], rel=rel, abs=1e-12), key
    assert row["thigh_muscle_volume_L"] < truth_row(subject, 0)["thigh_muscle_volume_L"]
