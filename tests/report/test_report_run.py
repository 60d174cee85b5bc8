"""``report.html`` of real ``infer`` runs: written by infer, rebuilt by ``mimir report``,
merged shards, covariates, self-contained, and rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mimir
import mimir.api
from mimir.cli import app
from tests.browser import MIN_WINDOW, framed, load_page, screenshot
from tests.inputs import listed
from tests.modules.module_factory import write_module

runner = CliRunner()
HEADINGS = ("Targets", "Distributions", "Outliers", "Quality control", "Failures", "Run",
            "How to cite")
SWAP = dict(swap=3)


@pytest.fixture(scope="module")
def module_sex(tmp_path_factory) -> Path:
    """A small module predicting a volume, age and sex ("(male = 1)")."""
    return write_module(tmp_path_factory.mktemp("mods") / "module_small",
                        targets=[("VAT", "22407", "L", 1.0), ("age", "21003", "years", 1.0),
                                 ("sex", "31", "(male = 1)", 1.0)],
                        stand=[(3.5, 1.2), (62.0, 7.5), (0.5, 0.5)], calib=[1.0, 1.0, 1.0],
                        backbone="resnet18")


@pytest.fixture(scope="module")
def run_out(tmp_path_factory, phantom_dir, make_phantoms, module_sex) -> Path:
    """A real run through the command line: 3 clean phantoms, one with water and fat
    swapped in station 3 (QC flag), and one missing zip (a failure)."""
    tmp = tmp_path_factory.mktemp("run")
    swap = make_phantoms(1, seed=30, **SWAP)
    missing = listed(tmp / "9999999_20201_2_0.zip")  # an absent zip, in a list file
    res = runner.invoke(app, ["infer", str(phantom_dir), str(swap), str(missing), "--cache",
                              str(tmp / "cache"), "-m", str(module_sex), "-o",
                              str(tmp / "out"), "-b", "2", "--device", "cpu"])
    assert res.exit_code == 1, res.output      # one subject failed; everything written
    assert "report: " in res.output
    return tmp / "out"


def _flat(output: str) -> str:
    """Command output with the console's line wrapping undone."""
    return " ".join(output.split())


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_infer_writes_the_report_with_every_section(run_out):
    page = run_out / "report.html"
    text = _text(page)
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in text
    run = json.loads((run_out / "run.json").read_text())
    assert run["modules"][0]["snapshot_sha256"] in text
    assert run["command"].split()[0] in text
    counts = dict(re.findall(r"<tr><td>([A-Za-z ()_]+)</td><td class='n'>([0-9,]+)</td></tr>",
                             text.split("id='counts'")[1].split("</table>")[0]))
    assert counts["subjects"] == "5" and counts["predicted"] == "4"
    assert counts["failed"] == "1" and counts["excluded"] == "0"
    assert counts["QC failed (qc_pass false)"] == "1"
    # one figure per target, the flagged subject's thumbnail with station outlines
    assert text.count("<svg class='plot'") == 3
    assert "<h3 id='flag-fat_water_swap'>fat_water_swap (fail): 1</h3>" in text
    assert "<svg class='ovl'" in text and "class='hl'" in text
    # split by the sex the module predicts; the missing zip grouped under its kind
    assert "split by sex predicted by module_small" in text
    assert "<h3>missing file: 1</h3>" in text and "9999999_20201_2_0" in text
    # the page opens with the targets: counts with the QC failure in the headline, and
    # beside each target the published figures of the one it matches (field 22407)
    assert text.index("<h2>Targets</h2>") < text.index("<h2>Distributions</h2>") \
        < text.index("<h2>Run</h2>") < text.index("<h2>How to cite</h2>")
    assert "<span id='headline'>5 subjects, 4 predicted, 1 failed, 1 failed QC, 0 " \
           "excluded</span>" in text
    from mimir.modules.catalogue import match

    rows = text.split("id='targets-table'>")[1].split("</table>")[0].split("<tr>")[2:]
    vat = re.findall(r"<td[^>]*>([^<]*)</td>", rows[0])
    pub = match("VAT", "22407")
    assert vat[:4] == ["VAT", "module_small", "L", "22407"]
    assert vat[-3:] == [f"{pub.icc:.3g}", f"{pub.mae:.3g}", "AtlasVatVolume"]
    assert vat[-5:-3] == ["-", "-"]                   # no module.json: no own figures
    assert "arXiv:2106.11731" in text                  # what to cite
    assert "<details id='run-details'>" in text        # run metadata collapsed, at the end


def test_report_is_self_contained(run_out):
    text = _text(run_out / "report.html")
    assert not re.search(r"https?://", text)
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", text)
    refs += re.findall(r"url\(([^)]*)\)", text)
    assert refs, "expected inline images"
    assert all(r.startswith(("data:", "#")) for r in refs), [r[:40] for r in refs
                                                             if not r.startswith("data:")]
    assert "<link" not in text and "@import" not in text


