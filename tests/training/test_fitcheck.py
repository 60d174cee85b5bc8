"""The training-fit check: offsets of a network on its own training subjects."""

import numpy as np
import pytest

from mimir.training.fitcheck import MAX_OFFSET, fit_table, interval_coverage


def test_interval_coverage_of_a_shifted_gaussian():
    assert interval_coverage(0.0) == pytest.approx(0.95, abs=1e-9)
    # by simulation: truth shifted by 0.5 sd against a central 95 % interval
    z = np.random.default_rng(0).normal(size=400_000) + 0.5
    assert interval_coverage(0.5) == pytest.approx(np.mean(np.abs(z) < 1.959964), abs=2e-3)
    assert interval_coverage(-1.0) == interval_coverage(1.0) < interval_coverage(0.5)


def test_fit_table_measures_offsets_in_calibrated_sds():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(500, 2))
    mean = y + np.array([0.3, 0.0]) + rng.normal(scale=0.01, size=y.shape)
    var = np.ones_like(y)
    y[:100, 1] = np.nan  # missing labels are left out
    t = fit_table(y, mean, var, ["a", "b"], {"a": 0.04})  # calibrated sd of a: 0.2
    a, b = t.iloc[0], t.iloc[1]
    assert a["n"] == 500 and b["n"] == 400
    assert a["rms_sd"] == pytest.approx(0.2) and b["rms_sd"] == pytest.approx(1.0)
    assert a["offset_sd"] == pytest.approx(1.5, abs=0.01) and a["flagged"]
    assert abs(b["offset_sd"]) < 0.01 and not b["flagged"]
    assert a["coverage95_if_shifted"] == pytest.approx(interval_coverage(a["offset_sd"]))
    assert 1.5 > MAX_OFFSET

