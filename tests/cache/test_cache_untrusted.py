"""Cache entries are not trusted (issue #26, items 1 and 3): an entry that is a link to
an endless device, a FIFO, a sidecar nested 400,000 levels deep or a fact of the wrong
type fails that one subject as ``cache corrupt`` (or is rebuilt from its zip); the run
and ``cache verify`` go on."""

from __future__ import annotations

import json
import os
import shutil
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

import mimir
from mimir.cache.store import FACT_CHECKS, MAX_SIDECAR_BYTES, Cache, CacheError, load_image
from mimir.cli import app
from mimir.qc.facts import SubjectFacts

runner = CliRunner()


@pytest.fixture
def cache3(tmp_path, cached) -> Cache:
    """A private copy of the three cached phantoms."""
    dst = tmp_path / "cache"
    shutil.copytree(cached, dst)
    return Cache(dst)


def _names(c: Cache) -> list[str]:
    return c.names()


def _failures(out) -> pd.DataFrame:
    return pd.read_csv(out / "failures.csv", dtype=str, keep_default_na=False)


def test_image_linked_to_dev_zero_or_a_fifo_fails_only_its_subject(cache3, tmp_path, module18):
    a, b, c = _names(cache3)
    cache3.image_path(a).unlink()
    os.symlink("/dev/zero", cache3.image_path(a))
    cache3.image_path(b).unlink()
    os.mkfifo(cache3.image_path(b))
    t0 = time.perf_counter()
    s = mimir.infer([], cache3.root, [module18], tmp_path / "out", 2, device="cpu", threads=1,
                    report=False)
    assert time.perf_counter() - t0 < 120
    assert s.predicted == 1
    f = _failures(tmp_path / "out").set_index("name")
    assert sorted(f.index) == [a, b] and set(f["kind"]) == {"cache corrupt"}
    assert "symbolic link" in f.loc[a, "message"]
    assert "FIFO" in f.loc[b, "message"]
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"name": str})
    assert list(pred["name"]) == [c]


def test_cache_verify_does_not_hang_on_a_fifo_or_a_device(cache3):
    a, b, c = _names(cache3)
    cache3.image_path(a).unlink()
    os.symlink("/dev/zero", cache3.image_path(a))
    cache3.meta_path(b).unlink()
    os.mkfifo(cache3.meta_path(b))
    res = runner.invoke(app, ["cache", "verify", str(cache3.root)])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "3 entries: 1 ok, 2 damaged" in out, res.output
    with pytest.raises(CacheError, match="FIFO"):
        cache3.read_entry(b)
    with pytest.raises(CacheError, match="symbolic link"):
        load_image(cache3.image_path(a))


def _deep_sidecar(c: Cache, name: str) -> None:
    side = json.loads(c.meta_path(name).read_text())
    side["facts"]["extra_deep"] = "@"
    text = json.dumps(side).replace('"@"', "[" * 400_000 + "]" * 400_000)
    assert len(text) < MAX_SIDECAR_BYTES
    c.meta_path(name).write_text(text)


def _nan_overlaps(c: Cache, name: str) -> None:
    side = json.loads(c.meta_path(name).read_text())
    side["facts"]["overlaps"] = float("nan")
    c.meta_path(name).write_text(json.dumps(side))


def test_deep_or_mistyped_sidecars_fail_only_their_subjects(cache3, tmp_path, module18):
    a, b, c = _names(cache3)
    _deep_sidecar(cache3, a)
    _nan_overlaps(cache3, b)
    s = mimir.infer([], cache3.root, [module18], tmp_path / "out", 2, device="cpu", threads=1,
                    report=False)
    assert s.predicted == 1
    f = _failures(tmp_path / "out").set_index("name")
    assert sorted(f.index) == [a, b] and set(f["kind"]) == {"cache corrupt"}
    assert "nested more than" in f.loc[a, "message"]
    assert "'overlaps'" in f.loc[b, "message"]
    res = runner.invoke(app, ["cache", "verify", str(cache3.root)])
    assert res.exit_code == 1 and "3 entries: 1 ok, 2 damaged" in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_deep_sidecar_with_its_zip_is_rebuilt(tmp_path, phantom_dir):
    zips = sorted(phantom_dir.glob("*.zip"))[:1]
    c = Cache(tmp_path / "cache")
    assert mimir.preprocess(zips, c.root).count("done") == 1
    (name,) = c.names()
    _deep_sidecar(c, name)
    s = mimir.preprocess(zips, c.root)
    assert s.count("done") == 1
    assert c.problem(name) is None
    (rec,) = s.records
    assert any("nested more than" in w for w in rec.warnings)


@pytest.mark.parametrize("key,value", [
    ("overlaps", [1.5, 2]), ("overlaps", "x"), ("shape", [224, None, 3]),
    ("planes", {"a": 1}), ("superimposed", True), ("water_stations", 2.5),
    ("threshold", "high"), ("swap_scores", [{"corr": "x"}]), ("swap_scores", [3]),
    ("station_slices", [[1, 2], "x"]), ("lateral_edge", [0.1]),
])
def test_each_fact_is_type_checked(cache3, key, value):
    name = _names(cache3)[0]
    side = json.loads(cache3.meta_path(name).read_text())
    side["facts"][key] = value
    cache3.meta_path(name).write_text(json.dumps(side))
    with pytest.raises(CacheError, match=repr(key)):
        cache3.read_entry(name)


def test_fact_checks_cover_every_fact_and_accept_nan_measures(cache3):
    """Every field of SubjectFacts is checked; a NaN where a float measure could not be
    taken is accepted (a whole-number fact is not)."""
    from dataclasses import fields

    assert {f.name for f in fields(SubjectFacts)} - {"extra"} <= set(FACT_CHECKS)
    name = _names(cache3)[0]
    side = json.loads(cache3.meta_path(name).read_text())
    side["facts"]["threshold"] = float("nan")
    side["facts"]["swap_scores"][0]["corr"] = float("nan")
    cache3.meta_path(name).write_text(json.dumps(side))
    assert cache3.problem(name) is None
