"""Pure parts of the cohort report: outliers, groups, decoding, outlines, formatting."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mimir.errors import UsageError
from mimir.qc.flags import FLAGS
from mimir.report.data import covariate_sex, find_targets, read_covariates
from mimir.report.page import fmt
from mimir.report.stats import (
    bool_values,
    find_outliers,
    flag_counts,
    group_failures,
    robust_scale,
    robust_z,
    sex_labels,
    shuffled,
)
from mimir.report.thumbs import station_svg, thumbnail


def test_robust_z_uses_median_and_mad():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    med, scale = robust_scale(x)
    assert med == 3.0
    assert scale == pytest.approx(1.4826 * 1.0, rel=1e-4)  # |x - 3|: 2 1 0 1 97 -> MAD 1
    z = robust_z(x)
    assert z[4] == pytest.approx(97 / scale)
    assert z[2] == 0.0


def test_outliers_found_beyond_four_robust_z_most_extreme_first():
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, 5000)
    x[[17, 400, 4000]] = [10 + 30, 10 - 12, 10 + 9.5]   # z about 15, -6 and 4.75
    x[123] = np.nan                                      # not predicted: ignored
    idx, z = find_outliers(x)
    assert list(idx[:3]) == [17, 400, 4000]
    assert z[0] > 14 and z[1] < -5.5 and 4.5 < z[2] < 5
    assert np.all(np.abs(z) > 4)
    assert 123 not in idx
    # the mean/sd z-score would hide the largest outlier's neighbours; the robust one
    # keeps the bulk inside: almost nothing else is flagged
    assert len(idx) <= 3 + 3


def test_outliers_of_a_constant_column_or_a_heavy_tie():
    assert len(find_outliers(np.full(100, 5.0))[0]) == 0
    x = np.zeros(100)
    x[:3] = [1.0, 2.0, 50.0]   # MAD is 0: the mean absolute deviation (0.53) scales
    idx, z = find_outliers(x)
    assert list(idx) == [2] and z[0] == pytest.approx(50 / (0.53 * 1.2533), rel=1e-3)
    assert len(find_outliers([np.nan, np.nan])[0]) == 0


def test_failures_grouped_by_kind_with_five_examples():
    rows = ([{"name": f"s{i:03d}", "kind": "corrupt dicom", "message": f"bad slice {i}"}
             for i in range(12)]
            + [{"name": "x1", "kind": "missing file", "message": "no such file " + "y" * 400},
               {"name": "e1", "kind": "excluded", "message": "excluded by list.csv"},
               {"name": "e2", "kind": "excluded", "message": "excluded by list.csv"}])
    groups = group_failures(pd.DataFrame(rows).sample(frac=1, random_state=1))
    assert [(g["kind"], g["count"]) for g in groups] == [
        ("corrupt dicom", 12), ("excluded", 2), ("missing file", 1)]
    assert [n for n, _ in groups[0]["examples"]] == [f"s{i:03d}" for i in range(5)]
    msg = groups[2]["examples"][0][1]
    assert len(msg) == 300 and msg.endswith("\u2026")
    assert group_failures(pd.DataFrame(columns=["name", "kind", "message"])) == []


def test_bool_columns_from_csv_and_parquet():
    value, known = bool_values(["True", "False", "", None, np.nan, True, False, "true", 1])
    assert list(value) == [True, False, False, False, False, True, False, True, True]
    assert list(known) == [True, True, False, False, False, True, True, True, True]
    value, known = bool_values(pd.Series([True, False]))
    assert list(value) == [True, False] and known.all()


def test_sex_codes_and_covariates(tmp_path):
    assert list(sex_labels(["0", "1", 1, 0.0, "Female", "M", "", None, "9"])) == [
        "female", "male", "male", "female", "female", "male", "", "", ""]
    f = tmp_path / "cov.tsv"
    f.write_text("EID\tSex\tage\n1000001\t1\t60\n1000002\t0\t55\n")
    cov = read_covariates(f)
    assert cov == {"1000001": "male", "1000002": "female"}
    names = ["1000001_20201_2_0", "1000002_20201_3_0", "1000003_20201_2_0", "other"]
    assert list(covariate_sex(names, cov)) == ["male", "female", "", ""]
    bad = tmp_path / "bad.csv"
    bad.write_text("eid,height\n1,170\n")
    with pytest.raises(UsageError, match="eid and a sex column"):
        read_covariates(bad)


def test_targets_found_with_units_modules_and_sex():
    cols = ["name", "qc_pass"]
    for label, unit in (("VAT", "L"), ("m_a.age", "years"), ("m_b.age", "years"),
                        ("sex", "(male = 1)")):
        cols += [f"{label}_{s}_in_{unit}" for s in ("mean", "sd", "variance", "lower95",
                                                    "upper95")]
        cols.append(f"{label}_uncertain")
    table = pd.DataFrame(columns=cols)
    targets = find_targets(table, {"m_a": ["VAT_mean_in_L", "age_mean_in_years"],
                                   "m_b": ["age_mean_in_years", "sex_mean_in_(male = 1)"]})
    got = [(t.label, t.unit, t.module, t.is_sex) for t in targets]
    assert got == [("VAT", "L", "m_a", False), ("m_a.age", "years", "m_a", False),
                   ("m_b.age", "years", "m_b", False), ("sex", "(male = 1)", "m_b", True)]
    assert targets[0].lower == "VAT_lower95_in_L" and targets[0].upper == "VAT_upper95_in_L"
    assert targets[0].axis_label == "VAT (L)"
    assert targets[3].axis_label == "sex (male = 1)"


def test_flag_counts():
    qc = pd.DataFrame({"name": ["a", "b", "c", "d"],
                       "qc_flags": ["fat_water_swap", "", "unknown", "fat_water_swap"],
                       "fat_water_swap": ["True", "False", "", "True"],
                       "small_overlap": ["False", "False", "", "False"]})
    counts = flag_counts(qc, FLAGS).set_index("flag")
    assert counts.loc["fat_water_swap", "subjects"] == 2
    assert counts.loc["fat_water_swap", "share"] == 0.5
    assert counts.loc["small_overlap", "subjects"] == 0
    assert counts.loc["unknown", "subjects"] == 1
    assert list(counts.index[:len(FLAGS)]) == list(FLAGS)


def test_shuffled_is_reproducible_and_complete():
    names = [f"n{i}" for i in range(50)]
    a = shuffled(names[::-1])
    assert a == shuffled(names) and sorted(a) == sorted(names) and a != sorted(names)


def test_thumbnail_reduces_each_channel():
    img = np.zeros((3, 256, 256), dtype=np.uint8)
    img[1] = 200
    img[2, :128] = 100
    t = thumbnail(img, 128)
    assert t.shape == (128, 384) and t.dtype == np.uint8
    assert (t[:, :128] == 0).all() and (t[:, 128:256] == 200).all()
    assert (t[:64, 256:] == 100).all() and (t[64:, 256:] == 0).all()


def test_station_outlines_placed_by_slice_and_flag():
    facts = {"shape": [224, 174, 200], "overlaps": [12, 3, 13],
             "station_slices": [[-4, 58], [50, 112], [110, 170], [160, 204]],
             "swap_scores": [{"corr": -0.5, "corr_left": -0.5, "corr_right": -0.4},
                             {"corr": -0.6, "corr_left": -0.6, "corr_right": -0.6},
                             {"corr": 0.9, "corr_left": 0.9, "corr_right": 0.9}]}
    svg = station_svg(facts, "small_overlap", size=100)
    ys = sorted({float(y) for y in re.findall(r"y1='([0-9.]+)'", svg)})
    # lines where station i+1 starts and station i ends: slice / 200 * 100 px
    assert ys == [25.0, 29.0, 55.0, 56.0, 80.0, 85.0]
    assert svg.count("class='bd bad'") == 2          # the 3-slice overlap, both lines
    assert svg.count(">1</text>") == 1 and ">4</text>" in svg
    swap = station_svg(facts, "fat_water_swap", size=100)
    # stations 2 (both overlaps anti-correlated) framed: slices 50-112
    assert re.search(r"class='hl' x='1' y='25.0' width='298' height='31.0'", swap)
    assert station_svg(facts, "body_at_anterior_edge", size=100) == ""
    assert station_svg({"shape": [1, 1, 10]}, "small_overlap") == ""   # older caches


@pytest.mark.parametrize("value,text", [(50000, "50,000"), (np.int64(7), "7"),
                                        (1234.5, "1,234"), (0.012345, "0.01235"),
                                        (float("nan"), "-"), (None, "-"), (3.0, "3")])
def test_numbers_for_people(value, text):
    assert fmt(value) == text


@pytest.mark.parametrize("room,targets,want", [(240, 3, 8), (108, 19, 4), (60, 19, 3),
                                               (5, 19, 1), (0, 0, 1), (70, 10, 4)])
def test_outliers_per_target_shares_the_image_budget(room, targets, want):
    from mimir.report.build import outliers_per_target

    assert outliers_per_target(room, targets) == want