def test_cache_sidecars_place_the_stations(run_out):
    """station_slices: stations in order, overlaps as trimmed (at most 8 slices), the
    first and last reaching past the dropped end slices."""
    state = json.loads((run_out / ".mimir" / "state.json").read_text())
    for side in Path(state["cache"]).glob("*.json"):
        facts = json.loads(side.read_text())["facts"]
        sl, z = facts["station_slices"], facts["shape"][2]
        assert len(sl) == facts["water_stations"] == 6
        assert sl[0][0] == -4 and sl[-1][1] == z + 4
        kept = [min(o, 8) for o in facts["overlaps"]]
        assert [a[1] - b[0] for a, b in zip(sl, sl[1:], strict=False)] == kept


@pytest.mark.slow
def test_report_renders_in_headless_chromium(run_out, tmp_path):
    page = run_out / "report.html"
    browser, dom = load_page(page, tmp_path / "p1")
    m = re.search(r'data-errors="([^"]*)"', dom)
    assert m and m.group(1) == "", dom[:300]          # the load handler ran, no errors
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m and m.group(1) == m.group(2)            # (thumbnails are CSS backgrounds)
    assert 'data-plots-drawn="3/3"' in dom           # one histogram figure per target
    headings = re.findall(r"<h2>([^<]+)</h2>", dom)
    assert headings == list(HEADINGS)
    shot = screenshot(browser, page, tmp_path / "shot.png", tmp_path / "p2")
    img = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape == (3000, 1280)
    assert (img < 200).mean() > 0.02 and img.std() > 20   # text, plots and images drawn


#: Browser windows the report must fit: a desktop and a phone (width, first screen).
WINDOWS = {"desktop": (1280, 800), "phone": (420, 800)}


@pytest.mark.slow
@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_report_fits_desktop_and_phone_width_targets_first(run_out, tmp_path, window):
    """At 1280 and 420 px the page never scrolls sideways (wide tables scroll inside
    their own box), and the targets table starts within the first screen."""
    w, h = WINDOWS[window]
    page = run_out / "report.html"
    if w < MIN_WINDOW:  # below headless Chromium's narrowest window: in a frame that wide
        page = framed(page, w, h, tmp_path / "framed.html")
    browser, dom = load_page(page, tmp_path / "p1", size=f"{max(w, MIN_WINDOW)},{h}")
    vw, vh = map(int, re.search(r'data-viewport="(\d+)x(\d+)"', dom).groups())
    assert vw == w and vh >= 600     # the window, less any browser frame
    overflow = int(re.search(r'data-overflow="(-?\d+)"', dom).group(1))
    assert overflow <= 0, f"the page is {overflow} px wider than a {w} px window"
    top = int(re.search(r'data-targets-top="(-?\d+)"', dom).group(1))
    assert 0 < top < vh * 0.6, f"the targets start at {top} px of a {vh} px screen"
    # the wide targets table sits in its scroll box; the run details are collapsed
    text = _text(run_out / "report.html")
    assert "<div class='tw'><table id='targets-table'>" in text
    assert "<details id='run-details'>" in text
    shot = screenshot(browser, page, tmp_path / "shot.png", tmp_path / "p2",
                      size=f"{max(w, MIN_WINDOW)},{h}")
    img = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)[:, :w]
    assert img.shape == (h, w) and img.std() > 20     # the first screen is drawn
    if os.environ.get("MIMIR_SCREENSHOTS"):  # refresh the pictures in docs/
        cv2.imwrite(str(Path(os.environ["MIMIR_SCREENSHOTS"]) / f"report-{window}.png"),
                    cv2.imread(str(shot))[:, :w])


def test_no_report_then_mimir_report_rebuilds(phantom_dir, module_sex, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["infer", str(phantom_dir), "--cache", str(tmp_path / "c"),
                              "-m", str(module_sex), "-o", str(out), "--device", "cpu",
                              "--no-report"])
    assert res.exit_code == 0, res.output
    assert (out / "predictions.csv").is_file() and not (out / "report.html").exists()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    first = _text(out / "report.html")
    assert "<h2>Targets</h2>" in first
    (out / "report.html").write_text("stale")
    assert mimir.api.report(out) == out / "report.html"          # replaced, not refused
    assert "<h2>Targets</h2>" in _text(out / "report.html")
    assert not list(out.glob(".report.html.*"))                   # no temporary left
    s = mimir.infer([], tmp_path / "c", [module_sex], tmp_path / "out2", 4, device="cpu",
                    report=False)
    assert s.report is None and not (tmp_path / "out2" / "report.html").exists()


