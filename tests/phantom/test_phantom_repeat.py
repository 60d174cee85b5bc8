"""Repeat visits (instance 3) with a known change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.phantom.subject import FollowUp, draw_cohort, repeat_visit, visit_seed

runner = CliRunner()


def test_repeat_visit_changes_what_it_says_and_keeps_the_person():
    s = draw_cohort(1, 3)[0]
    r = repeat_visit(s, 3, FollowUp(years=2.5, vat=0.25))
    assert r.eid == s.eid and r.sex == s.sex and r.height_cm == s.height_cm
    assert r.age == pytest.approx(s.age + 2.5)
    assert r.vat_share == pytest.approx(min(s.vat_share * 1.25, 0.85))
    assert r.liver_ff > s.liver_ff and r.muscle_ff > s.muscle_ff
    assert r.chin_z != s.chin_z and r.texture == s.texture  # positioned anew, same body
    assert repeat_visit(s, 3) == r  # deterministic
    assert visit_seed(3, 2) == 3 and visit_seed(3, 3) != 3


@pytest.mark.slow
def test_fast_cohort_with_repeat_visits(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    res = runner.invoke(app, ["phantom", str(a), "--n", "2", "--seed", "6", "--fast",
                              "--repeat", "1"])
    assert res.exit_code == 0, res.output
    assert "and 1 repeat visits" in res.output
    res = runner.invoke(app, ["phantom", str(b), "--n", "2", "--seed", "6", "--fast"])
    assert res.exit_code == 0, res.output
    truth = pd.read_csv(a / "truth.csv", dtype={"name": str})
    assert len(truth) == 3
    second = truth[truth["name"].str.endswith("_3_0")]
    assert len(second) == 1
    eid = int(second["eid"].iloc[0])
    first = truth[truth["name"] == f"{eid}_20201_2_0"].iloc[0]
    second = second.iloc[0]
    # the known change, measured on the anatomy: about a quarter more visceral fat
    assert second["vat_volume_L"] / first["vat_volume_L"] == pytest.approx(1.25, abs=0.12)
    assert second["age_years"] - first["age_years"] == pytest.approx(2.5)
    assert second["height_cm"] == first["height_cm"]
    assert second["liver_fat_pct"] > first["liver_fat_pct"]
    # the first visits are those of the cohort without repeats, pixel for pixel
    for n in truth["name"][~truth["name"].str.endswith("_3_0")]:
        assert np.array_equal(np.load(a / f"{n}.npy"), np.load(b / f"{n}.npy"))
    assert not np.array_equal(np.load(a / f"{eid}_20201_2_0.npy"),
                              np.load(a / f"{eid}_20201_3_0.npy"))
    res = runner.invoke(app, ["phantom", str(a), "--n", "2", "--repeat", "3", "--fast",
                              "--overwrite"])
    assert res.exit_code == 2 and "--repeat 3 is more than --n 2" in res.output


@pytest.mark.slow
def test_zip_cohort_with_a_repeat_visit(tmp_path):
    res = runner.invoke(app, ["phantom", str(tmp_path), "--n", "1", "--seed", "6",
                              "--repeat", "1"])
    assert res.exit_code == 0, res.output
    zips = sorted(p.name for p in tmp_path.glob("*.zip"))
    assert len(zips) == 2 and zips[0].endswith("_2_0.zip") and zips[1].endswith("_3_0.zip")
    assert zips[0].split("_")[0] == zips[1].split("_")[0]
