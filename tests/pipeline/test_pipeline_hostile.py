"""Hostile inputs each fail their own subject, with a record; the others are right."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

import mimir
from mimir.cache.store import Cache
from mimir.errors import KINDS
from mimir.pipeline.options import InputOptions
from tests.pipeline.pipeline_helpers import HOSTILE_LIMITS


@pytest.fixture(scope="module", params=[1, 2], ids=["workers1", "workers2"])
def hostile_run(request, hostile_folder, tmp_path_factory):
    folder, exp = hostile_folder
    cache = tmp_path_factory.mktemp(f"cache_w{request.param}") / "cache"
    missing = folder / "9100003_20201_2_0.zip"
    assert not missing.exists()
    lst = cache.parent / "list.txt"   # an absent zip fails as a subject when listed
    lst.write_text(f"{missing}\n")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        summary = mimir.preprocess([folder, lst], cache, workers=request.param,
                                   out=cache.parent / "tables",
                                   **InputOptions.limit_values(HOSTILE_LIMITS))
    assert "Traceback" not in stderr.getvalue()
    return summary, cache, exp


def test_every_subject_has_its_record(hostile_run):
    summary, cache, exp = hostile_run
    by_name = {r.name: r for r in summary.records}
    assert set(by_name) == set(exp)
    for name, e in exp.items():
        rec = by_name[name]
        if e["kind"] is None:
            assert rec.status == "done", (name, rec.kind, rec.message)
        else:
            assert rec.status == "failed", name
            assert rec.kind == e["kind"], (name, rec.kind, rec.message)


def test_failures_csv(hostile_run):
    summary, cache, exp = hostile_run
    df = pd.read_csv(cache.parent / "tables" / "failures.csv", dtype=str,
                     keep_default_na=False)
    assert list(df.columns) == ["name", "path", "kind", "member", "message"]
    failing = {n for n, e in exp.items() if e["kind"] is not None}
    assert set(df["name"]) == failing
    assert len(df) == len(failing)
    for row in df.itertuples():
        e = exp[row.name]
        assert row.kind == e["kind"] and row.kind in KINDS
        assert row.kind != "internal error"
        assert row.path.endswith(f"{row.name}.zip")
        assert row.name in row.message, row.message
        assert "Traceback" not in row.message
        if e.get("member"):
            assert row.member == e["member"]
        if row.member:
            assert row.member in row.message
        if e.get("message"):
            assert e["message"] in row.message


def test_good_subjects_cached_and_equal_to_preprocess_subject(hostile_run, subject_image):
    summary, cache, exp = hostile_run
    c = Cache(cache)
    good = {n for n, e in exp.items() if e["kind"] is None}
    assert set(c.names()) == good
    for name in good:
        img = c.read_image(name)
        assert img.shape == (3, 256, 256)
        assert (img == subject_image(exp[name]["same_as"])).all(), name


def test_no_manifest_warning_recorded(hostile_run):
    summary, cache, exp = hostile_run
    w = pd.read_csv(cache.parent / "tables" / "warnings.csv", dtype=str,
                    keep_default_na=False)
    assert list(w.columns) == ["name", "warning"]
    (name,) = [n for n, e in exp.items() if e.get("warning")]
    mine = w[w["name"] == name]["warning"].tolist()
    assert any("no manifest" in m for m in mine)
    assert Cache(cache).read_entry(name).facts["source"] == "headers"


def test_nothing_written_outside(hostile_run, hostile_folder):
    summary, cache, exp = hostile_run
    folder, _ = hostile_folder
    for base in (folder, cache, folder.parent, cache.parent):
        assert not (base / ".." / ".." / "evil.dcm").exists()
    assert not list(folder.parent.parent.rglob("evil.dcm"))
    assert not list(cache.parent.rglob("evil.dcm"))
    # the cache holds only images and sidecars; the tables are in their own folder
    names = {p.name for p in cache.iterdir()}
    assert all(n.endswith((".npy", ".json")) for n in names), names
    tables = {p.name for p in (cache.parent / "tables").iterdir()}
    assert {"failures.csv", "warnings.csv", "qc.csv", "columns.csv"} == tables


def test_summary_counts(hostile_run):
    summary, cache, exp = hostile_run
    n_fail = sum(e["kind"] is not None for e in exp.values())
    assert summary.count("failed") == n_fail
    assert summary.count("done") == len(exp) - n_fail
    assert f"{len(exp)} subjects" in summary.line()
