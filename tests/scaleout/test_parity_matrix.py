"""The same scenarios through every backend give the same tables, byte for byte, and the
same run.json counts: local; Dask on a LocalCluster of worker processes; Dask on a
scheduler and 2 workers started as separate processes, over tcp on 127.0.0.1.

Scenarios: a fresh cache, a warm cache, a corrupt cache entry, a failing zip (in every
run), a module that fails to load, ``--qc strict`` with an exclusion list, and
``--resume`` after kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import mimir
from mimir.cache.store import Cache
from tests.modules.module_factory import THREE_TARGETS, write_module

pytestmark = pytest.mark.slow

TABLES = ("predictions.csv", "qc.csv", "failures.csv", "module_small/predictions.csv")
NAMES = ("local", "cluster", "tcp")


@pytest.fixture(scope="module")
def tcp_scheduler(tmp_path_factory):
    """A Dask scheduler and two workers, each its own process, on 127.0.0.1."""
    from distributed import Client

    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], cwd=d, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(100):
        if sched_file.is_file() and sched_file.stat().st_size:
            break
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                       address, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--host", "127.0.0.1"], cwd=d,
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    with Client(address, timeout=30) as c:
        c.wait_for_workers(2, timeout=60)
    yield address
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


@pytest.fixture(scope="module")
def backends(tcp_scheduler) -> dict:
    return {"local": {}, "cluster": {"cluster": "local:2"},
            "tcp": {"scheduler": tcp_scheduler}}


@pytest.fixture(scope="module")
def inputs(phantom_dir, tmp_path_factory) -> list:
    bad = tmp_path_factory.mktemp("bad") / "7777777_20201_2_0.zip"
    bad.write_bytes(b"not a zip at all")
    return [phantom_dir, bad]


@pytest.fixture(scope="module")
def broken_module(tmp_path_factory) -> Path:
    bad = write_module(tmp_path_factory.mktemp("broken") / "module_broken", **THREE_TARGETS,
                       backbone="resnet18")
    state = torch.load(bad / "snapshot.pth.tar", weights_only=True)
    state["state_dict"]["fc.weight"] = torch.zeros(4, 512)  # 2 targets' head, 3 declared
    state["state_dict"]["fc.bias"] = torch.zeros(4)
    torch.save(state, bad / "snapshot.pth.tar")
    return bad


def _run(root: Path, backend: dict, inputs, modules, cache: Path, **kw):
    return mimir.infer(inputs, cache, modules, root, 2, device="cpu", threads=1,
                       report=False, **backend, **kw)


def _tables(out: Path, cache: Path) -> dict:
    got = {rel: (out / rel).read_bytes() for rel in TABLES if (out / rel).exists()}
    if "failures.csv" in got:  # messages name the cache folder, which is per backend
        got["failures.csv"] = got["failures.csv"].replace(str(cache).encode(), b"CACHE")
    return got


def _counts(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())["counts"]


def _all_same(results: dict):
    ref_tables, ref_counts = results["local"]
    assert ref_tables, "the local run wrote no tables"
    for name, (tables, counts) in results.items():
        assert set(tables) == set(ref_tables), name
        for rel in ref_tables:
            assert tables[rel] == ref_tables[rel], f"{name}: {rel} differs from local"
        assert counts == ref_counts, (name, counts, ref_counts)


@pytest.fixture(scope="module")
def warm(backends, inputs, module18, tmp_path_factory) -> dict:
    """Per backend: its cache after a fresh run (and that run's tables and counts)."""
    made = {}
    for name in NAMES:
        root = tmp_path_factory.mktemp(f"fresh_{name}")
        s = _run(root / "out", backends[name], inputs, [module18], root / "cache")
        assert s.predicted == 3 and [f["kind"] for f in s.failed] == ["not a zip"]
        made[name] = (root / "cache", _tables(root / "out", root / "cache"),
                      _counts(root / "out"))
    return made


def test_fresh_cache(warm):
    _all_same({n: (t, c) for n, (_, t, c) in warm.items()})
    assert warm["local"][2]["preprocessed"] == 3 and warm["local"][2]["cached"] == 0


def test_warm_cache_is_used_by_every_backend(warm, backends, inputs, module18, tmp_path):
    results = {}
    for name in NAMES:
        cache = warm[name][0]
        _run(tmp_path / name, backends[name], inputs, [module18], cache)
        results[name] = (_tables(tmp_path / name, cache), _counts(tmp_path / name))
        assert results[name][1]["cached"] == 3 and results[name][1]["preprocessed"] == 0
    _all_same(results)
    assert results["local"][0] == {k: v.replace(str(warm["local"][0]).encode(), b"CACHE")
                                   for k, v in warm["local"][1].items()}


def test_a_corrupt_cache_entry_fails_that_subject_alone(warm, backends, module18, tmp_path):
    results = {}
    for name in NAMES:
        cache = tmp_path / f"cache_{name}"
        shutil.copytree(warm[name][0], cache)
        victim = sorted(Cache(cache).names())[0]
        npy = Cache(cache).image_path(victim)
        data = bytearray(npy.read_bytes())
        data[-100] ^= 0xFF
        npy.write_bytes(bytes(data))
        s = _run(tmp_path / name, backends[name], [], [module18], cache)
        assert s.predicted == 2, name
        assert [(f["name"], f["kind"]) for f in s.failed] == [(victim, "cache corrupt")], name
        results[name] = (_tables(tmp_path / name, cache), _counts(tmp_path / name))
    _all_same(results)


def test_a_module_that_fails_to_load(warm, backends, inputs, module18, broken_module,
                                     tmp_path):
    results = {}
    for name in NAMES:
        cache = warm[name][0]
        s = _run(tmp_path / name, backends[name], inputs, [module18, broken_module], cache)
        assert [f["module"] for f in s.module_failures] == ["module_broken"], name
        assert s.predicted == 3
        results[name] = (_tables(tmp_path / name, cache), _counts(tmp_path / name))
        run = json.loads((tmp_path / name / "run.json").read_text())
        assert [m["module"] for m in run["module_failures"]] == ["module_broken"]
        assert not (tmp_path / name / "module_broken").exists()
    _all_same(results)


def test_qc_strict_with_exclusions(backends, inputs, module18, make_phantoms, tmp_path):
    swapped = make_phantoms(1, seed=11, swap=3)  # fails QC: water and fat swapped
    first = sorted(p.name.split(".")[0] for p in inputs[0].glob("*.zip"))[0]
    excl = tmp_path / "excluded.txt"
    excl.write_text(first.split("_")[0] + "\n")
    results = {}
    for name in NAMES:
        root = tmp_path / name
        s = _run(root / "out", backends[name], inputs + [swapped], [module18], root / "cache",
                 qc="strict", exclude=excl)
        assert s.predicted == 2, name  # 3 clean - 1 excluded; the swapped one is skipped
        assert [f["kind"] for f in s.failures].count("excluded") == 1
        results[name] = (_tables(root / "out", root / "cache"), _counts(root / "out"))
    _all_same(results)
    pred = pd.read_csv(tmp_path / "local" / "out" / "predictions.csv")
    assert (pred["qc_pass"] == False).sum() == 1  # noqa: E712  listed, not predicted


def _kill_and_resume(name: str, backend: dict, inputs, module, root: Path):
    """Start infer in a child process, kill -9 it once a batch is journalled, resume."""
    out, cache = root / "out", root / "cache"
    extra = (["--cluster", backend["cluster"]] if "cluster" in backend else
             ["--scheduler", backend["scheduler"]] if "scheduler" in backend else [])
    cmd = [sys.executable, "-c", "from mimir.cli import main; main()", "infer",
           *map(str, inputs), "-m", str(module), "-o", str(out), "--cache", str(cache),
           "-b", "1", "--device", "cpu", "--threads", "1", "--no-report", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    journal = out / ".mimir" / "journal"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if journal.is_dir() and any(p.stat().st_size for p in journal.rglob("*")
                                    if p.is_file()):
            break
        time.sleep(0.05)
    killed = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stderr  # 1: the bad zip fails
    return killed


def test_resume_after_kill_9(backends, inputs, module18, tmp_path):
    results = {}
    for name in NAMES:
        root = tmp_path / name
        killed = _kill_and_resume(name, backends[name], inputs, module18, root)
        assert killed, f"{name}: the run ended before it could be killed"
        tables = _tables(root / "out", root / "cache")
        results[name] = (tables, None)
    ref = results["local"][0]
    for name, (tables, _) in results.items():
        assert tables == ref, name
    # and they equal an uninterrupted run
    clean = tmp_path / "clean"
    mimir.infer(inputs, clean / "cache", [module18], clean / "out", 1, device="cpu",
                threads=1, report=False)
    assert _tables(clean / "out", clean / "cache") == ref