def test_report_error_keeps_the_results(phantom_dir, module_sex, tmp_path, monkeypatch):
    import mimir.report.build as build

    def broken(*a, **k):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(build, "build_page", broken)
    out = tmp_path / "out"
    res = runner.invoke(app, ["infer", str(phantom_dir), "--cache", str(tmp_path / "c"),
                              "-m", str(module_sex), "-o", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    msg = _flat(res.output)
    assert "report.html not written" in msg and "plotting failed" in msg
    assert f"mimir report {out}" in msg
    assert len(pd.read_csv(out / "predictions.csv")) == 3
    assert json.loads((out / "run.json").read_text())["complete"]
    assert not (out / "report.html").exists()
    monkeypatch.undo()
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert (out / "report.html").is_file()


def test_report_of_merged_shards(phantom_dir, module_sex, tmp_path):
    out = tmp_path / "out"
    for i in (1, 2):
        res = runner.invoke(app, ["infer", str(phantom_dir), "--cache", str(tmp_path / "c"),
                                  "-m", str(module_sex), "-o", str(out), "-b", "1",
                                  "--device", "cpu", "--shard", f"{i}/2"])
        assert res.exit_code == 0, res.output
        assert (out / "shards" / f"{i}-of-2" / "report.html").is_file()
    res = runner.invoke(app, ["merge", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    assert not (out / "report.html").exists()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    text = _text(out / "report.html")
    assert "merged shards" in text and "2 shard runs (merged.json)" in text
    assert re.search(r"<td>subjects</td><td class='n'>3</td>", text)
    assert re.search(r"<td>1/2</td>.*<td>2/2</td>", text)
    # the cache named by the shards' state: thumbnails need a flag, none here, but the
    # QC table counts all three subjects
    assert "<table id='qc-counts'>" in text and "<h2>Failures</h2>" in text
    # merge writes the report itself unless told not to
    res = runner.invoke(app, ["merge", str(out), "--overwrite"])
    assert res.exit_code == 0 and "report: " in res.output


def test_covariates_split_by_recorded_sex(run_out, tmp_path):
    names = pd.read_csv(run_out / "predictions.csv", dtype={"name": str})["name"]
    eids = [n.split("_")[0] for n in names]
    cov = tmp_path / "covariates.csv"
    # UK Biobank coding: 0 female, 1 male; the last subject has no recorded sex
    cov.write_text("eid,sex,age\n" + "".join(f"{e},{i % 2},60\n"
                                              for i, e in enumerate(eids[:-1])))
    page = tmp_path / "cov.html"
    from mimir.report import build_report

    build_report(run_out, covariates=cov, dest=page)
    text = _text(page)
    want_f = sum(1 for i in range(len(eids) - 1) if i % 2 == 0)
    want_m = len(eids) - 1 - want_f
    assert "split by recorded sex from covariates.csv" in text
    assert (f"<span id='sex-counts'>female {want_f}, male {want_m}, unknown 1</span>"
            in text)
    # the CLI takes the same file
    res = runner.invoke(app, ["report", str(run_out), "--covariates", str(cov)])
    assert res.exit_code == 0, res.output
    assert "recorded sex from covariates.csv" in _text(run_out / "report.html")
    res = runner.invoke(app, ["report", str(run_out), "--covariates",
                              str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "does not exist" in _flat(res.output)


def test_mimir_report_refuses_a_folder_without_results(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "no predictions.csv" in _flat(res.output)


@pytest.mark.slow
def test_synthetic_cohort_outliers_and_thumbnail_budget(tmp_path):
    """A synthetic output folder (the benchmark's, 3,000 subjects): outliers found and
    shown with thumbnails, capped per target; QC thumbnails capped at 12 per flag."""
    from benchmarks.report_bench import make_output

    from mimir.report import build_report
    from mimir.report.build import OUTLIERS_SHOWN, QC_SHOWN
    from mimir.report.page import fmt

    made = make_output(tmp_path / "out", n=3000, cached=120, work=tmp_path / "ph")
    page = build_report(tmp_path / "out")
    text = _text(page)
    table = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    from mimir.report.stats import find_outliers

    found = {}
    for c in table.columns:
        m = re.match(r"(.+)_mean_in_(.+)$", c)
        if m and not m.group(2).startswith("("):
            found[f"{m.group(1)} ({m.group(2)})"] = len(find_outliers(table[c])[0])
    label, n_out = max(found.items(), key=lambda kv: kv[1])
    per = int(re.search(r"at most (\d+) per target are shown", text).group(1))
    assert 1 <= per <= OUTLIERS_SHOWN and n_out > per
    section = text.split(f"<h3>{label}: {fmt(n_out)} beyond 4 z")[1].split("<h3>")[0]
    assert section.count("<figure class='th'") == per
    assert f"... and {fmt(n_out - per)} more" in section
    quiet = [k for k, v in found.items() if v == 0]
    assert all(f"<h3>{k}:" not in text for k in quiet)
    knee = text.split("<h3 id='flag-knee_not_covered'>")[1].split("<h3")[0]
    assert knee.count("<figure class='th'") == QC_SHOWN
    # no subject list: the page is far smaller than the tables
    assert page.stat().st_size < 4e6 and made["subjects"] == 3000
    assert np.isfinite(table["VAT_mean_in_L"]).sum() == made["rows"] == len(table)
