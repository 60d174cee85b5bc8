"""Initial weights: ImageNet from torch's cache (a stand-in file here, never the network),
the clear offline error, random, and a given file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from typer.testing import CliRunner

import mimir.training.init as init
from mimir.cli import app
from mimir.errors import UsageError
from mimir.training.data import Dataset
from mimir.training.train import TrainConfig, train

runner = CliRunner()
QUIET = dict(device="cpu", log=lambda m: None)


def _stand_in(path: Path, seed: int = 5) -> Path:
    """A torchvision resnet18 state dict (seeded random weights) standing in for the
    ImageNet file."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def _cached_imagenet_path() -> Path:
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "resnet18-f37072fd.pth"


@pytest.fixture
def tiny_data() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 3, 64, 64), dtype=np.uint8)
    return Dataset([f"s{i}" for i in range(4)], images, rng.normal(size=(4, 1)), ["a"])


def _backbone(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("weight", "bias"))
            and not k.startswith("fc.") and ".bn" not in k and not k.startswith("bn")}


def test_imagenet_start_loads_the_cached_file_and_records_it(tmp_path, tiny_data):
    f = _stand_in(_cached_imagenet_path())
    cfg = TrainConfig(backbone="resnet18", iterations=1, batch_size=2, lr=0.0,
                      snapshot_every=1, augment=False)
    assert cfg.init == "imagenet"  # the published method's start is the default
    run = train(tiny_data, tmp_path / "run", cfg, **QUIET)
    conf = json.loads((run / "config.json").read_text())
    assert conf["init"] == {"kind": "imagenet", "path": str(f),
                            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
                            "weights": "ResNet18_Weights.IMAGENET1K_V1"}
    # with a learning rate of 0 the convolutions keep the file's weights
    want = torch.load(f, weights_only=True)
    got = torch.load(run / "snapshots" / "iter_000001.pth.tar", weights_only=True)["state_dict"]
    convs = _backbone(want)
    assert len(convs) > 10
    for k, v in convs.items():
        torch.testing.assert_close(got[k], v)
    # and not a random initialisation's
    rand = train(tiny_data, tmp_path / "rand",
                 TrainConfig(backbone="resnet18", iterations=1, batch_size=2, lr=0.0,
                             snapshot_every=1, augment=False, init="random"), **QUIET)
    r = torch.load(rand / "snapshots" / "iter_000001.pth.tar", weights_only=True)["state_dict"]
    assert not torch.equal(r["conv1.weight"], want["conv1.weight"])
    assert json.loads((rand / "config.json").read_text())["init"]["kind"] == "random"


def test_missing_imagenet_file_offline_is_a_clear_error_before_any_data(tmp_path):
    (tmp_path / "cache").mkdir()  # the targets and the cache are checked first
    (tmp_path / "t.csv").write_text("name,age\n1000001_20201_2_0,60\n")
    res = runner.invoke(app, ["train", "--cache", str(tmp_path / "cache"), "--targets",
                              str(tmp_path / "t.csv"), "--columns", "age", "-o",
                              str(tmp_path / "run"), "--backbone", "resnet18"])
    assert res.exit_code == 2
    msg = " ".join(res.output.split())
    assert "resnet18-f37072fd.pth" in msg
    assert str(_cached_imagenet_path().parent) in msg.replace("\n", "")
    assert "--init random" in msg and "--init-weights FILE" in msg
    assert "network disabled in tests" in msg  # the download was tried, offline
    assert not (tmp_path / "run").exists()


def test_weights_are_downloaded_once_into_torch_cache(monkeypatch):
    calls = []

    def fake_download(url, dst):
        calls.append(url)
        _stand_in(dst)

    monkeypatch.setattr(init, "_download", fake_download)
    a = init.resolve_init("imagenet", "resnet18", log=lambda m: None)
    b = init.resolve_init("imagenet", "resnet18", log=lambda m: None)
    assert calls == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]
    assert a == b and Path(a.path) == _cached_imagenet_path()
    # the published ResNet50 start is V1 (pretrained=True), not torchvision's newer default
    assert init.imagenet_url("resnet50") == (
        "ResNet50_Weights.IMAGENET1K_V1",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth")


def test_init_weights_file_and_the_exclusions(tmp_path, tiny_data):
    f = _stand_in(tmp_path / "mine.pth", seed=9)
    cfg = TrainConfig(backbone="resnet18", iterations=1, batch_size=2, snapshot_every=1,
                      init_weights=str(f))
    assert cfg.init == "file"
    run = train(tiny_data, tmp_path / "run", cfg, **QUIET)
    rec = json.loads((run / "config.json").read_text())["init"]
    assert rec["kind"] == "file" and rec["sha256"] == hashlib.sha256(
        f.read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="exclude each other"):
        TrainConfig(init="random", init_weights=str(f))
    with pytest.raises(UsageError, match="--init"):
        TrainConfig(init="imagenet21k")
    with pytest.raises(UsageError, match="unknown backbone"):
        TrainConfig(backbone="vgg16")
    bad = tmp_path / "bad.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), bad)
    with pytest.raises(UsageError, match="do not fit"):
        train(tiny_data, tmp_path / "bad", TrainConfig(backbone="resnet18", iterations=1,
                                                       init_weights=str(bad)), **QUIET)
