"""Every backend honours each option or refuses it up front, before anything is written
(the tables of every backend are compared in tests/scaleout/test_parity_matrix.py)."""

from __future__ import annotations

import pytest
import torch

import mimir
from mimir.errors import UsageError
from mimir.execution.backends import backend_for
from mimir.execution.options import InferOptions

TABLES = ("predictions.csv", "qc.csv", "failures.csv", "module_small/predictions.csv")
BACKENDS = {"local": {}, "dask": {"cluster": "local:1"}}


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


def test_dask_refuses_workers_before_anything_is_written(tmp_path, module18):
    with pytest.raises(UsageError, match="grow the cluster"):
        mimir.infer([], tmp_path / "cache", [module18], tmp_path / "out", workers=2,
                    cluster="local:1")
    assert not (tmp_path / "out").exists()


def test_a_missing_device_is_refused_before_anything_is_written(tmp_path, module18, cached):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for extra in ({}, {"cluster": "local:1"}):
        with pytest.raises(UsageError, match="cuda"):
            mimir.infer([], cached, [module18], tmp_path / "out", device="cuda", **extra)
        assert not (tmp_path / "out").exists()
