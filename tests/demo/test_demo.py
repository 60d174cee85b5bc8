"""``mimir demo`` end to end with the shipped module; the report renders in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.demo.run import DEMO_MODULE
from mimir.modules.format import load_module

runner = CliRunner()


def test_shipped_demo_module_is_small_and_valid():
    m = load_module(DEMO_MODULE)
    assert m.backbone == "resnet18"
    size = (DEMO_MODULE / "snapshot.pth.tar").stat().st_size
    assert size <= 50 * 2**20
    info = json.loads((DEMO_MODULE / "module.json").read_text())
    assert len(info["target_columns"]) == len(m.targets) == 10
    assert all(f > 0 for f in (t.calibration for t in m.targets))


def test_shipped_demo_module_passed_its_training_fit_check():
    """The shipped network is not shifted on its own training subjects (docs/training.md)."""
    fit = json.loads((DEMO_MODULE / "module.json").read_text())["provenance"]["training_fit"]
    assert len(fit["targets"]) == 10
    flagged = [t["target"] for t in fit["targets"] if t["flagged"]]
    assert not flagged, f"the demo module is shifted on {flagged}"
    assert all(abs(t["offset_sd"]) <= fit["max_offset_sd"] for t in fit["targets"])


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    res = runner.invoke(app, ["demo", "--out", str(out), "--n", "3", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "ICC" in res.output and "in 95% interval" in res.output
    return out


@pytest.mark.slow
def test_demo_writes_everything(demo_out):
    for rel in ("report.html", "summary.csv", "results/predictions.csv",
                "results/module_demo/predictions.csv", "zips/truth.csv", "results/run.json"):
        assert (demo_out / rel).is_file(), rel
    summ = pd.read_csv(demo_out / "summary.csv")
    assert len(summ) == 10 and summ["n"].eq(3).all()
    assert summ["coverage95"].between(0, 1).all()
    assert len(list((demo_out / "images").glob("*.png"))) == 3
    # a second demo into the same folder needs --overwrite
    res = runner.invoke(app, ["demo", "--out", str(demo_out), "--n", "1"])
    assert res.exit_code == 2


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(demo_out, tmp_path):
    browser = _browser()
    if browser is None:
        if os.environ.get("MIMIR_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (MIMIR_REQUIRE_BROWSER is set)")
        pytest.skip("no chromium on this machine (CI installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw"]
    url = (demo_out / "report.html").resolve().as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True,
                         text=True, timeout=120).stdout
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m, dom[:500]
    assert int(m.group(2)) == 3 and m.group(1) == m.group(2)  # every image rendered
    assert '<table id="summary">' in dom and dom.count("<tr>") >= 11
    for name in pd.read_csv(demo_out / "results" / "predictions.csv")["name"]:
        assert name in dom
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", url],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
