"""The cache detects wrong entries: replaced or corrupt images, sidecars with wrong types,
absurd .npy headers, changed zips. Entries are rebuilt from their zip with a warning, or
fail as ``cache corrupt``; ``mimir cache verify`` checks a whole cache."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mimir
from mimir.cache.store import Cache, CacheError, load_image
from mimir.cli import app
from mimir.pipeline import preprocess_subject

runner = CliRunner()


@pytest.fixture
def setup(tmp_path, phantom_dir):
    zips = sorted(phantom_dir.glob("*.zip"))
    cache = tmp_path / "cache"
    assert mimir.preprocess(zips, cache).count("done") == 3
    return zips, Cache(cache)


def _poison(c: Cache, names: list[str]) -> None:
    a, b, d = names
    np.save(c.image_path(a), np.zeros((3, 256, 256), np.uint8))  # a valid-shaped zeros image
    shutil.copy(c.image_path(b), c.image_path(d))  # another subject's image
    side = json.loads(c.meta_path(b).read_text())
    side["facts"] = "x"  # wrong type
    c.meta_path(b).write_text(json.dumps(side))


def test_poisoned_entries_are_rebuilt_from_their_zips(setup, tmp_path):
    zips, c = setup
    names = [z.name.split(".")[0] for z in zips]
    _poison(c, names)
    for n in names:
        assert c.problem(n) is not None
    with pytest.raises(CacheError, match="does not match its record"):
        c.read_image(names[0])
    s = mimir.preprocess(zips, c.root, out=tmp_path / "tables")
    assert s.count("done") == 3 and s.count("cached") == 0
    for z, n in zip(zips, names, strict=True):
        np.testing.assert_array_equal(c.read_image(n), preprocess_subject(z).image)
        assert c.problem(n) is None
    w = pd.read_csv(tmp_path / "tables" / "warnings.csv", dtype=str)
    assert w["warning"].str.startswith("cache entry rebuilt").sum() == 3


def test_poisoned_entries_without_zips_fail_as_cache_corrupt(setup, tmp_path, module18):
    zips, c = setup
    names = [z.name.split(".")[0] for z in zips]
    _poison(c, names)
    s = mimir.infer([], c.root, [module18], tmp_path / "out", 2, device="cpu", threads=1)
    fails = pd.read_csv(tmp_path / "out" / "failures.csv", dtype=str, keep_default_na=False)
    assert sorted(fails["name"]) == sorted(names) and set(fails["kind"]) == {"cache corrupt"}
    assert s.predicted == 0
    res = runner.invoke(app, ["cache", "verify", str(c.root)])
    assert res.exit_code == 1 and "3 entries: 0 ok, 3 damaged" in " ".join(res.output.split())


def test_changed_zip_makes_its_entry_stale(setup):
    zips, c = setup
    name = zips[0].name.split(".")[0]
    assert c.problem(name, zips[0]) is None
    later = time.time() + 60
    os.utime(zips[0], (later, later))
    try:
        assert "changed since it was cached" in c.problem(name, zips[0])
        s = mimir.preprocess(zips, c.root)
        assert s.count("done") == 1 and s.count("cached") == 2
    finally:
        os.utime(zips[0], None)
    res = runner.invoke(app, ["cache", "verify", str(c.root), "--no-sources"])
    assert res.exit_code == 0 and "3 entries: 3 ok" in res.output


def test_absurd_npy_header_is_refused_before_allocating(tmp_path):
    from numpy.lib import format as npy

    bad = tmp_path / "huge.npy"  # claims 183 GiB
    with open(bad, "wb") as fh:
        npy.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False,
                                        "shape": (3_000_000, 256, 256)})
        fh.write(b"\0" * 100)
    t0 = time.perf_counter()
    with pytest.raises(CacheError, match="expected a uint8 image"):
        load_image(bad)
    assert time.perf_counter() - t0 < 1.0
    (tmp_path / "pickle.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"x" * 200)
    with pytest.raises(CacheError, match="not a readable .npy"):
        load_image(tmp_path / "pickle.npy")
