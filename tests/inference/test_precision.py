"""``--precision fp32`` is IEEE float32: TF32 is off inside every module call, whatever the
caller set globally, and the caller's settings come back afterwards."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mimir.inference.engine import EngineOptions, LoadedModule
from mimir.inference.precision import float32_mode, precision_settings, restore_settings
from mimir.modules.format import load_module
from tests.modules.module_factory import THREE_TARGETS, write_module


@pytest.fixture
def global_tf32():
    """TF32 switched on globally the way users do it (legacy flags plus matmul precision);
    torch's defaults are put back after the test."""
    before = precision_settings()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("medium")
    yield precision_settings()
    restore_settings(before)
    assert precision_settings() == before


def _module(tmp_path: Path):
    return load_module(write_module(tmp_path / "module_p", backbone="resnet18",
                                    **THREE_TARGETS))


def _spy(engine: LoadedModule) -> list:
    """Record torch's float32 settings at every forward pass of the engine's network."""
    seen = []
    engine.net.register_forward_pre_hook(lambda *_: seen.append(precision_settings()))
    return seen


def test_fp32_switches_tf32_off_inside_and_restores(tmp_path: Path, global_tf32):
    assert global_tf32["cuda.matmul"] == "tf32" and global_tf32["cudnn.conv"] == "tf32"
    assert global_tf32["mkldnn.matmul"] == "bf16"
    engine = LoadedModule(_module(tmp_path), EngineOptions(precision="fp32"))
    seen = _spy(engine)
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 64, 64), dtype=np.uint8)
    engine.predict(images)
    assert seen, "the network never ran"
    for inside in seen:
        assert inside["cuda.matmul"] == "ieee"
        assert inside["cudnn.conv"] == "ieee"
        assert inside["mkldnn.matmul"] == "ieee"
        assert inside["mkldnn.conv"] == "ieee"
        assert inside["matmul"] == "highest"
    assert precision_settings() == global_tf32
    assert torch.backends.cuda.matmul.allow_tf32 is True
    assert torch.backends.cudnn.allow_tf32 is True
    assert torch.get_float32_matmul_precision() == "medium"


def test_fp32_outputs_do_not_depend_on_global_settings(tmp_path: Path):
    module = _module(tmp_path)
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 64, 64), dtype=np.uint8)
    plain = LoadedModule(module, EngineOptions()).raw(images)
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # bfloat16 matmuls in oneDNN, where able
    try:
        again = LoadedModule(module, EngineOptions()).raw(images)
    finally:
        torch.set_float32_matmul_precision(before)
    np.testing.assert_array_equal(again, plain)


def test_tf32_is_opt_in_for_cuda_only(tmp_path: Path):
    engine = LoadedModule(_module(tmp_path), EngineOptions(precision="tf32"))
    seen = _spy(engine)
    images = np.zeros((1, 3, 64, 64), dtype=np.uint8)
    engine.raw(images)
    assert seen[0]["cuda.matmul"] == "tf32" and seen[0]["cudnn.conv"] == "tf32"
    assert seen[0]["mkldnn.matmul"] == "ieee"  # on the CPU tf32 is plain fp32
    np.testing.assert_array_equal(engine.raw(images),
                                  LoadedModule(engine.module, EngineOptions()).raw(images))


def test_settings_restored_when_the_call_raises(global_tf32):
    with pytest.raises(RuntimeError, match="boom"), float32_mode("fp32"):
        assert precision_settings()["cudnn.conv"] == "ieee"
        raise RuntimeError("boom")
    assert precision_settings() == global_tf32


def test_unknown_precision_refused():
    with pytest.raises(ValueError, match="precision"), float32_mode("fp64"):
        pass
