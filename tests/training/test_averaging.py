"""Weight averaging over the low-rate phase and the batch-norm pass (opt-in)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimir.training.averaging import WeightAverage, bn_sample, recompute_batchnorm
from mimir.training.data import Dataset
from tests.training.interrupt import train_until


def _tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 2))


def test_weight_average_is_the_mean_of_the_weights_it_saw():
    net = _tiny_net()
    avg = WeightAverage()
    seen = []
    for k in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
            net[1].num_batches_tracked.fill_(k)
        seen.append({n: v.clone() for n, v in net.state_dict().items()})
        avg.update(net)
    assert avg.count == 5
    for name, v in avg.state.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, torch.stack([s[name] for s in seen]).mean(0))
        else:
            assert int(v) == 4  # integer buffers follow the latest network
    copy = avg.averaged_network(net)
    torch.testing.assert_close(copy[0].weight, avg.state["0.weight"])
    assert copy is not net


def test_batchnorm_statistics_are_recomputed_over_the_images():
    net = _tiny_net()
    net[1].running_mean.fill_(100.0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 3, 12, 12), dtype=np.uint8)
    recompute_batchnorm(net, images, torch.device("cpu"), rng, max_shift=None, batch_size=8)
    with torch.no_grad():
        feats = net[0](torch.from_numpy(images).float())
    # equal-size batches: the cumulative mean of batch means is the mean over all images
    torch.testing.assert_close(net[1].running_mean, feats.mean(dim=(0, 2, 3)),
                               rtol=1e-4, atol=1e-3)
    assert not net.training and net[1].momentum == 0.1


def test_bn_sample_is_all_images_or_a_sorted_subset():
    rng = np.random.default_rng(0)
    assert bn_sample(10, rng, size=20).tolist() == list(range(10))
    idx = bn_sample(100, rng, size=20)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20 and (np.diff(idx) > 0).all()


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 3, 64, 64), dtype=np.uint8)
    labels = rng.normal(size=(6, 2))
    return Dataset([f"s{i}" for i in range(6)], images, labels, ["a", "b"])


def test_averaged_snapshots_hold_the_mean_and_resume_exactly(small_data, tmp_path):
    from mimir.training.train import TrainConfig, snapshots, train

    quiet = dict(device="cpu", log=lambda m: None)
    base = dict(backbone="resnet18", iterations=4, batch_size=2, lr=1e-3, snapshot_every=2,
                init="random")
    plain = train(small_data, tmp_path / "plain", TrainConfig(**base), **quiet)
    # averaging from the last iteration only: the weights equal the plain run's
    last = train(small_data, tmp_path / "last", TrainConfig(**base, average_from=0.75), **quiet)
    a = torch.load(dict(snapshots(plain))[4], weights_only=True)
    b = torch.load(dict(snapshots(last))[4], weights_only=True)
    assert b["averaged_iterations"] == 1 and "averaged_iterations" not in a
    assert "averaged_iterations" not in torch.load(dict(snapshots(last))[2], weights_only=True)
    for k, v in a["state_dict"].items():
        if "running" not in k and "num_batches" not in k:
            torch.testing.assert_close(v, b["state_dict"][k])
    assert not torch.equal(a["state_dict"]["bn1.running_mean"],
                           b["state_dict"]["bn1.running_mean"])  # recomputed
    # averaging over 3 iterations, stopped after iteration 3 and resumed
    cfg = TrainConfig(**base, average_from=0.25)
    full = train(small_data, tmp_path / "full", cfg, **quiet)
    train_until(train, 3, small_data, tmp_path / "part", cfg, **quiet)
    train(small_data, tmp_path / "part", cfg, **quiet)
    c = torch.load(dict(snapshots(full))[4], weights_only=True)
    d = torch.load(dict(snapshots(tmp_path / "part"))[4], weights_only=True)
    assert c["averaged_iterations"] == d["averaged_iterations"] == 3
    for k in c["state_dict"]:
        torch.testing.assert_close(c["state_dict"][k], d["state_dict"][k], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(c["state_dict"]["fc.weight"], a["state_dict"]["fc.weight"])


def test_runs_written_before_the_option_existed_still_resume(small_data, tmp_path):
    import json

    from mimir.training.train import TrainConfig, train

    cfg = TrainConfig(backbone="resnet18", iterations=2, batch_size=2, snapshot_every=1,
                      init="random")
    out = train(small_data, tmp_path / "old", cfg, device="cpu", log=lambda m: None)
    conf = json.loads((out / "config.json").read_text())
    del conf["config"]["average_from"]
    (out / "config.json").write_text(json.dumps(conf))
    msgs = []
    train(small_data, out, cfg, device="cpu", log=msgs.append)
    assert any("already complete" in m for m in msgs)
