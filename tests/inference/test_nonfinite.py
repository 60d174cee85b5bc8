"""Predictions that are not finite are never written as numbers (issue #26, item 4): the
subject/module pair fails as ``non-finite prediction`` (counted, exit 1), that module's
columns stay empty for the subject, other modules' values are kept."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.errors import FAILURES, Kind
from mimir.inference.formulas import Z_MAX, nonfinite_subjects, z_value

runner = CliRunner()


def test_nonfinite_subjects_names_the_first_bad_value():
    mean = np.array([[1.0, 2.0], [np.inf, 2.0], [1.0, np.nan], [1.0, 1.0], [1.0, 1.0],
                     [1.7e308, -1.7e308]])
    var = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [np.inf, -1.0],
                    [1.7e308, 1.7e308]])
    bad = nonfinite_subjects(mean, var)
    assert sorted(bad) == [1, 2, 3, 4]
    assert bad[1] == "target 1: mean inf"
    assert bad[2] == "target 2: mean nan"
    assert bad[3] == "target 2: variance -1"
    assert bad[4] == "target 1: variance inf (and 1 more)"
    # the largest finite values still give finite sds and bounds
    assert nonfinite_subjects(mean[[0, 5]], var[[0, 5]]) == {}
    assert z_value(1 - 2 ** -52) < Z_MAX  # the largest level --ci accepts


def _bad_module(src, dst, row: int, value: float, weight: float | None = None):
    """A copy of module ``src`` whose fc output ``row`` has bias ``value`` (row 2t: mean
    of target t, 2t + 1: its log variance)."""
    shutil.copytree(src, dst)
    snap = torch.load(dst / "snapshot.pth.tar", weights_only=True)
    sd = snap["state_dict"]
    sd["fc.bias"][row] = value
    if weight is not None:
        sd["fc.weight"][row] = weight
    torch.save(snap, dst / "snapshot.pth.tar")
    return dst


@pytest.mark.parametrize("row,value,weight,says", [
    (3, 800.0, None, "target 2: variance inf"),  # exp(800) overflows
    (0, 3e38, 1e35, "target 1: mean inf"),  # the network's float32 output overflows
    (4, float("nan"), None, "target 3: mean nan"),
])
def test_nonfinite_predictions_fail_the_pair(tmp_path, cached, module18, row, value, weight,
                                             says):
    bad = _bad_module(module18, tmp_path / "module_bad", row, value, weight)
    out = tmp_path / "out"
    s = mimir.infer([], cached, [module18, bad], out, 2, device="cpu", threads=1,
                    report=False)
    assert not s.ok
    f = pd.read_csv(out / "failures.csv", dtype=str, keep_default_na=False)
    assert len(f) == 3 and set(f["kind"]) == {Kind.NON_FINITE_PREDICTION}
    assert all("module module_bad: " + says in m for m in f["message"]), list(f["message"])
    text = (out / "predictions.csv").read_text().lower()
    assert "inf" not in text and "nan" not in text
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 3
    good = [c for c in table.columns if c.startswith("module_small.")]
    bad_cols = [c for c in table.columns if c.startswith("module_bad.")]
    assert good and bad_cols
    assert table[good].notna().all().all() and table[bad_cols].isna().all().all()
    assert len(pd.read_csv(out / "module_bad" / "predictions.csv")) == 0


def test_nonfinite_prediction_exits_1(tmp_path, cached, module18):
    bad = _bad_module(module18, tmp_path / "module_bad", 1, 800.0)
    res = runner.invoke(app, ["infer", "--cache", str(cached), "-m", str(bad), "-o",
                              str(tmp_path / "out"), "--device", "cpu", "--no-report"])
    assert res.exit_code == 1, res.output
    assert FAILURES[Kind.NON_FINITE_PREDICTION].input_fault is False
