"""Targets, splits, a tiny cross-validation, module create and infer with the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.errors import UsageError
from mimir.training.splits import make_folds, read_folds, write_folds
from mimir.training.targets import TargetSpec, make_target_table, read_meta, write_target_table
from tests.training.interrupt import train_until

runner = CliRunner()


@pytest.fixture(scope="module")
def fast_cache(tmp_path_factory) -> Path:
    """24 fast-path phantoms as an image cache with truth.csv (+ truth.meta.csv)."""
    out = tmp_path_factory.mktemp("fast")
    res = runner.invoke(app, ["phantom", str(out), "--n", "24", "--seed", "3", "--fast"])
    assert res.exit_code == 0, res.output
    return out


def test_target_table_from_showcase_export(tmp_path, fast_cache):
    names = sorted(p.stem for p in fast_cache.glob("*.npy"))
    eids = [n.split("_")[0] for n in names]
    show = pd.DataFrame({"eid": eids[:5] + ["1000000"],
                         "22407-2.0": [1.5, 2.0, np.nan, 3.1, 4.4, 9.9],
                         "22407-3.0": [7.0] * 6, "21001-2.0": [20, 21, 22, 23, 24, 25]})
    src = tmp_path / "ukb.tsv"
    show.to_csv(src, sep="\t", index=False)
    res = runner.invoke(app, ["targets", str(src), "-f", "22407:VAT:L", "-f", "21001:bmi:kg/m2",
                              "--cache", str(fast_cache), "-o", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "with an image: 24; with a value: 6; both: 5" in res.output.replace("\n", " ")
    table = pd.read_csv(tmp_path / "t.csv", dtype={"name": str, "eid": str})
    assert list(table.columns) == ["name", "eid", "VAT", "bmi"]
    assert list(table["name"]) == [f"{e}_20201_2_0" for e in eids[:5]]
    assert np.isnan(table["VAT"][2]) and table["bmi"][2] == 22  # one target missing: kept
    meta = read_meta(tmp_path / "t.csv", ["VAT", "bmi"])
    assert list(meta["field"]) == ["22407", "21001"] and list(meta["unit"]) == ["L", "kg/m2"]
    with pytest.raises(UsageError, match="22407-3.1"):
        make_target_table(show, [TargetSpec("22407", "x")], instance=3, array=1)
    # the instance picks the column
    t3, meta3, _ = make_target_table(show, [TargetSpec("22407", "x")], instance=3)
    assert t3["x"].eq(7.0).all() and t3["name"].str.endswith("_20201_3_0").all()
    write_target_table(t3, meta3, tmp_path / "t3.csv")
    assert read_meta(tmp_path / "t3.csv", ["x"])["field"].tolist() == ["22407"]


def test_folds_are_seeded_disjoint_and_complete(tmp_path):
    names = [f"s{i:02d}" for i in range(23)]
    a = make_folds(names, 5, seed=1)
    assert make_folds(names, 5, seed=1) == a and make_folds(names, 5, seed=2) != a
    assert sorted(n for f in a for n in f) == sorted(names)
    assert {len(f) for f in a} == {4, 5}
    write_folds(a, tmp_path / "splits")
    assert read_folds(tmp_path / "splits") == a
    (tmp_path / "splits" / "fold_6.txt").write_text("s00\n")
    with pytest.raises(UsageError, match="s00 is in folds"):
        read_folds(tmp_path / "splits")


@pytest.mark.slow
def test_tiny_crossval_module_create_and_infer(fast_cache, tmp_path):
    truth = fast_cache / "truth.csv"
    cols = "vat_volume_L,asat_volume_L,weight_kg,sex_male1"
    res = runner.invoke(app, ["split", "--targets", str(truth), "--k", "2", "--seed", "0",
                              "-o", str(tmp_path / "splits"), "--cache", str(fast_cache)])
    assert res.exit_code == 0, res.output
    common = ["--cache", str(fast_cache), "--targets", str(truth), "--columns", cols,
              "--backbone", "resnet18", "--iterations", "4", "--batch-size", "4",
              "--snapshot-every", "2", "--lr", "3e-4", "--lr-drop-at", "0.5",
              "--device", "cpu", "--init", "random"]
    cv = tmp_path / "cv"
    res = runner.invoke(app, ["crossval", *common, "--splits", str(tmp_path / "splits"),
                              "-o", str(cv)])
    assert res.exit_code == 0, res.output
    for rel in ("metrics.csv", "calibration_factors.csv", "pooled_predictions.csv",
                "report.html", "plots/metrics_by_iteration.png", "plots/vat_volume_L.png",
                "fold_1/heldout_iter_000002.csv", "fold_2/heldout_iter_000004.csv"):
        assert (cv / rel).is_file(), rel
    metrics = pd.read_csv(cv / "metrics.csv")
    assert set(metrics["iteration"]) == {2, 4}
    assert set(metrics["target"]) == set(cols.split(","))
    for c in ("icc", "r2", "mae", "mape", "nll", "auce", "nll_calibrated", "auce_calibrated",
              "calibration_factor", "icc_textbook", "icc_published", "published_icc"):
        assert c in metrics.columns
    # both ICC formulas; the textbook one in `icc` by default
    assert (metrics["icc"] == metrics["icc_textbook"]).all()
    assert set(metrics["icc_formula"]) == {"textbook"}
    # the published figures beside each target: weight matches the published "weight"
    w = metrics[metrics["target"] == "weight_kg"].iloc[0]
    assert (w["published_target"], w["published_icc"], w["published_unit"]) == \
        ("weight", 0.997, "kg")
    assert "Beside the published figures" in (cv / "report.html").read_text()
    # the data dictionary covers every column of every table of the folder
    _check_dictionary(cv)
    last = metrics[metrics["iteration"] == 4]
    assert (last["nll_calibrated"] <= last["nll"] + 1e-9).all()  # calibration never hurts
    pooled = pd.read_csv(cv / "pooled_predictions.csv")
    assert len(pooled) == 24  # every subject predicted once, held out
    # the factors meet the published criterion on the pooled held-out predictions
    from mimir.training import metrics as M

    for t in cols.split(","):
        row = last[last["target"] == t].iloc[0]
        assert row["calibration_method"] == "published"
        s = M.calibration_sum(pooled[f"{t}_truth"], pooled[f"{t}_mean"], pooled[f"{t}_var"],
                              row["calibration_factor"])
        assert s == pytest.approx(row["calibration_sum"]) and abs(s) <= 0.05
    # units and field ids; per-fold metrics
    vat = last[last["target"] == "vat_volume_L"].iloc[0]
    assert vat["unit"] == "L" and vat["name"] == "VAT"
    by_fold = pd.read_csv(cv / "metrics_by_fold.csv")
    assert set(by_fold["fold"]) == {1, 2} and set(by_fold["iteration"]) == {2, 4}
    assert by_fold.groupby(["iteration", "target"])["n"].sum().eq(24).all()
    page = (cv / "report.html").read_text()
    assert "VAT" in page and "[L]" in page and "prediction - reference" in page
    assert "metrics-by-fold" in page
    # resuming a finished cross-validation trains nothing and gives the same metrics
    res = runner.invoke(app, ["crossval", *common, "--splits", str(tmp_path / "splits"),
                              "-o", str(cv)])
    assert res.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(cv / "metrics.csv"), metrics)

    run = tmp_path / "final"
    res = runner.invoke(app, ["train", *common, "-o", str(run)])
    assert res.exit_code == 0, res.output
    mod = tmp_path / "module_tiny"
    assert json.loads((run / "config.json").read_text())["config"]["lr_drop_at"] == 0.5
    res = runner.invoke(app, ["module", "create", "--run", str(run), "--crossval", str(cv),
                              "--targets", str(truth), "-o", str(mod), "--half",
                              "--cache", str(fast_cache)])
    assert res.exit_code == 0, res.output
    info = json.loads((mod / "module.json").read_text())
    fit = info["provenance"]["training_fit"]["targets"]
    assert [r["target"] for r in fit] == cols.split(",") and {r["n"] for r in fit} == {24}
    for r in fit:  # every target the check flags is named in a warning, and only those
        assert r["flagged"] == (abs(r["offset_sd"]) > 1.0)
        assert (f"warning: {r['target']}:" in " ".join(res.output.split())) == r["flagged"]
    assert info["backbone"] == "resnet18" and info["weights_dtype"] == "float16"
    assert info["provenance"]["crossval"]["calibration_method"] == "published"
    assert info["provenance"]["init"]["kind"] == "random"
    assert info["targets"] == ["VAT", "ASAT", "weight", "sex"]
    factors = pd.read_csv(cv / "calibration_factors.csv")["calibration_factor"].tolist()
    got = [float(x) for x in (mod / "calibration_factors.txt").read_text().split()[1:]]
    np.testing.assert_allclose(got, factors)
    res = runner.invoke(app, ["infer", "--cache", str(fast_cache), "-m", str(mod), "-o",
                              str(tmp_path / "out"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "out" / "module_tiny" / "predictions.csv")
    assert list(pred.columns) == ["name", "VAT_mean_in_L", "VAT_variance_in_L",
                                  "ASAT_mean_in_L", "ASAT_variance_in_L", "weight_mean_in_kg",
                                  "weight_variance_in_kg", "sex_mean_in_(male = 1)",
                                  "sex_variance_in_(male = 1)"]
    assert len(pred) == 24 and np.isfinite(pred.iloc[:, 1:].to_numpy()).all()


def _check_dictionary(folder: Path) -> None:
    from mimir.output.dictionary import read_dictionary

    d = read_dictionary(folder)
    listed = set(zip(d["table"], d["column"], strict=True))
    tables = sorted(folder.glob("*.csv")) + sorted(folder.glob("*/*.csv"))
    assert len(tables) > 5
    for p in tables:
        rel = p.relative_to(folder).as_posix()
        if rel == "columns.csv":
            continue
        for c in pd.read_csv(p, nrows=0).columns:
            assert (rel, c) in listed, (rel, c)
    assert (d["meaning"] != "").all(), d[d["meaning"] == ""]


@pytest.mark.parametrize("icc", ["published"])
def test_crossval_icc_published_fills_the_icc_column(fast_cache, tmp_path, icc):
    """--icc published: the icc column is the original's formula (evaluation only: the
    folds of a finished cross-validation are reused)."""
    from mimir.training.crossval import evaluate
    from mimir.training.data import read_target_table
    from mimir.training.metrics import icc_published

    truth = fast_cache / "truth.csv"
    names = sorted(pd.read_csv(truth, dtype={"name": str})["name"])
    folds = [names[::2], names[1::2]]
    write_folds(folds, tmp_path / "splits")
    common = ["--cache", str(fast_cache), "--targets", str(truth), "--columns",
              "weight_kg", "--backbone", "resnet18", "--iterations", "2", "--batch-size",
              "4", "--snapshot-every", "2", "--device", "cpu", "--init", "random"]
    res = runner.invoke(app, ["crossval", *common, "--splits", str(tmp_path / "splits"),
                              "-o", str(tmp_path / "cv"), "--icc", icc])
    assert res.exit_code == 0, res.output
    assert "ICC (published)" in res.output
    m = pd.read_csv(tmp_path / "cv" / "metrics.csv")
    assert (m["icc"] == m["icc_published"]).all() and set(m["icc_formula"]) == {icc}
    pooled = pd.read_csv(tmp_path / "cv" / "pooled_predictions.csv")
    want = icc_published(pooled["weight_kg_truth"], pooled["weight_kg_mean"])
    assert m["icc"].iloc[-1] == pytest.approx(want, rel=1e-12)
    again = evaluate(tmp_path / "cv", read_target_table(truth), ["weight_kg"], 2,
                     icc="textbook")
    assert (again["metrics"]["icc"] == again["metrics"]["icc_textbook"]).all()


def test_train_checks_the_targets_first_and_says_what_it_expects(tmp_path, fast_cache):
    """A missing or wrong target table is reported (with the columns found, the ones
    expected and `mimir targets`) before the ImageNet weights, which are missing here
    (no network in tests)."""
    base = ["train", "--cache", str(fast_cache), "-o", str(tmp_path / "run"),
            "--iterations", "2"]
    res = runner.invoke(app, [*base, "--targets", str(tmp_path / "none.csv")])
    assert res.exit_code == 2
    msg = " ".join(res.output.split())
    assert "none.csv: no such file" in msg and "mimir targets" in msg
    assert "ImageNet" not in msg and "weights" not in msg
    wrong = tmp_path / "export.csv"
    wrong.write_text("eid,21002-2.0,50-2.0\n1000001,80,170\n")
    for cmd in (base, ["crossval", "--cache", str(fast_cache), "--splits", str(tmp_path),
                       "-o", str(tmp_path / "cv")]):
        res = runner.invoke(app, [*cmd, "--targets", str(wrong)])
        assert res.exit_code == 2, res.output
        msg = " ".join(res.output.split())
        assert "has no 'name' column (found: eid, 21002-2.0, 50-2.0)" in msg
        assert "expected: name" in msg and "mimir targets" in msg
        assert "weights" not in msg
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_crossval_with_original_splits_nll_factors_and_all_plots(fast_cache, tmp_path):
    truth = fast_cache / "truth.csv"
    names = sorted(pd.read_csv(truth, dtype={"name": str})["name"])
    assert all(n.endswith("_20201_2_0") for n in names)
    splits = tmp_path / "orig"
    splits.mkdir()
    for k in range(2):  # the original's format: eids, one file per fold
        (splits / f"images_set_{k}.txt").write_text(
            "\n".join(n.split("_")[0] for n in names[k::2]) + "\n")
    res = runner.invoke(app, ["crossval", "--cache", str(fast_cache), "--targets", str(truth),
                              "--columns", "vat_volume_L,weight_kg", "--backbone", "resnet18",
                              "--iterations", "4", "--batch-size", "4", "--snapshot-every",
                              "2", "--device", "cpu", "--init", "random", "--splits",
                              str(splits), "--calibration", "nll", "--plots", "all", "-o",
                              str(tmp_path / "cv")])
    assert res.exit_code == 0, res.output
    cv = tmp_path / "cv"
    metrics = pd.read_csv(cv / "metrics.csv")
    assert set(metrics["calibration_method"]) == {"nll"}
    pooled = pd.read_csv(cv / "pooled_predictions.csv")
    assert sorted(pooled["name"]) == names
    from mimir.training import metrics as M

    last = metrics[metrics["iteration"] == 4].set_index("target")
    want = M.calibration_factor_nll(pooled["vat_volume_L_truth"], pooled["vat_volume_L_mean"],
                                    pooled["vat_volume_L_var"])
    assert last.loc["vat_volume_L", "calibration_factor"] == pytest.approx(want)
    for rel in ("plots/vat_volume_L.png", "plots/iter_000002/vat_volume_L.png",
                "plots/iter_000002/weight_kg.png"):
        assert (cv / rel).is_file(), rel
    res = runner.invoke(app, ["crossval", "--cache", str(fast_cache), "--targets", str(truth),
                              "--splits", str(splits), "--calibration", "median", "-o",
                              str(tmp_path / "cv2"), "--init", "random"])
    assert res.exit_code == 2 and "--calibration" in res.output


def test_train_resumes_from_its_last_snapshot(fast_cache, tmp_path):
    from mimir.training.data import load_dataset, read_target_table
    from mimir.training.train import TrainConfig, snapshots, train

    table = read_target_table(fast_cache / "truth.csv")
    data = load_dataset(fast_cache, table, ["vat_volume_L", "weight_kg"])
    cfg = TrainConfig(backbone="resnet18", iterations=4, batch_size=2, lr=1e-4, init="random",
                      snapshot_every=2)
    full = train(data, tmp_path / "full", cfg, device="cpu", log=lambda m: None)
    train_until(train, 3, data, tmp_path / "part", cfg, device="cpu", log=lambda m: None)
    assert [i for i, _ in snapshots(tmp_path / "part")] == [2]
    train(data, tmp_path / "part", cfg, device="cpu", log=lambda m: None)
    import torch

    a = torch.load(dict(snapshots(full))[4], weights_only=True)["state_dict"]
    b = torch.load(dict(snapshots(tmp_path / "part"))[4], weights_only=True)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    with pytest.raises(UsageError, match="different config"):
        train(data, tmp_path / "part", TrainConfig(backbone="resnet18", iterations=5,
                                                       init="random"),
              device="cpu", log=lambda m: None)


def test_default_target_columns_come_from_the_meta_sidecar(tmp_path):
    import pandas as pd

    from mimir.errors import UsageError
    from mimir.training.targets import target_columns as _target_columns

    table = pd.DataFrame({"eid": [1, 2], "name": ["a", "b"], "vat": [1.0, 2.0],
                          "weight": [70.0, 80.0], "wb_extra": [0.1, 0.2]})
    path = tmp_path / "t.csv"
    assert _target_columns(table, None, path) == ["vat", "weight", "wb_extra"]
    (tmp_path / "t.meta.csv").write_text("column,name,field,unit,divisor\n"
                                         "weight,weight,,kg,1\nvat,VAT,,L,1\n")
    assert _target_columns(table, None, path) == ["weight", "vat"]
    assert _target_columns(table, "wb_extra", path) == ["wb_extra"]
    (tmp_path / "t.meta.csv").write_text("column,name,field,unit,divisor\nage,age,,y,1\n")
    with pytest.raises(UsageError, match="age"):
        _target_columns(table, None, path)
