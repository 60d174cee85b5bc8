"""Training batches: the GPU path (images held on the device, translated there) gives
the CPU path's pixels; training precisions run and are recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mimir.errors import UsageError
from mimir.training.data import BatchSource, Dataset, random_shifts, translate, translate_torch
from mimir.training.train import TrainConfig, train


def test_torch_translation_equals_numpy_translation():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 3, 40, 32), dtype=np.uint8)
    shifts = random_shifts(rng, 6, 16)
    shifts[0] = (0, 0)
    shifts[1] = (16, -16)
    shifts[2] = (-45, 40)  # beyond the image: every pixel is the border's
    got = translate_torch(torch.from_numpy(imgs), torch.from_numpy(shifts))
    np.testing.assert_array_equal(got.numpy(), translate(imgs, shifts))


def test_held_batches_equal_host_batches():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (9, 3, 32, 32), dtype=np.uint8)
    labels = rng.normal(size=(9, 2))
    labels[3, 1] = np.nan
    host = BatchSource(imgs, labels, "cpu", hold=False)
    held = BatchSource(imgs, labels, "cpu", hold=True)
    assert held.on_device and not host.on_device
    for _ in range(3):
        idx = rng.choice(9, 4, replace=False)
        shifts = random_shifts(rng, 4, 16)
        (xa, ya), (xb, yb) = host.batch(idx, shifts), held.batch(idx, shifts)
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
        torch.testing.assert_close(ya, yb, rtol=0, atol=0, equal_nan=True)
        assert xb.is_contiguous(memory_format=torch.channels_last)
    x, _ = held.batch(np.array([0, 1]), None)
    np.testing.assert_array_equal(x.numpy().astype(np.uint8), imgs[:2])


@pytest.fixture
def tiny() -> Dataset:
    rng = np.random.default_rng(2)
    return Dataset([f"s{i}" for i in range(6)],
                   rng.integers(0, 256, (6, 3, 64, 64), dtype=np.uint8),
                   rng.normal(size=(6, 2)), ["a", "b"])


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_training_precisions_run_and_are_recorded(tiny, tmp_path, precision):
    cfg = TrainConfig(backbone="resnet18", iterations=2, batch_size=3, snapshot_every=2,
                      init="random", precision=precision)
    run = train(tiny, tmp_path / precision, cfg, device="cpu", log=lambda m: None)
    assert json.loads((run / "config.json").read_text())["config"]["precision"] == precision
    losses = [float(ln.split(",")[1]) for ln in (run / "log.csv").read_text().split()[1:]]
    assert len(losses) == 2 and all(np.isfinite(losses))
    if precision == "tf32":  # on the CPU tf32 is IEEE float32: the fp32 run, exactly
        ref = train(tiny, tmp_path / "fp32", TrainConfig(
            backbone="resnet18", iterations=2, batch_size=3, snapshot_every=2, init="random"),
            device="cpu", log=lambda m: None)
        assert (ref / "log.csv").read_text().split()[1:][0].split(",")[1] == \
            (run / "log.csv").read_text().split()[1:][0].split(",")[1]
    with pytest.raises(UsageError, match="--precision"):
        TrainConfig(precision="fp16")
