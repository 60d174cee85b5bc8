"""What an output folder holds for people: the data dictionary (``columns.csv``), rows
in input order, the shared image cache recorded in ``run.json``, ``run.json`` listing
only files that exist, and the predictions back as a DataFrame (CLI and API)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.errors import UsageError
from mimir.output.dictionary import read_dictionary
from tests.inputs import listed

runner = CliRunner()


def check_dictionary(folder: Path, tables: list[str]) -> pd.DataFrame:
    """Every column of each table (and of predictions.parquet, under predictions.csv) is
    in the folder's columns.csv, with a meaning."""
    d = read_dictionary(folder)
    listed_ = set(zip(d["table"], d["column"], strict=True))
    for rel in tables:
        for c in pd.read_csv(folder / rel, nrows=0).columns:
            assert (rel, c) in listed_, (rel, c)
    if (folder / "predictions.parquet").is_file():
        for c in pd.read_parquet(folder / "predictions.parquet").columns:
            assert ("predictions.csv", c) in listed_, c
    assert (d["meaning"].str.len() > 0).all(), d[d["meaning"] == ""]
    return d


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A shared image cache (``$MIMIR_CACHE``) for the module's runs."""
    cache = tmp_path_factory.mktemp("shared") / "cache"
    saved = os.environ.get("MIMIR_CACHE")
    os.environ["MIMIR_CACHE"] = str(cache)
    yield cache
    if saved is None:
        os.environ.pop("MIMIR_CACHE", None)
    else:
        os.environ["MIMIR_CACHE"] = saved


@pytest.fixture(scope="module")
def runs(tmp_path_factory, phantom_dir, module18, shared, make_phantoms) -> dict:
    """Run 1 (CLI): the three clean phantoms listed in reverse name order, a QC-flagged
    one and an absent zip, no --cache. Run 2 (API): the folder of the clean ones (sorted)
    into another output folder, no cache named either."""
    root = tmp_path_factory.mktemp("runs")
    zips = sorted(phantom_dir.glob("*.zip"))
    swap = sorted(make_phantoms(1, seed=30, swap=3).glob("*.zip"))
    order = [*zips[::-1], root / "9999999_20201_2_0.zip", *swap]
    res = runner.invoke(app, ["infer", str(listed(*order, where=root)), "-m", str(module18),
                              "-o", str(root / "one"), "--device", "cpu", "-b", "2"])
    assert res.exit_code == 1, res.output          # the absent zip failed
    two = mimir.infer([phantom_dir], None, [module18], root / "two", 2, device="cpu",
                      report=False, progress=False)
    return {"one": root / "one", "two": root / "two", "order": order, "summary2": two,
            "output1": res.output}


def test_rows_follow_the_order_subjects_were_named(runs):
    names = [p.name.split(".")[0] for p in runs["order"]]
    one = pd.read_csv(runs["one"] / "predictions.csv", dtype={"name": str})
    assert list(one["name"]) == [n for n in names if not n.startswith("9999999")]
    pub = pd.read_csv(runs["one"] / "module_small" / "predictions.csv", dtype={"name": str})
    assert list(pub["name"]) == list(one["name"])
    qc = pd.read_csv(runs["one"] / "qc.csv", dtype={"name": str})
    assert list(qc["name"]) == list(one["name"])
    two = pd.read_csv(runs["two"] / "predictions.csv", dtype={"name": str})
    assert list(two["name"]) == sorted(two["name"])
    run = json.loads((runs["one"] / "run.json").read_text())
    assert run["row_order"].startswith("as named")
    # the order decides nothing else: the same subjects give the same numbers
    a = one.set_index("name").loc[two["name"]].reset_index()
    pd.testing.assert_frame_equal(a[two.columns], two, check_dtype=False)


def test_the_shared_cache_is_reused_recorded_and_holds_no_tables(runs, shared):
    one = json.loads((runs["one"] / "run.json").read_text())
    two = json.loads((runs["two"] / "run.json").read_text())
    assert one["cache"] == two["cache"] == str(shared.resolve())
    assert two["counts"]["cached"] == 3 and two["counts"]["preprocessed"] == 0
    assert not [p.name for p in shared.iterdir() if p.suffix == ".csv"]
    assert not (runs["one"] / "cache").exists()


def test_run_json_lists_the_files_that_exist(runs):
    for key in ("one", "two"):
        run = json.loads((runs[key] / "run.json").read_text())
        assert "merged.json" not in run["files"] and "columns.csv" in run["files"]
        for f in run["files"]:
            assert (runs[key] / f).is_file() or f == "report.html", f
    assert "report.html" not in json.loads((runs["two"] / "run.json").read_text())["files"]
    one = json.loads((runs["one"] / "run.json").read_text())
    assert one["counts"]["qc_failed"] == 1


