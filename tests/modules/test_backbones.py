"""A backbone family is one file: EfficientNet-B0 (modules/backbones/efficientnet.py) trains,
packs into a module and runs in infer; the head's name and width come from the registry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.modules import backbones
from mimir.modules.network import network_from_state

runner = CliRunner()


def test_registry_gives_each_family_its_head_and_width():
    eff = backbones.get("efficientnet_b0")
    assert (eff.head, eff.features) == ("classifier.1", 1280)
    assert (backbones.get("resnet50").head, backbones.get("resnet50").features) == ("fc", 2048)
    net = eff.build_training(6)
    assert tuple(net.state_dict()[f"{eff.head}.weight"].shape) == (6, eff.features)
    assert eff.is_head("classifier.1.bias") and not eff.is_head("features.0.0.weight")


def test_efficientnet_folded_for_prediction_gives_the_training_network_outputs():
    torch.manual_seed(0)
    eff = backbones.get("efficientnet_b0")
    net = eff.build_training(4).eval()
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(2, 3, 256, 256) * 255
    with torch.no_grad():
        want = net(x)
        got = eff.fold_batchnorm(network_from_state("efficientnet_b0", 2, net.state_dict(),
                                                    "test"))(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


@pytest.mark.slow
def test_efficientnet_trains_packs_and_predicts(tmp_path, cached):
    names = sorted(p.stem for p in cached.glob("*.npy"))
    table = tmp_path / "t.csv"
    pd.DataFrame({"name": names, "age": [50.0, 60.0, 70.0]}).to_csv(table, index=False)
    pd.DataFrame({"column": ["age"], "name": ["age"], "field": ["21003"], "unit": ["years"],
                  "divisor": ["1"]}).to_csv(tmp_path / "t.meta.csv", index=False)
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--cache", str(cached), "--targets", str(table), "-o",
                              str(run), "--backbone", "efficientnet_b0", "--init", "random",
                              "--iterations", "2", "--batch-size", "2", "--snapshot-every",
                              "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    mod = tmp_path / "module_eff"
    res = runner.invoke(app, ["module", "create", "--run", str(run), "--targets", str(table),
                              "-o", str(mod)])
    assert res.exit_code == 0, res.output
    assert json.loads((mod / "module.json").read_text())["backbone"] == "efficientnet_b0"
    out = tmp_path / "out"
    s = mimir.infer([], cached, [mod], out, 2, device="cpu", report=False)
    assert s.ok and s.predicted == 3
    pred = pd.read_csv(out / "predictions.csv")
    assert np.isfinite(pred["age_mean_in_years"]).all()
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["modules"][0]["backbone"] == "efficientnet_b0"
