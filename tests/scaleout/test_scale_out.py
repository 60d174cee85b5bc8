"""Dask backend and shards give the same results as a local run."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pandas as pd
import pytest

import mimir
from mimir.execution.merge import merge
from tests.inputs import listed

TABLES = ("predictions.csv", "qc.csv", "failures.csv", "module_small/predictions.csv")


@pytest.fixture(scope="module")
def module_small(module18) -> Path:
    return module18  # the suite's small module (folder module_small)


@pytest.fixture(scope="module")
def inputs(phantom_dir, tmp_path_factory) -> list:
    missing = tmp_path_factory.mktemp("x") / "7777777_20201_2_0.zip"  # fails: missing file
    return [phantom_dir, listed(missing)]


@pytest.fixture(scope="module")
def local_run(inputs, module_small, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    s = mimir.infer(inputs, out.parent / "cache", [module_small], out, 2, device="cpu",
                    threads=1)
    assert s.predicted == 3 and len(s.failures) == 1
    return out


def _same(a: Path, b: Path):
    for rel in TABLES:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    pd.testing.assert_frame_equal(pd.read_parquet(a / "predictions.parquet"),
                                  pd.read_parquet(b / "predictions.parquet"))


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_subject(inputs, module_small, local_run, tmp_path):
    """A worker process busy with a chunk is killed: Dask reruns its task elsewhere; every
    subject is accounted for exactly once and the tables equal an undisturbed run's."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    killed = []
    lock = threading.Lock()

    def kill_busy(_rec):
        with lock:
            if killed:
                return
            busy = [w for w, tasks in client.processing().items() if tasks]
            if not busy:
                return
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        out = tmp_path / "out"
        s = mimir.infer(inputs, tmp_path / "cache", [module_small], out, 1, device="cpu",
                        threads=1, scheduler=cluster.scheduler_address, report=False,
                        on_preprocessed=kill_busy)
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was busy when the first result arrived"
    assert s.predicted == 3
    pred = pd.read_csv(out / "predictions.csv")
    fails = pd.read_csv(out / "failures.csv")
    assert pred["name"].is_unique and fails["name"].is_unique
    assert set(pred["name"]).isdisjoint(fails["name"])
    assert len(pred) + len(fails) == 4
    ref = tmp_path / "ref"
    mimir.infer(inputs, tmp_path / "cache", [module_small], ref, 1, device="cpu", threads=1,
                report=False)
    _same(out, ref)


def test_shards_merged_equal_unsharded_run(inputs, module_small, local_run, tmp_path):
    out = tmp_path / "out"
    for i in (1, 2):
        s = mimir.infer(inputs, tmp_path / "cache", [module_small], out, 2, device="cpu",
                        threads=1, shard=(i, 2))
        assert (out / "shards" / f"{i}-of-2" / "run.json").is_file()
        assert s.predicted in (1, 2)
    res = merge([out], out)
    assert res == {"shards": 2, "subjects": 3, "missing": []}
    _same(out, local_run)


def test_merge_refuses_missing_shard(inputs, module_small, tmp_path):
    from mimir.errors import UsageError

    out = tmp_path / "out"
    mimir.infer(inputs, tmp_path / "cache", [module_small], out, 2, device="cpu", threads=1,
                shard=(1, 2))
    with pytest.raises(UsageError, match=r"shards \[2\] of 2"):
        merge([out], out)
