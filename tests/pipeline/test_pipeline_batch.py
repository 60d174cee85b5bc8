"""Batch behaviour: the cache, reruns, merged record tables, volumes and exclusions."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import mimir
from mimir.cache.store import Cache
from mimir.pipeline import preprocess_subject
from mimir.pipeline.batch import iter_preprocess
from tests.inputs import listed
from tests.pipeline.pipeline_helpers import zips


def tables(cache: Path) -> Path:
    """Where a test's preprocessing tables go: beside the cache, never in it."""
    return cache.with_name(cache.name + "-tables")


def read_table(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, phantom_dir):
    cache = tmp_path_factory.mktemp("batch") / "cache"
    paths = zips(phantom_dir)[:2]
    summary = mimir.preprocess(paths, cache, out=tables(cache))
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    return paths, cache, summary, stamps


def test_first_run_writes_images_and_sidecars(first_run, subject_image):
    paths, cache, summary, _ = first_run
    assert [r.status for r in summary.records] == ["done", "done"]
    c = Cache(cache)
    assert c.names() == sorted(p.stem for p in paths)
    for p in paths:
        np.testing.assert_array_equal(c.read_image(p.stem), subject_image(p))
        entry = c.read_entry(p.stem)
        assert entry.source == str(p) and entry.facts["water_stations"] == 6
    # empty tables with their columns
    assert list(read_table(tables(cache) / "failures.csv").columns) == ["name", "path", "kind",
                                                                 "member", "message"]
    assert len(read_table(tables(cache) / "failures.csv")) == 0
    assert list(read_table(tables(cache) / "warnings.csv").columns) == ["name", "warning"]


def test_rerun_skips_cached_subjects(first_run):
    paths, cache, _, stamps = first_run
    images = {p.stem: Cache(cache).read_image(p.stem) for p in paths}
    summary = mimir.preprocess(paths, cache, out=tables(cache))
    assert [r.status for r in summary.records] == ["cached", "cached"]
    assert summary.count("cached") == 2 and summary.count("done") == 0
    assert "2 already cached" in summary.line()
    for p in paths:
        for suffix in (".npy", ".json"):
            f = cache / f"{p.stem}{suffix}"
            assert f.stat().st_mtime_ns == stamps[f.name], f"{f.name} was rewritten"
        np.testing.assert_array_equal(Cache(cache).read_image(p.stem), images[p.stem])


def test_cached_and_failed_subjects_each_get_their_record(first_run, tmp_path):
    paths, cache, _, _ = first_run
    missing = tmp_path / "7100001_20201_2_0.zip"
    recs = list(iter_preprocess([missing, paths[1]], Cache(cache)))
    assert [(r.name, r.status) for r in recs] == [(missing.stem, "failed"),
                                                  (paths[1].stem, "cached")]


def test_failures_and_warnings_merge_across_runs(tmp_path, phantom_dir, no_manifest_pair):
    cache = tmp_path / "cache"
    bare, _ = no_manifest_pair
    missing = tmp_path / "7000001_20201_2_0.zip"
    notzip = tmp_path / "7000002_20201_2_0.zip"
    notzip.write_text("plain text")
    # run 1: a subject with a warning, a missing one
    mimir.preprocess([bare, listed(missing, where=tmp_path / "lists")], cache,
                     out=tables(cache))
    f1 = read_table(tables(cache) / "failures.csv")
    assert f1["name"].tolist() == [missing.stem] and f1["kind"].tolist() == ["missing file"]
    w1 = read_table(tables(cache) / "warnings.csv")
    assert bare.stem in set(w1["name"])
    n_warn = (w1["name"] == bare.stem).sum()
    assert n_warn >= 1
    # run 2: another failure; the warning subject is now cached
    s2 = mimir.preprocess([notzip, bare], cache, out=tables(cache))
    assert {r.name: r.status for r in s2.records} == {notzip.stem: "failed", bare.stem: "cached"}
    f2 = read_table(tables(cache) / "failures.csv")
    assert sorted(f2["name"]) == sorted([missing.stem, notzip.stem])
    assert dict(zip(f2["name"], f2["kind"], strict=True)) == {missing.stem: "missing file",
                                                              notzip.stem: "not a zip"}
    w2 = read_table(tables(cache) / "warnings.csv")
    assert (w2["name"] == bare.stem).sum() == n_warn  # kept, not duplicated
    # run 3: the missing subject appears; its failure row goes, the other stays
    shutil.copyfile(zips(phantom_dir)[0], missing)
    s3 = mimir.preprocess([missing], cache, out=tables(cache))
    assert s3.records[0].status == "done"
    f3 = read_table(tables(cache) / "failures.csv")
    assert f3["name"].tolist() == [notzip.stem]
    assert (read_table(tables(cache) / "warnings.csv")["name"] == bare.stem).sum() == n_warn
    # rerunning a failure replaces its row rather than adding one
    mimir.preprocess([notzip], cache, out=tables(cache))
    assert read_table(tables(cache) / "failures.csv")["name"].tolist() == [notzip.stem]


