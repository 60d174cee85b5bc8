"""Deep ensembles: members differ only in seed; a 3-member module goes through
``module create`` and ``infer`` and predicts the members' mixture; crossval --ensemble
compares single member and ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from mimir.cli import app
from mimir.errors import UsageError
from mimir.inference.ensemble import mixture
from mimir.modules.format import load_module
from mimir.training import metrics as M
from mimir.training.ensemble import member_config, member_seed
from mimir.training.train import TrainConfig

runner = CliRunner()
COLS = "vat_volume_L,weight_kg"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ens_cache")
    res = runner.invoke(app, ["phantom", str(out), "--n", "10", "--seed", "8", "--fast"])
    assert res.exit_code == 0, res.output
    return out


def _common(cache: Path) -> list[str]:
    return ["--cache", str(cache), "--targets", str(cache / "truth.csv"), "--columns", COLS,
            "--backbone", "resnet18", "--iterations", "2", "--batch-size", "4",
            "--snapshot-every", "2", "--device", "cpu", "--init", "random", "--threads", "1"]


def test_member_seeds():
    assert member_seed(7, 1) == 7  # member 1 is the single run of --seed 7
    seeds = [member_seed(7, m) for m in range(1, 6)]
    assert len(set(seeds)) == 5 and seeds == [member_seed(7, m) for m in range(1, 6)]
    assert not set(seeds[1:]) & {member_seed(8, m) for m in range(1, 6)}
    c = member_config(TrainConfig(seed=7, ensemble=5, init="random"), 3)
    assert c.seed == seeds[2] and c.ensemble == 1 and c.init == "random"


def _predictions(out: Path, module: str) -> pd.DataFrame:
    return pd.read_csv(out / module / "predictions.csv").set_index("name").sort_index()


@pytest.mark.slow
def test_three_member_module_round_trip_through_create_and_infer(cache, tmp_path):
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", *_common(cache), "--ensemble", "3", "-o", str(run)])
    assert res.exit_code == 0, res.output
    info = json.loads((run / "ensemble.json").read_text())
    assert info["members"] == 3 and info["member_seeds"][0] == 0
    # members differ: their first losses come from different weights and batches
    firsts = [(run / f"member_{m}" / "log.csv").read_text().splitlines()[1] for m in (1, 2, 3)]
    assert len(set(firsts)) == 3
    truth = str(cache / "truth.csv")
    res = runner.invoke(app, ["module", "create", "--run", str(run), "--targets", truth,
                              "--cache", str(cache), "-o", str(tmp_path / "module_ens")])
    assert res.exit_code == 0, res.output
    mod = load_module(tmp_path / "module_ens")
    meta = json.loads((tmp_path / "module_ens" / "module.json").read_text())
    assert meta["format_version"] == 2
    assert meta["provenance"]["training"]["ensemble"] == 3
    assert meta["provenance"]["training"]["member_seeds"] == info["member_seeds"]
    # the training-fit check ran on the members' mixture
    fit = meta["provenance"]["training_fit"]["targets"]
    assert [r["target"] for r in fit] == COLS.split(",") and all(r["n"] == 10 for r in fit)
    assert [m["snapshot"] for m in meta["members"]] == ["snapshot.pth.tar",
                                                         "member_2.pth.tar",
                                                         "member_3.pth.tar"]
    assert [m.seed for m in mod.members] == info["member_seeds"]
    singles = []
    for m in (1, 2, 3):
        res = runner.invoke(app, ["module", "create", "--run", str(run / f"member_{m}"),
                                  "--targets", truth, "-o", str(tmp_path / f"module_m{m}")])
        assert res.exit_code == 0, res.output
        singles.append(f"module_m{m}")
    # member 1's snapshot is the module's published snapshot.pth.tar
    a = torch.load(tmp_path / "module_ens" / "snapshot.pth.tar", weights_only=True)
    b = torch.load(tmp_path / "module_m1" / "snapshot.pth.tar", weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    out = tmp_path / "out"
    res = runner.invoke(app, ["infer", "--cache", str(cache), "-o", str(out), "--digits", "15",
                              "--no-report", "-m", str(tmp_path / "module_ens"),
                              *[a for s in singles for a in ("-m", str(tmp_path / s))]])
    assert res.exit_code == 0, res.output
    mods = {m["name"]: m for m in json.loads((out / "run.json").read_text())["modules"]}
    assert mods["module_ens"]["members"] == 3 and mods["module_m1"]["members"] == 1
    ens = _predictions(out, "module_ens")
    per = [_predictions(out, s) for s in singles]
    for col in [c for c in ens.columns if "_mean_in_" in c]:
        var = col.replace("_mean_in_", "_variance_in_")
        m, v = mixture(np.stack([p[col].to_numpy() for p in per]),
                       np.stack([p[var].to_numpy() for p in per]))
        assert np.allclose(ens[col], m, rtol=1e-5, atol=1e-6), col
        assert np.allclose(ens[var], v, rtol=1e-4), var
        assert (ens[var] >= np.mean([p[var] for p in per], axis=0) - 1e-9).all()
    # a mismatched rerun is refused, naming what differs
    with pytest.raises(UsageError, match="ensemble"):
        from mimir import api

        api.train(cache, cache / "truth.csv", run, columns=COLS, backbone="resnet18",
                  iterations=2, batch_size=4, snapshot_every=2, device="cpu", init="random",
                  ensemble=2)


@pytest.mark.slow
def test_crossval_ensemble_compares_single_member_and_ensemble(cache, tmp_path):
    res = runner.invoke(app, ["split", "--targets", str(cache / "truth.csv"), "--k", "2",
                              "-o", str(tmp_path / "splits")])
    assert res.exit_code == 0, res.output
    cv = tmp_path / "cv"
    res = runner.invoke(app, ["crossval", *_common(cache), "--splits", str(tmp_path / "splits"),
                              "--ensemble", "2", "-o", str(cv)])
    assert res.exit_code == 0, res.output
    assert "single member against ensemble" in res.output
    comp = pd.read_csv(cv / "ensemble_comparison.csv")
    assert set(comp["model"]) == {"member 1", "single members (mean of 2)", "ensemble of 2"}
    assert set(comp["target"]) == set(COLS.split(","))
    for c in ("mae", "icc", "auce_calibrated", "coverage95_calibrated", "ause"):
        assert comp[c].notna().all(), c
    # each fold's held-out predictions are the mixture of its members'
    for k in (1, 2):
        fold = pd.read_csv(cv / f"fold_{k}" / "heldout_iter_000002.csv").set_index("name")
        mem = [pd.read_csv(cv / f"fold_{k}" / f"member_{m}" / "heldout_iter_000002.csv")
               .set_index("name").loc[fold.index] for m in (1, 2)]
        m, v = mixture(np.stack([x["vat_volume_L_mean"] for x in mem]),
                       np.stack([x["vat_volume_L_var"] for x in mem]))
        assert np.allclose(fold["vat_volume_L_mean"], m)
        assert np.allclose(fold["vat_volume_L_var"], v)
    # the ensemble's calibration is fitted on those mixtures (the published criterion)
    pooled = pd.read_csv(cv / "pooled_predictions.csv")
    factor = pd.read_csv(cv / "calibration_factors.csv").set_index("target")
    s = M.calibration_sum(pooled["weight_kg_truth"], pooled["weight_kg_mean"],
                          pooled["weight_kg_var"], factor.loc["weight_kg", "calibration_factor"])
    assert abs(s) <= 0.5 / 10 + 1e-9
    ens_row = comp[(comp["model"] == "ensemble of 2") & (comp["target"] == "weight_kg")]
    assert ens_row["calibration_factor"].iloc[0] == pytest.approx(
        factor.loc["weight_kg", "calibration_factor"])
    page = (cv / "report.html").read_text()
    assert "id='ensemble-comparison'" in page and "ensemble_sparsification.png" in page
    assert (cv / "plots" / "ensemble_sparsification.png").is_file()
