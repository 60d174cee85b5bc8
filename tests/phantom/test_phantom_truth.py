"""The ground truth of a phantom: its file, and that it follows the generated body.

``truth.csv`` is checked on the clean subject's folder; the relations between
parameters and truth (more subcutaneous fat, more ASAT; more visceral share, more VAT;
weight from the whole-body tissue volumes; liver fat as painted) are checked on
subjects changed with :func:`dataclasses.replace` and measured with
:func:`mimir.phantom.fastpath.truth_row`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mimir.phantom.anatomy import TISSUES, render, signals
from mimir.phantom.fastpath import truth_row
from mimir.phantom.geometry import output_grid
from mimir.phantom.subject import draw_cohort
from mimir.phantom.zipwrite import subject_geometry

MAIN_COLUMNS = ["eid", "name", "vat_volume_L", "asat_volume_L", "liver_fat_pct",
                "liver_volume_L", "thigh_muscle_volume_L", "muscle_fat_pct", "weight_kg",
                "height_cm", "sex_male1", "age_years"]
BODY_TISSUES = [t for t in TISSUES if t not in ("air", "table")]


@pytest.fixture(scope="module")
def subject():
    """The clean subject of seed 0 (the one in ``clean_dir``)."""
    return draw_cohort(1, 0)[0]


@pytest.fixture(scope="module")
def truth(clean_dir) -> pd.DataFrame:
    return pd.read_csv(clean_dir / "truth.csv")


@pytest.fixture(scope="module")
def row(subject) -> dict:
    return truth_row(subject, 0)


def test_truth_csv_has_one_row_per_zip_and_the_main_columns(clean_dir, truth, subject):
    zips = sorted(p.name for p in clean_dir.glob("*.zip"))
    assert len(truth) == len(zips) == 1
    assert list(truth.columns[:len(MAIN_COLUMNS)]) == MAIN_COLUMNS
    assert truth.loc[0, "name"] + ".zip" == zips[0]
    assert truth.loc[0, "name"] == f"{subject.eid}_20201_2_0"
    assert truth.loc[0, "eid"] == subject.eid
    assert {f"wb_{t}_L" for t in BODY_TISSUES} <= set(truth.columns)
    assert truth[MAIN_COLUMNS[2:]].notna().all().all()


def test_truth_csv_holds_the_truth_row(truth, row):
    assert truth.loc[0, "name"] == row["name"]
    for col, value in row.items():
        if col == "name":
            continue
        assert truth.loc[0, col] == pytest.approx(value, rel=1e-9, abs=1e-12), col


def test_truth_values_are_plausible(row, subject):
    assert 0.05 < row["vat_volume_L"] < 15
    assert 0.5 < row["asat_volume_L"] < 25
    assert 0.3 < row["liver_volume_L"] < 4
    assert 2 < row["thigh_muscle_volume_L"] < 25
    assert 30 < row["weight_kg"] < 200
    assert row["height_cm"] == subject.height_cm
    assert row["sex_male1"] == subject.sex
    assert row["age_years"] == subject.age


def test_asat_grows_with_subcutaneous_fat(subject):
    asat = [truth_row(dataclasses.replace(subject, sat_mm=mm), 0)["asat_volume_L"]
            for mm in (10.0, 20.0, 35.0)]
    assert asat[0] < asat[1] < asat[2]
    assert asat[2] > 2 * asat[0]


def test_vat_grows_with_visceral_share(subject):
    vat = [truth_row(dataclasses.replace(subject, vat_share=v), 0)["vat_volume_L"]
           for v in (0.1, 0.3, 0.6)]
    assert vat[0] < vat[1] < vat[2]
    assert vat[2] > 2 * vat[0]


def test_weight_is_the_sum_of_tissue_volumes_times_density(subject, row, truth):
    wb = [c for c in row if c.startswith("wb_")]
    assert sorted(wb) == sorted(f"wb_{t}_L" for t in BODY_TISSUES)
    weight = sum(row[f"wb_{t}_L"] * TISSUES[t][3] for t in BODY_TISSUES)
    assert row["weight_kg"] == pytest.approx(weight, rel=1e-6)
    # the same from the file's columns
    weight_csv = sum(truth.loc[0, f"wb_{t}_L"] * TISSUES[t][3] for t in BODY_TISSUES)
    assert truth.loc[0, "weight_kg"] == pytest.approx(weight_csv, rel=1e-6)
    # a heavier subject weighs more
    heavier = truth_row(dataclasses.replace(subject, sat_mm=subject.sat_mm + 15), 0)
    assert heavier["weight_kg"] > row["weight_kg"] + 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_liver_fat_truth_is_the_painted_fat_fraction(seed):
    for s in draw_cohort(2, seed):
        r = truth_row(s, seed)
        assert r["liver_fat_pct"] == pytest.approx(100 * s.liver_ff, rel=0.05)


def test_liver_fat_truth_matches_the_rendered_signals(subject, row):
    grid = output_grid(subject_geometry(subject, 0))
    rendered = render(subject, grid.x, grid.y, grid.z)
    water, fat, _ = signals(subject, rendered)
    liver = rendered.tissue == TISSUES["liver"][0]
    assert liver.sum() > 1000
    ff = fat[liver] / (water[liver] + fat[liver])
    assert 100 * float(ff.mean()) == pytest.approx(row["liver_fat_pct"], rel=1e-5)
    # and the liver volume is that voxel count
    voxel_l = np.prod([grid.x[1] - grid.x[0], grid.y[1] - grid.y[0], 3.0]) * 1e-6
    assert row["liver_volume_L"] == pytest.approx(liver.sum() * voxel_l, rel=1e-6)


def test_liver_fat_truth_matches_the_zip_images(subject, row, clean):
    """Fat / (water + fat) of the DICOM images over the liver gives the truth."""
    values = []
    for k in range(1, 7):
        st = clean.station(k)
        w, f = st["W"], st["F"]
        x = w.positions[0, 0] + w.pixel_spacing[1] * np.arange(w.cols)
        y = w.positions[0, 1] + w.pixel_spacing[0] * np.arange(w.rows)
        rendered = render(subject, x, y, w.z)
        liver = rendered.tissue == TISSUES["liver"][0]
        if not liver.any():
            continue
        wv = w.pixels[liver].astype(np.float64)
        fv = f.pixels[liver].astype(np.float64)
        values.append(fv / np.maximum(wv + fv, 1.0))
    assert values, "no station shows the liver"
    measured = 100 * float(np.concatenate(values).mean())
    assert measured == pytest.approx(row["liver_fat_pct"], abs=0.25)
