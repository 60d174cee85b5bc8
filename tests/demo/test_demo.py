"""``mimir demo`` end to end with the shipped module; the report renders in Chromium."""

from __future__ import annotations

import json
import re
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
    res = runner.invoke(app, ["demo", "--out", str(out), "--n", "3", "--seed", "5",
                              "--repeat", "1"])
    assert res.exit_code == 0, res.output
    assert "ICC" in res.output and "in 95% interval" in res.output
    return out


@pytest.mark.slow
def test_demo_writes_everything(demo_out):
    for rel in ("report.html", "summary.csv", "results/predictions.csv",
                "results/module_demo/predictions.csv", "zips/truth.csv", "results/run.json"):
        assert (demo_out / rel).is_file(), rel
    summ = pd.read_csv(demo_out / "summary.csv")
    assert len(summ) == 10 and summ["n"].eq(4).all()  # 3 subjects, one seen twice
    assert summ["coverage95"].between(0, 1).all()
    assert len(list((demo_out / "images").glob("*.png"))) == 4
    changes = pd.read_csv(demo_out / "results" / "changes.csv")
    assert len(changes) == 1 and changes["instance_second"].eq(3).all()
    # a second demo into the same folder needs --overwrite
    res = runner.invoke(app, ["demo", "--out", str(demo_out), "--n", "1"])
    assert res.exit_code == 2


@pytest.mark.slow
def test_demo_report_is_the_cohort_report_with_truth(demo_out):
    text = (demo_out / "report.html").read_text(encoding="utf-8")
    heads = re.findall(r"<h2>([^<]+)</h2>", text)
    assert heads == ["Targets", "Truth comparison", "Distributions", "Outliers",
                     "Quality control", "Failures", "Follow-up change", "Subjects", "Run",
                     "How to cite"]
    assert not re.search(r"https?://", text)
    assert "images/" not in text                       # every picture is inline
    # one prediction-against-truth plot per target, then one figure per target
    truth = text.split("<h2>Truth comparison</h2>")[1].split("<h2>")[0]
    assert truth.count("<img class='plot'") == 10
    targets = text.split("<h2>Distributions</h2>")[1].split("<h2>")[0]
    assert targets.count("<svg class='plot'") == 10
    assert "split by sex predicted by module_demo" in targets
    # the module's own cross-validation figures (module.json) beside each target
    summary = text.split("<h2>Targets</h2>")[1].split("<h2>")[0]
    rows = summary.split("id='targets-table'>")[1].split("</table>")[0].split("<tr>")[2:]
    assert len(rows) == 10 and "own ICC" in summary
    vat = re.findall(r"<td[^>]*>([^<]*)</td>", rows[0])
    assert vat[0] == "VAT" and "0.996" in vat   # module.json: VAT icc 0.99604


def test_channel_figure_title_clears_the_channel_labels():
    """The subject name sits above the "fat" label, not on top of it."""
    import numpy as np

    from mimir.projection.render import channels_figure

    fig = channels_figure(np.zeros((3, 256, 256), dtype=np.uint8), "1234567_20201_2_0")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(r)
    for ax in fig.axes:
        label = ax.title.get_window_extent(r)
        # a clear gap (the old tight layout left the two boxes touching: 0.1 px)
        assert title.y0 - label.y1 >= 3, (ax.title.get_text(), title, label)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(demo_out, tmp_path):
    from tests.browser import load_page, screenshot

    page = demo_out / "report.html"
    browser, dom = load_page(page, tmp_path / "profile")
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m, dom[:500]
    # 10 truth plots and 4 subject images (one seen twice) loaded; 10 target figures and
    # 10 histograms of changes (inline SVG) drawn
    assert int(m.group(2)) == 14 and m.group(1) == m.group(2)
    assert re.search(r'data-plots-drawn="20/20"', dom), dom[:500]
    assert '<table id="summary">' in dom and dom.count("<tr>") >= 11
    for name in pd.read_csv(demo_out / "results" / "predictions.csv")["name"]:
        assert name in dom
    shot = screenshot(browser, page, tmp_path / "report.png", tmp_path / "profile2",
                      size="1200,2000")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
