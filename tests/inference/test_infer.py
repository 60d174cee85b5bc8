"""``mimir infer``: published modules unchanged, the formulas, intervals, resume, exits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from typer.testing import CliRunner

import mimir
from mimir.cache.store import Cache
from mimir.cli import app
from mimir.errors import UsageError
from tests.inputs import listed
from tests.modules.module_factory import THREE_TARGETS, write_module

runner = CliRunner()


@pytest.fixture(scope="module")
def module50(tmp_path_factory) -> Path:
    """A published-format module: torchvision ResNet50, random weights, T = 3."""
    return write_module(tmp_path_factory.mktemp("mods") / "module_bodycomp", **THREE_TARGETS)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, phantom_dir) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    summary = mimir.preprocess([phantom_dir], cache)
    assert summary.count("done") == 3
    return cache


def _direct(module_dir: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spec's formulas computed here, independently of mimir's engine."""
    snap = torch.load(module_dir / "snapshot.pth.tar", weights_only=True)
    net = torchvision.models.resnet50(weights=None)
    net.fc = torch.nn.Linear(2048, 6)
    net.load_state_dict(snap["state_dict"])
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(images).float()).numpy().astype(np.float64)
    meta = pd.read_csv(module_dir / "metadata.txt")
    st = pd.read_csv(module_dir / "standardization_parameters.txt")
    cal = pd.read_csv(module_dir / "calibration_factors.txt")
    mean = np.empty((len(images), 3))
    var = np.empty((len(images), 3))
    for t in range(3):
        mu, sd = st["stand_mean"][t], st["stand_stdev"][t]
        c, d = cal["calibration_factor"][t], meta["Divisor"][t]
        mean[:, t] = (out[:, 2 * t] * sd + mu) / d
        var[:, t] = np.exp(out[:, 2 * t + 1]) * sd ** 2 * c / d ** 2
    return mean, var


def test_predictions_equal_direct_formulas(module50, cache_dir, tmp_path):
    out = tmp_path / "out"
    summary = mimir.infer([], cache_dir, [module50], out, 2, device="cpu")
    assert summary.ok and summary.predicted == 3
    pub = pd.read_csv(out / "module_bodycomp" / "predictions.csv")
    assert list(pub.columns) == [
        "name", "AtlasVatVolume_mean_in_L", "AtlasVatVolume_variance_in_L",
        "liverVolume_mean_in_L", "liverVolume_variance_in_L", "age_mean_in_years",
        "age_variance_in_years"]
    cache = Cache(cache_dir)
    names = list(pub["name"])
    assert names == cache.names()
    mean, var = _direct(module50, np.stack([cache.read_image(n) for n in names]))
    got_m = pub[[c for c in pub.columns if "_mean_" in c]].to_numpy()
    got_v = pub[[c for c in pub.columns if "_variance_" in c]].to_numpy()
    np.testing.assert_allclose(got_m, mean, rtol=1e-4)
    np.testing.assert_allclose(got_v, var, rtol=1e-4)
    # the divisor 1000 scales the variance by 1000**2 (not 1000): liverVolume in L
    assert np.all(got_v[:, 1] < 1.0)


@pytest.mark.parametrize("level,z", [(0.95, 1.959963984540054), (0.9, 1.6448536269514722)])
def test_confidence_bounds(module50, cache_dir, tmp_path, level, z):
    out = tmp_path / "out"
    mimir.infer([], cache_dir, [module50], out, 4, device="cpu", ci=level, digits=17)
    tab = pd.read_csv(out / "predictions.csv")
    lab = f"{level * 100:g}"
    for name, unit in (("AtlasVatVolume", "L"), ("liverVolume", "L"), ("age", "years")):
        m = tab[f"{name}_mean_in_{unit}"]
        sd = tab[f"{name}_sd_in_{unit}"]
        np.testing.assert_allclose(sd ** 2, tab[f"{name}_variance_in_{unit}"], rtol=1e-12)
        np.testing.assert_allclose(tab[f"{name}_lower{lab}_in_{unit}"], m - z * sd, rtol=1e-9)
        np.testing.assert_allclose(tab[f"{name}_upper{lab}_in_{unit}"], m + z * sd, rtol=1e-9)
    par = pd.read_parquet(out / "predictions.parquet")
    numeric = [c for c in tab.columns if c.endswith(("_in_L", "_in_years")) or c == "name"]
    pd.testing.assert_frame_equal(par[numeric], tab[numeric], check_exact=False, rtol=1e-12)
    assert list(par.columns) == list(tab.columns)