def test_summary_counts_qc_failures(runs):
    out = " ".join(runs["output1"].split())
    assert "5 subjects: 4 predicted, 1 failed, 1 failed QC (qc_pass false);" in out


def test_the_dictionary_covers_every_column_of_every_table(runs, module18):
    d = check_dictionary(runs["one"], ["predictions.csv", "module_small/predictions.csv",
                                       "qc.csv", "failures.csv"])
    row = d[(d["table"] == "predictions.csv") & (d["column"] == "AtlasVatVolume_variance_in_L")].iloc[0]
    assert row["unit"] == "L²" and row["module"] == "module_small"
    assert row["field"] == "22407"
    pub = d[(d["table"] == "module_small/predictions.csv")
            & (d["column"] == "AtlasVatVolume_variance_in_L")].iloc[0]
    assert pub["unit"] == "L²"
    unc = d[d["column"] == "AtlasVatVolume_uncertain"].iloc[0]
    assert "threshold" in unc["meaning"] and " L)" in unc["meaning"]
    flag = d[(d["table"] == "qc.csv") & (d["column"] == "fat_water_swap")].iloc[0]
    assert flag["meaning"].startswith("QC flag (fail)")
    check_dictionary(runs["two"], ["predictions.csv", "module_small/predictions.csv",
                                   "qc.csv", "failures.csv"])


def test_read_results_gives_a_dataframe_with_the_dictionary(runs):
    df = mimir.read_results(runs["one"])
    assert list(df["name"]) == list(pd.read_csv(runs["one"] / "predictions.csv",
                                                dtype={"name": str})["name"])
    assert set(df.attrs["columns"]) == set(df.columns)
    assert df.attrs["columns"]["AtlasVatVolume_variance_in_L"]["unit"] == "L²"
    assert df.attrs["columns"]["AtlasVatVolume_mean_in_L"]["field"] == "22407"
    s = runs["summary2"].results()
    assert len(s) == 3 and s.attrs["columns"]["name"]["meaning"].startswith("subject name")
    with pytest.raises(UsageError, match="no predictions"):
        mimir.read_results(runs["one"] / ".mimir")


def test_qc_of_an_output_folder_finds_its_cache(runs, shared, tmp_path):
    res = runner.invoke(app, ["qc", str(runs["one"])])
    assert res.exit_code == 0, res.output
    assert str(shared.resolve()) in " ".join(res.output.split())
    assert (runs["one"] / "qc_summary.csv").is_file()
    d = check_dictionary(runs["one"], ["qc_summary.csv", "predictions.csv"])
    assert ("qc_summary.csv", "rule") in set(zip(d["table"], d["column"], strict=True))
    # a cache gets no tables: none without --out, and --out may not be the cache
    res = runner.invoke(app, ["qc", str(shared)])
    assert res.exit_code == 0 and "nothing written" in " ".join(res.output.split())
    assert not list(shared.glob("*.csv")) and not list(shared.glob("*.png"))
    res = runner.invoke(app, ["qc", str(shared), "-o", str(shared)])
    assert res.exit_code == 2
    r = mimir.qc(shared, out=tmp_path / "qc")
    assert r["summary"] == tmp_path / "qc" / "qc_summary.csv"
    check_dictionary(tmp_path / "qc", ["qc_summary.csv"])


def test_preprocess_writes_its_tables_to_out_never_into_the_cache(tmp_path, phantom_dir):
    missing = listed(tmp_path / "8888888_20201_2_0.zip", where=tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "tables"
    res = runner.invoke(app, ["preprocess", str(phantom_dir), str(missing), "--cache",
                              str(cache), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert sorted(p.name for p in out.iterdir()) == ["columns.csv", "failures.csv", "qc.csv",
                                                     "warnings.csv"]
    assert not list(cache.glob("*.csv")) and len(list(cache.glob("*.npy"))) == 3
    check_dictionary(out, ["failures.csv", "qc.csv", "warnings.csv"])
    with pytest.raises(UsageError, match="must not be the cache"):
        mimir.preprocess([phantom_dir], cache, out=cache)


def test_merged_shards_keep_the_order_and_the_dictionary(tmp_path, phantom_dir, module18,
                                                         cached):
    zips = sorted(phantom_dir.glob("*.zip"))[::-1]
    lst = listed(*zips, where=tmp_path)
    for i in (1, 2):
        s = mimir.infer([lst], cached, [module18], tmp_path / "out", 1, device="cpu",
                        shard=f"{i}/2", report=False, progress=False)
        assert s.ok
    res = runner.invoke(app, ["merge", str(tmp_path / "out"), "--no-report"])
    assert res.exit_code == 0, res.output
    merged = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"name": str})
    assert list(merged["name"]) == [z.name.split(".")[0] for z in zips]
    check_dictionary(tmp_path / "out", ["predictions.csv", "module_small/predictions.csv",
                                        "qc.csv", "failures.csv"])
