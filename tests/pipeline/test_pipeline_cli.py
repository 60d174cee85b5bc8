"""``mimir preprocess`` and ``mimir show`` through typer's CliRunner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cache.store import Cache, CacheEntry
from mimir.cli import app
from tests.pipeline.pipeline_helpers import zips

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def text(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_preprocess_all_succeed_exit_0(runner, tmp_path, phantom_dir, subject_image):
    src, excluded = zips(phantom_dir)[0], zips(phantom_dir)[2]
    ex = tmp_path / "exclude.tsv"
    ex.write_text(f"eid\tname\n0\t{excluded.stem}\n")
    cache = tmp_path / "cache"
    res = runner.invoke(app, ["preprocess", str(src), str(excluded), "--cache", str(cache),
                              "--exclude", str(ex), "--exclude-column", "name", "-o",
                              str(tmp_path / "tables")])
    assert res.exit_code == 0, res.output
    assert "1 preprocessed" in text(res) and "1 excluded" in text(res)
    np.testing.assert_array_equal(Cache(cache).read_image(src.stem), subject_image(src))
    assert not Cache(cache).has(excluded.stem)
    f = pd.read_csv(tmp_path / "tables" / "failures.csv", dtype=str, keep_default_na=False)
    assert f[["name", "kind"]].values.tolist() == [[excluded.stem, "excluded"]]
    assert not list(cache.glob("*.csv"))          # the cache holds images only
    # a rerun finds it cached and still succeeds
    again = runner.invoke(app, ["preprocess", str(src), "--cache", str(cache)])
    assert again.exit_code == 0 and "1 already cached" in text(again)


def test_preprocess_some_failed_exit_1_after_processing_the_rest(runner, tmp_path, phantom_dir):
    src = zips(phantom_dir)[1]
    missing = tmp_path / "7200001_20201_2_0.zip"
    notzip = tmp_path / "7200002_20201_2_0.zip"
    notzip.write_text("text")
    lst = tmp_path / "list.txt"
    lst.write_text(f"{missing.name}\n{notzip.name}\n{src}\n")
    cache = tmp_path / "cache"
    res = runner.invoke(app, ["preprocess", str(lst), "--cache", str(cache), "--out",
                              str(tmp_path / "tables")])
    assert res.exit_code == 1, res.output
    assert Cache(cache).has(src.stem)  # processed although listed after the failures
    assert "2 failed" in text(res) and "1 preprocessed" in text(res)
    assert missing.stem in text(res)
    assert "Traceback" not in res.output
    f = pd.read_csv(tmp_path / "tables" / "failures.csv", dtype=str, keep_default_na=False)
    assert sorted(f["name"]) == sorted([missing.stem, notzip.stem])


def test_preprocess_ids_dicom_dir_instance(runner, tmp_path, phantom_dir):
    src = zips(phantom_dir)[0]
    eid = src.stem.split("_")[0]
    ids = tmp_path / "ids.csv"
    ids.write_text(f"eid,sex\n{eid},1\n")
    cache = tmp_path / "cache"
    # instance 2 names the phantom's zip: already cached here, so not redone
    Cache(cache).write(np.zeros((3, 256, 256), np.uint8), CacheEntry(name=src.stem))
    ok = runner.invoke(app, ["preprocess", "--ids", str(ids), "--dicom-dir", str(phantom_dir),
                             "--cache", str(cache)])
    assert ok.exit_code == 0, ok.output
    assert "1 already cached" in text(ok)
    # instance 3 names a zip that does not exist: a failure, exit 1
    bad = runner.invoke(app, ["preprocess", "--ids", str(ids), "--dicom-dir", str(phantom_dir),
                              "--instance", "3", "--cache", str(cache), "-o",
                              str(tmp_path / "tables")])
    assert bad.exit_code == 1, bad.output
    f = pd.read_csv(tmp_path / "tables" / "failures.csv", dtype=str, keep_default_na=False)
    assert f["name"].tolist() == [f"{eid}_20201_3_0"]
    assert f["kind"].tolist() == ["missing file"]
    assert f["path"].iloc[0] == str(phantom_dir / f"{eid}_20201_3_0.zip")


@pytest.mark.parametrize("args", [
    ["--ids", "IDS"],                      # --ids without --dicom-dir
    ["--dicom-dir", "DIR"],                # --dicom-dir without --ids
    [],                                    # no inputs at all
    ["ZIP", "--exclude", "NOFILE"],        # exclusion list that does not exist
    ["ZIP", "--exclude", "EXCSV", "--exclude-column", "nope"],
    ["EMPTYDIR"],                          # a folder without zips
])
def test_preprocess_usage_errors_exit_2(runner, tmp_path, phantom_dir, args):
    ids = tmp_path / "ids.txt"
    ids.write_text("1234567\n")
    (tmp_path / "empty").mkdir()
    excsv = tmp_path / "ex.csv"
    excsv.write_text("eid\n1\n")
    subst = {"IDS": str(ids), "DIR": str(tmp_path), "ZIP": str(zips(phantom_dir)[0]),
             "NOFILE": str(tmp_path / "absent.csv"), "EXCSV": str(excsv),
             "EMPTYDIR": str(tmp_path / "empty")}
    cache = tmp_path / "cache"
    res = runner.invoke(app, ["preprocess", *[subst.get(a, a) for a in args],
                              "--cache", str(cache)])
    assert res.exit_code == 2, res.output
    assert "error" in res.output.lower()
    assert not Cache(cache).names()  # nothing was preprocessed


def test_preprocess_missing_cache_option_exit_2(runner, phantom_dir):
    res = runner.invoke(app, ["preprocess", str(zips(phantom_dir)[0])])
    assert res.exit_code == 2


@pytest.fixture
def image_file(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    p = tmp_path / "subject.npy"
    np.save(p, img)
    return p


def test_show_writes_png_and_refuses_overwrite(runner, image_file, tmp_path):
    out = tmp_path / "pic.png"
    res = runner.invoke(app, ["show", str(image_file), "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    # an existing file is not overwritten without --overwrite
    out.write_bytes(b"keep me")
    res2 = runner.invoke(app, ["show", str(image_file), "-o", str(out)])
    assert res2.exit_code == 2
    assert "--overwrite" in text(res2)
    assert out.read_bytes() == b"keep me"
    res3 = runner.invoke(app, ["show", str(image_file), "--output", str(out), "--overwrite"])
    assert res3.exit_code == 0, res3.output
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    # no temporary files left next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.png", "subject.npy"]


def test_show_cached_image(runner, tmp_path, phantom_dir):
    """A cache's own image file (as written by preprocess) can be shown."""
    cache = tmp_path / "cache"
    src = zips(phantom_dir)[0]
    img = np.zeros((3, 256, 256), dtype=np.uint8)
    img[:, 100:150, 30:200] = 200
    Cache(cache).write(img, CacheEntry(name=src.stem))
    out = tmp_path / "c.png"
    res = runner.invoke(app, ["show", str(Cache(cache).image_path(src.stem)), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG_SIGNATURE
