"""LoadedModule: one forward pass per call (or per ``max_batch`` images), and the fused
oneDNN path against the network module and against eager torchvision."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mimir.inference.engine import EngineOptions, LoadedModule
from mimir.modules.format import load_module
from mimir.modules.resnet import FusedResNet, fused_available
from tests.modules.module_factory import THREE_TARGETS, write_module


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_batches_give_the_same_outputs_as_one_pass(tmp_path: Path):
    module = load_module(write_module(tmp_path / "module_x", backbone="resnet18",
                                      **THREE_TARGETS))
    images = np.random.default_rng(0).integers(0, 256, (7, 3, 64, 64), dtype=np.uint8)
    whole = LoadedModule(module, EngineOptions()).raw(images)
    for step in (1, 3, 4):
        got = LoadedModule(module, EngineOptions(max_batch=step)).raw(images)
        assert got.shape == (7, 6)
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    empty = LoadedModule(module, EngineOptions()).raw(images[:0])
    assert empty.shape == (0, 6)


def test_one_forward_pass_per_call(tmp_path: Path, monkeypatch):
    """``--batch-size`` images reach the network in one pass, on the CPU too."""
    module = load_module(write_module(tmp_path / "module_x", backbone="resnet18",
                                      **THREE_TARGETS))
    images = np.random.default_rng(1).integers(0, 256, (6, 3, 64, 64), dtype=np.uint8)
    for opts, passes in ((EngineOptions(), [6]), (EngineOptions(max_batch=4), [4, 2]),
                         (EngineOptions(fused=False), [6])):
        eng = LoadedModule(module, opts)
        seen = []
        real = eng.net

        def spy(x, real=real, seen=seen):
            seen.append(len(x))
            return real(x)

        eng.net = spy
        eng.raw(images)
        assert seen == passes


@pytest.mark.skipif(not fused_available(), reason="fused oneDNN path: x86-64 only")
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_fused_path_matches_eager_torchvision(tmp_path: Path, backbone):
    """The default CPU fp32 path is the fused one, within 1e-5 of eager torchvision."""
    import torchvision

    folder = write_module(tmp_path / "module_x", backbone=backbone, **THREE_TARGETS)
    module = load_module(folder)
    fused = LoadedModule(module, EngineOptions())
    plain = LoadedModule(module, EngineOptions(fused=False))
    assert fused.fused and isinstance(fused.net, FusedResNet) and not plain.fused
    images = np.random.default_rng(2).integers(0, 256, (5, 3, 96, 96), dtype=np.uint8)
    state = torch.load(folder / "snapshot.pth.tar", weights_only=True)["state_dict"]
    eager = getattr(torchvision.models, backbone)(weights=None)
    eager.fc = torch.nn.Linear(eager.fc.in_features, 6)
    eager.load_state_dict(state)
    eager.eval()
    with torch.no_grad():
        want = eager(torch.from_numpy(images).float()).numpy().astype(np.float64)
    got = fused.raw(images)
    assert _rel(got, want) < 1e-5
    assert _rel(plain.raw(images), want) < 1e-5
    # other batch sizes reuse the reordered weights
    np.testing.assert_allclose(fused.raw(images[:2]), got[:2], rtol=0,
                               atol=1e-5 * np.abs(got).max())


def test_fused_path_only_for_fp32_on_the_cpu(tmp_path: Path):
    module = load_module(write_module(tmp_path / "module_x", backbone="resnet18",
                                      **THREE_TARGETS))
    assert not LoadedModule(module, EngineOptions(precision="bf16")).fused
    assert not LoadedModule(module, EngineOptions(fold_bn=False)).fused
    with pytest.raises(ValueError, match="fold"):
        from mimir.modules.network import network_from_state
        from mimir.modules.snapshot import load_state_dict

        FusedResNet(network_from_state("resnet18", 3, load_state_dict(module.snapshot_path),
                                       "x"))
