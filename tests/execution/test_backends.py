"""One scenario through every backend: identical tables.

The scenario has a subject that fails (a missing zip), a module that cannot be loaded
(its snapshot's head does not fit its metadata), a non-default ``--precision`` and
``--compile`` (refused up front where a backend cannot honour it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

import mimir
from mimir.errors import UsageError
from mimir.execution.backends import backend_for
from mimir.execution.options import InferOptions
from tests.inputs import listed
from tests.modules.module_factory import THREE_TARGETS, write_module

TABLES = ("predictions.csv", "qc.csv", "failures.csv", "module_small/predictions.csv")
BACKENDS = {"local": {}, "dask": {"cluster": "local:1"}}


@pytest.fixture(scope="module")
def broken_module(tmp_path_factory) -> Path:
    bad = write_module(tmp_path_factory.mktemp("bad") / "module_broken", **THREE_TARGETS,
                       backbone="resnet18")
    state = torch.load(bad / "snapshot.pth.tar", weights_only=True)
    state["state_dict"]["fc.weight"] = torch.zeros(4, 512)  # 2 targets' head, 3 declared
    state["state_dict"]["fc.bias"] = torch.zeros(4)
    torch.save(state, bad / "snapshot.pth.tar")
    return bad


@pytest.fixture(scope="module")
def runs(tmp_path_factory, phantom_dir, module18, broken_module) -> dict:
    missing = listed(tmp_path_factory.mktemp("x") / "7777777_20201_2_0.zip")
    out = {}
    for name, extra in BACKENDS.items():
        root = tmp_path_factory.mktemp(name)
        s = mimir.infer([phantom_dir, missing], root / "cache", [module18, broken_module],
                        root / "out", 2, device="cpu", threads=1, precision="tf32", **extra)
        out[name] = (root / "out", s)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_gives_the_same_tables(runs, name):
    out, s = runs[name]
    ref, _ = runs["local"]
    assert s.predicted == 3 and [f["kind"] for f in s.failed] == ["missing file"]
    assert [f["module"] for f in s.module_failures] == ["module_broken"]
    assert "fc.weight" in s.module_failures[0]["message"]
    for rel in TABLES:
        assert (out / rel).read_bytes() == (ref / rel).read_bytes(), rel
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"),
                                  pd.read_parquet(ref / "predictions.parquet"))
    assert not (out / "module_broken").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["precision"] == "tf32" and run["compile"] is False
    assert run["backend"].startswith(name)
    assert [m["module"] for m in run["module_failures"]] == ["module_broken"]


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_honours_or_refuses_each_option(name, tmp_path, module18):
    opts = InferOptions(compile=True, **BACKENDS[name])
    backend = backend_for(opts)
    if name == "dask":
        with pytest.raises(UsageError, match="--compile is not available"):
            mimir.infer([], tmp_path / "cache", [module18], tmp_path / "out", compile=True,
                        **BACKENDS[name])
        assert not (tmp_path / "out").exists()
    else:
        backend.check(opts)  # honoured: EngineOptions(compile=True)