def test_volumes_written_as_nifti(tmp_path, phantom_dir):
    src = zips(phantom_dir)[2]
    cache = tmp_path / "cache"
    vdir = tmp_path / "volumes"
    # cached without volumes first: asking for volumes redoes the subject
    assert mimir.preprocess([src], cache, out=tables(cache)).records[0].status == "done"
    s = mimir.preprocess([src], cache, out=tables(cache), volumes=vdir)
    assert s.records[0].status == "done"
    name = src.stem
    files = sorted(p.name for p in vdir.iterdir())
    assert files == sorted(f"{name}_{k}.nii.gz" for k in ("water", "fat", "ff", "mask"))
    res = preprocess_subject(src, keep_volumes=True)
    ref = res.volumes
    for key, dtype in (("water", np.float32), ("fat", np.float32), ("ff", np.float32),
                       ("mask", np.uint8)):
        img = nib.load(vdir / f"{name}_{key}.nii.gz")
        np.testing.assert_allclose(img.header.get_zooms()[:3], (2.232, 2.232, 3.0), atol=1e-3)
        np.testing.assert_allclose(np.abs(np.diag(img.affine)[:3]),
                                   (2.23214293, 2.23214293, 3.0), rtol=1e-6)
        np.testing.assert_allclose(img.affine, ref["affine"], rtol=1e-6, atol=1e-4)
        data = np.asanyarray(img.dataobj)
        assert data.dtype == dtype, key
        assert data.shape == ref[key].shape
        np.testing.assert_array_equal(data, np.asarray(ref[key], dtype=dtype), err_msg=key)
    # the image is still the subject's image; a third run finds everything cached
    np.testing.assert_array_equal(Cache(cache).read_image(name), res.image)
    assert mimir.preprocess([src], cache, out=tables(cache), volumes=vdir).records[0].status == "cached"


@pytest.mark.parametrize("fmt", ["csv", "tsv", "plain"])
def test_excluded_subjects_recorded_and_not_processed(fmt, first_run, tmp_path):
    paths, done_cache, _, _ = first_run
    cache = tmp_path / "cache"
    cache.mkdir()
    # the second subject is already cached (copied): only the exclusion is at work
    keep = paths[1].stem
    for suffix in (".npy", ".json"):
        shutil.copyfile(done_cache / f"{keep}{suffix}", cache / f"{keep}{suffix}")
    drop = paths[0].stem
    eid = drop.split("_")[0]
    column = None
    if fmt == "csv":
        ex = tmp_path / "ex.csv"
        ex.write_text(f"eid,reason\n{eid},artefact\n")
    elif fmt == "tsv":
        ex = tmp_path / "ex.tsv"
        ex.write_text(f"eid\tmy_subjects\n{keep.split('_')[0]}x\t{drop}\n")
        column = "my_subjects"
    else:
        ex = tmp_path / "ex.txt"
        ex.write_text(f"{eid}_2\n")
    s = mimir.preprocess(paths, cache, out=tables(cache), exclude=ex, exclude_column=column)
    assert {r.name: r.status for r in s.records} == {drop: "excluded", keep: "cached"}
    assert not Cache(cache).has(drop)
    f = read_table(tables(cache) / "failures.csv")
    assert f["name"].tolist() == [drop]
    assert f["kind"].tolist() == ["excluded"]
    assert ex.name in f["message"].iloc[0]
    assert s.count("excluded") == 1 and "1 excluded" in s.line()