def test_digits_round_what_the_csv_tables_write(module50, cache_dir, tmp_path):
    full, short = tmp_path / "full", tmp_path / "short"
    mimir.infer([], cache_dir, [module50], full, 4, device="cpu", digits=17, report=False)
    res = runner.invoke(app, ["infer", "--cache", str(cache_dir), "-m", str(module50), "-o",
                              str(short), "--digits", "4", "--no-report"])
    assert res.exit_code == 0, res.output
    for rel in ("predictions.csv", "module_bodycomp/predictions.csv"):
        a, b = pd.read_csv(full / rel), pd.read_csv(short / rel)
        values = [c for c in a.columns if "_in_" in c]
        np.testing.assert_allclose(b[values], a[values], rtol=5e-4)
        assert (b[values] != a[values]).any().any()  # rounded
        head, row = (line.split(",") for line in (short / rel).read_text().splitlines()[:2])
        digits = [len(v.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))
                  for c, v in zip(head, row, strict=True) if "_in_" in c]
        assert digits and max(digits) <= 4
    # the parquet table keeps every digit
    pd.testing.assert_frame_equal(pd.read_parquet(short / "predictions.parquet"),
                                  pd.read_parquet(full / "predictions.parquet"))


def test_existing_out_refused_without_resume_or_overwrite(module50, cache_dir, tmp_path):
    out = tmp_path / "out"
    mimir.infer([], cache_dir, [module50], out, 4, device="cpu")
    before = (out / "predictions.csv").read_bytes()
    with pytest.raises(UsageError, match="--resume"):
        mimir.infer([], cache_dir, [module50], out, 4, device="cpu")
    res = runner.invoke(app, ["infer", "--cache", str(cache_dir), "-m", str(module50), "-o",
                              str(out)])
    assert res.exit_code == 2
    assert (out / "predictions.csv").read_bytes() == before
    s = mimir.infer([], cache_dir, [module50], out, 4, device="cpu", overwrite=True)
    assert s.ok


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(module50, phantom_dir, tmp_path):
    full = tmp_path / "full"
    mimir.infer([phantom_dir], tmp_path / "cache_full", [module50], full, 2, device="cpu")

    part = tmp_path / "part"
    calls = []

    def stop_after_first(n):
        calls.append(n)
        raise _Interrupt

    with pytest.raises(_Interrupt):
        mimir.infer([phantom_dir], tmp_path / "cache_part", [module50], part, 2, device="cpu",
                    on_batch=stop_after_first)
    assert calls == [2]
    # the interrupted run left no final table behind
    assert not (part / "predictions.csv").exists() and not (part / "run.json").exists()
    mimir.infer([phantom_dir], tmp_path / "cache_part", [module50], part, 2, device="cpu",
                resume=True)
    for rel in ("predictions.csv", "module_bodycomp/predictions.csv", "failures.csv"):
        assert (part / rel).read_bytes() == (full / rel).read_bytes(), rel
    pd.testing.assert_frame_equal(pd.read_parquet(part / "predictions.parquet"),
                                  pd.read_parquet(full / "predictions.parquet"))
    run = json.loads((part / "run.json").read_text())
    assert run["complete"] and run["counts"]["predicted_this_run"] == 1  # the unfinished chunk


def test_failed_subject_exit_1_and_others_written(module50, phantom_dir, tmp_path):
    missing = listed(tmp_path / "9999999_20201_2_0.zip")  # an absent zip, listed
    res = runner.invoke(app, ["infer", str(phantom_dir), str(missing), "--cache",
                              str(tmp_path / "c"), "-m", str(module50), "-o",
                              str(tmp_path / "o"), "-b", "2", "--device", "cpu"])
    assert res.exit_code == 1, res.output
    tab = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert len(tab) == 3
    fails = pd.read_csv(tmp_path / "o" / "failures.csv")
    assert list(fails["name"]) == ["9999999_20201_2_0"]
    assert fails["kind"][0] == "missing file"


