"""The report's inline SVG histograms: ticks, bars that are the counts, well-formed SVG."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mimir.report.charts import (
    Frame,
    bin_count,
    change_svg,
    nice_ticks,
    plot_range,
    step_path,
    target_svg,
    tick_text,
)
from tests.imports import loads_module


@settings(max_examples=300, deadline=None)
@given(lo=st.floats(-1e6, 1e6), span=st.floats(1e-3, 1e6), most=st.integers(3, 8),
       integer=st.booleans())
def test_ticks_are_round_equally_spaced_and_inside(lo, span, most, integer):
    hi = lo + span
    t = nice_ticks(lo, hi, most, integer)
    no_whole_number = integer and math.floor(hi) < math.ceil(lo)
    assert len(t) <= most and (len(t) >= 1 or no_whole_number)
    tol = 1e-9 * max(1.0, abs(lo), abs(hi))
    assert len(t) == 0 or (t[0] >= lo - tol and t[-1] <= hi + tol)
    if len(t) > 1:
        step = (t[-1] - t[0]) / (len(t) - 1)
        assert np.allclose(np.diff(t), step)
        mantissa = step / 10 ** math.floor(math.log10(step))
        # (the tolerance covers a small step far from 0, read back from float ticks)
        assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-4
        if integer:
            assert np.array_equal(t, np.round(t)) and step >= 1


def test_tick_text_has_the_decimals_of_its_step():
    assert [tick_text(v, 0.25) for v in (0.0, 0.25, -0.5)] == ["0", "0.25", "\u22120.50"]
    assert tick_text(12000.0, 2000.0) == "12,000" and tick_text(2.5, 2.5) == "2.5"
    assert tick_text(0.2, 0.2) == "0.2" and tick_text(25.0, 25.0) == "25"


def test_step_path_traces_the_bars():
    f = Frame(0.0, 0.0, 30.0, 10.0, 0.0, 3.0, 0.0, 10.0)   # 10 px per x unit, y up
    d = step_path(f, np.array([0.0, 1.0, 2.0, 3.0]), np.array([2, 5, 0]))
    assert d.startswith("M0,10V8H10V5H20V10H30V10")
    stacked = step_path(f, np.array([0.0, 1.0, 2.0]), np.array([4, 6]), np.array([1, 3]))
    assert stacked == "M0,9V6H10V4H20V7H10V9H0V9Z"


def _root(svg: str) -> ET.Element:
    return ET.fromstring(svg)              # well-formed XML, or this raises (inline SVG in
    # HTML needs no namespace, and the page names no URL)


def test_target_svg_draws_each_group_with_its_counts():
    rng = np.random.default_rng(1)
    n = 2000
    groups = np.where(np.arange(n) % 2 == 0, "female", "male").astype(object)
    groups[:10] = ""
    x = np.where(groups == "female", rng.normal(2, 0.5, n), rng.normal(4, 0.5, n))
    x[11] = 1e6                                      # far beyond: counted at the end
    sd = np.abs(rng.normal(0.5, 0.1, n))
    svg = target_svg(x, sd, groups, "VAT <&> (L)", "L", (1.0, 5.0), 0.025, 10, uid="7")
    root = _root(svg)
    assert root.get("class") == "plot" and root.get("role") == "img"
    text = " ".join(t.text or "" for t in root.iter("text"))
    female, male = int((groups == "female").sum()), int((groups == "male").sum())
    assert f"female (n = {female:,})" in text and f"male (n = {male:,})" in text
    assert "unknown (n = 10)" in text and "VAT <&> (L)" in text and "&lt;&amp;&gt;" in svg
    lo, hi = plot_range(x, (1.0, 5.0))
    beyond = int(((x < lo) | (x > hi)).sum())
    assert 1 <= beyond <= 3 and f"{beyond} beyond the axis, counted at its ends" in text
    assert "flagged uncertain: 2.5% (10)" in text and "predicted sd (L)" in text
    # the hatch pattern is named by uid, once; both bounds drawn as dotted lines
    assert svg.count("id='h-7-female'") == 1 and "url(#h-7-female)" in svg
    assert len(re.findall(r"<line [^>]*stroke-dasharray='1 2'", svg)) == 2
    # bar heights are the histogram counts: the tallest bar of the female group is
    # its largest count, read back through the y axis
    paths = root.findall("path")
    assert len(paths) == 4                           # 3 groups + the sd histogram
    ticks = [(float(t.get("y")), t.text) for t in root.iter("text")
             if t.get("text-anchor") == "end" and t.text and t.text.replace(",", "").isdigit()
             and float(t.get("x")) < 60]
    (y_a, v_a), (y_b, v_b) = ticks[0], ticks[-1]
    px_per = (y_a - y_b) / (int(v_b.replace(",", "")) - int(v_a.replace(",", "")))
    box = root.find("rect[@stroke='#222']")    # the left panel's frame
    base = float(box.get("y")) + float(box.get("height"))      # count 0
    ok = np.isfinite(x)
    edges = np.linspace(lo, hi, bin_count(int(ok.sum())) + 1)
    want = np.histogram(np.clip(x[groups == "female"], lo, hi), bins=edges)[0]
    tops = [float(v) for v in re.findall(r"V([0-9.]+)H", paths[0].get("d"))]
    got = (base - np.array(tops[:len(want)])) / px_per
    assert np.allclose(got, want, atol=0.2) and want.max() > 20


def test_target_svg_without_predictions_and_without_groups():
    svg = target_svg(np.full(3, np.nan), np.full(3, np.nan), None, "age (years)", "years")
    root = _root(svg)
    assert "no predictions" in svg and "no uncertainty flags" in svg
    assert not root.findall("path")
    one = target_svg(np.arange(20.0), np.ones(20), None, "age", "years", uid="a")
    assert "all (n = 20)" in one and "<pattern" not in one
    _root(one)


def test_change_svg_stacks_changes_beyond_on_those_within():
    x = np.array([-1.0, -0.2, 0.0, 0.1, 0.3, 2.0, 2.1])
    flags = np.array([False, False, False, False, False, True, True])
    svg = change_svg(x, flags, "L")
    root = _root(svg)
    paths = root.findall("path")
    assert len(paths) == 2 and paths[1].get("fill") == "#b2431b"
    assert "beyond the interval" in svg and "change (second - first visit), L" in svg
    assert len(re.findall(r"stroke-dasharray='1 2'", svg)) == 1     # no change at 0
    assert "<path" not in change_svg(np.array([]), np.array([], bool), "kg")


def test_building_a_report_never_imports_matplotlib():
    code = ("import numpy as np\n"
            "from mimir.report.charts import target_svg, change_svg\n"
            "import mimir.report.build, mimir.report.followup\n"
            "target_svg(np.arange(9.0), np.ones(9), None, 'a', 'kg')\n"
            "change_svg(np.arange(9.0), np.zeros(9, bool), 'kg')")
    assert not loads_module(code, "matplotlib")


finite_or_not = st.one_of(st.floats(-1e9, 1e9), st.just(float("nan")), st.just(float("inf")),
                          st.just(float("-inf")))


@settings(max_examples=150, deadline=None)
@given(x=st.lists(finite_or_not, max_size=40), sd=st.lists(finite_or_not, max_size=40),
       split=st.booleans())
def test_any_values_give_a_well_formed_figure_without_nan_coordinates(x, sd, split):
    n = min(len(x), len(sd))
    xs, sds = np.array(x[:n], dtype=float), np.array(sd[:n], dtype=float)
    groups = np.array(["female", "male", ""] * n, dtype=object)[:n] if split else None
    svg = target_svg(xs, sds, groups, "a (kg)", "kg", (-1.0, 1.0), 0.5, 1)
    root = _root(svg)
    for el in root.iter():
        for attr in ("d", "x", "y", "x1", "x2", "y1", "y2", "width", "height"):
            v = el.get(attr)
            assert v is None or ("nan" not in v.lower() and "inf" not in v.lower()), (attr, v)
    ok = np.isfinite(xs)
    _root(change_svg(xs[ok], np.arange(int(ok.sum())) % 2 == 0, "kg"))
