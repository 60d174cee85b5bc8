"""LoadedModule: CPU micro-batches give the same outputs as one forward pass."""

from pathlib import Path

import numpy as np

from mimir.inference.engine import EngineOptions, LoadedModule
from mimir.modules.format import load_module
from tests.modules.module_factory import THREE_TARGETS, write_module


def test_cpu_microbatches_equal_one_pass(tmp_path: Path):
    module = load_module(write_module(tmp_path / "module_x", backbone="resnet18",
                                      **THREE_TARGETS))
    images = np.random.default_rng(0).integers(0, 256, (7, 3, 64, 64), dtype=np.uint8)
    whole = LoadedModule(module, EngineOptions(cpu_microbatch=0)).raw(images)
    for step in (1, 3, 4):
        got = LoadedModule(module, EngineOptions(cpu_microbatch=step)).raw(images)
        assert got.shape == (7, 6)
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    empty = LoadedModule(module, EngineOptions()).raw(images[:0])
    assert empty.shape == (0, 6)