def test_installed_module_by_name(module50, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MIMIR_HOME", str(tmp_path / "home"))
    res = runner.invoke(app, ["modules", "install", str(module50)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["modules", "list"])
    assert "module_bodycomp" in res.output and "AtlasVatVolume" in res.output
    res = runner.invoke(app, ["infer", "--cache", str(cache_dir), "-m", "module_bodycomp",
                              "-o", str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "module_bodycomp" / "predictions.csv").is_file()


def test_modules_listed_after_one_flag(module50, cache_dir, tmp_path, monkeypatch):
    """``--modules A B`` (the original's style) works through the console script."""
    import sys

    from mimir.cli import main
    from mimir.cli.app import expand_list_options

    second = tmp_path / "module_two"
    second.mkdir()
    for p in module50.iterdir():
        (second / p.name).write_bytes(p.read_bytes())
    a, b = str(module50), str(second)
    assert expand_list_options(["infer", "z", "--modules", a, b, "-o", "x"]) == [
        "infer", "z", "--modules", a, "--modules", b, "-o", "x"]
    # a token after the modules that is not a module stays an input
    assert expand_list_options(["infer", "-m", a, "zips", b]) == ["infer", "-m", a, "zips", b]
    monkeypatch.setattr(sys, "argv", ["mimir", "infer", "--cache", str(cache_dir), "--modules",
                                      str(module50), str(second), "-o", str(tmp_path / "o"),
                                      "--device", "cpu"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert (tmp_path / "o" / "module_two" / "predictions.csv").is_file()
    assert (tmp_path / "o" / "module_bodycomp" / "predictions.csv").is_file()


def test_no_loadable_module_stops_the_run_with_a_clear_error(phantom_dir, tmp_path):
    """Networks load while preprocessing has started; when none loads, the run stops."""
    from mimir.errors import MimirError

    bad = write_module(tmp_path / "mods" / "module_bad", **THREE_TARGETS)
    state = torch.load(bad / "snapshot.pth.tar", weights_only=True)
    state["state_dict"]["fc.weight"] = torch.zeros(4, 2048)  # 2 targets' head, 3 declared
    state["state_dict"]["fc.bias"] = torch.zeros(4)
    torch.save(state, bad / "snapshot.pth.tar")
    with pytest.raises(MimirError, match="no module could be loaded.*fc"):
        mimir.infer([phantom_dir], tmp_path / "cache", [bad], tmp_path / "out", 2,
                    device="cpu", workers=2)
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_run_json_records_the_snapshot_sha256(module50, cache_dir, tmp_path):
    import hashlib

    out = tmp_path / "out"
    assert mimir.infer([], cache_dir, [module50], out, 2, device="cpu").ok
    run = json.loads((out / "run.json").read_text())
    want = hashlib.sha256((module50 / "snapshot.pth.tar").read_bytes()).hexdigest()
    assert [m["snapshot_sha256"] for m in run["modules"]] == [want]


def test_infer_from_an_eid_list_and_the_zip_folder(module50, phantom_dir, tmp_path):
    """The original's entry point: a list of eids (with a header line) plus the folder of
    zips; the tables carry eid and instance after name."""
    eids = sorted(p.name.split("_")[0] for p in phantom_dir.glob("*.zip"))
    ids = tmp_path / "eids.csv"
    ids.write_text("f.eid\n" + "\n".join(eids[:2] + ["1000001"]) + "\n")
    res = runner.invoke(app, ["infer", "--ids", str(ids), "--dicom-dir", str(phantom_dir),
                              "--instance", "2", "--cache", str(tmp_path / "c"), "-m",
                              str(module50), "-o", str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 1, res.output  # the third eid has no zip
    tab = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert list(tab.columns[:3]) == ["name", "eid", "instance"]
    assert list(tab["name"]) == [f"{e}_20201_2_0" for e in eids[:2]]
    assert list(tab["eid"]) == [int(e) for e in eids[:2]] and set(tab["instance"]) == {2}
    par = pd.read_parquet(tmp_path / "o" / "predictions.parquet")
    assert list(par["eid"]) == [int(e) for e in eids[:2]]
    qc = pd.read_csv(tmp_path / "o" / "qc.csv")
    assert list(qc.columns[:3]) == ["name", "eid", "instance"]
    fails = pd.read_csv(tmp_path / "o" / "failures.csv")
    assert list(fails["name"]) == ["1000001_20201_2_0"]
    assert fails["kind"][0] == "missing file"
    # the published per-module layout is unchanged
    pub = pd.read_csv(tmp_path / "o" / "module_bodycomp" / "predictions.csv")
    assert pub.columns[0] == "name" and "eid" not in pub.columns


def test_names_outside_the_ukb_pattern_leave_eid_empty():
    from mimir.reading.archive import eid_instance, id_columns

    assert eid_instance("1234567_20201_3_0") == (1234567, 3)
    assert eid_instance("1234567") == (1234567, None)
    assert eid_instance("ghost_20201_2_0") == (None, None)
    cols = id_columns(["1_20201_2_0", "x"])
    assert list(cols["eid"].astype(object)) == [1, pd.NA]
