"""The fuzz suite: 300 seed-driven mutations of phantom zips, each either cached with
the base subject's image, failed with a named kind, or (for the cohort's own
irregularities) cached with a warning; a worker's peak memory stays bounded.

``make fuzz`` runs 10,000 cases the same way (``python -m tests.fuzz.run``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mimir.errors import KINDS
from mimir.pipeline.batch import Record
from tests.fuzz.engine import BASES, FAMILIES, draw_case, judge, load_bases, make_case
from tests.fuzz.run import MEMORY_BOUND

ROOT = Path(__file__).resolve().parents[2]
CASES = 300


@pytest.fixture(scope="module")
def fuzz_summary(fuzz_bases, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fuzz") / "summary.json"
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--cases", str(CASES),
                           "--bases", str(fuzz_bases), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    summary["returncode"] = proc.returncode
    return summary


@pytest.mark.slow
def test_no_violations(fuzz_summary):
    s = fuzz_summary
    assert s["cases"] == CASES
    shown = "\n".join(f"seed {v['seed']} ({v['base']}, {v['detail']}): {v['violation']}"
                      for v in s["violations"][:20])
    assert not s["violations"], f"{len(s['violations'])} violations:\n{shown}"
    assert s["returncode"] == 0


@pytest.mark.slow
def test_failures_have_named_kinds(fuzz_summary):
    kinds = set(fuzz_summary["failed_by_kind"])
    assert kinds, "no case failed: the mutations are not reaching the checks"
    assert kinds <= set(KINDS) - {"internal error"}
    assert set(fuzz_summary["outcomes"]) <= {"equal", "announced", "failed"}


@pytest.mark.slow
def test_suite_reaches_both_ways_out_and_every_family(fuzz_summary):
    oc = fuzz_summary["outcomes"]
    assert oc.get("equal", 0) >= 10 and oc.get("failed", 0) >= 100
    assert set(fuzz_summary["by_family"]) == set(FAMILIES)
    assert set(fuzz_summary["by_base"]) == set(BASES)


@pytest.mark.slow
def test_peak_memory_bounded(fuzz_summary):
    assert 0 < fuzz_summary["peak_rss_bytes"] < MEMORY_BOUND


def test_cases_are_reproducible(fuzz_bases):
    bases = load_bases(fuzz_bases)
    for seed in (3, 17, 101):
        b1, m1 = make_case(seed, bases)
        b2, m2 = make_case(seed, bases)
        assert (b1.name, m1.family, m1.detail, m1.data) == (b2.name, m2.family, m2.detail,
                                                           m2.data)
        assert draw_case(seed) == (b1.name, m1.family)
        assert m1.data != b1.raw


def _record(status, kind="", member="", message="", warnings=()):
    return Record(name="x", path="x.zip", status=status, kind=kind, member=member,
                  message=message, warnings=list(warnings))


def test_judge_flags_what_it_must(fuzz_bases):
    base = load_bases(fuzz_bases)["mini"]
    other = base.image.copy()
    other[0, 0, 0] ^= 1
    assert judge(_record("done"), base.image, base, "header") == ("equal", "")
    # a different image is a violation unless a warning announces it and the family
    # makes an irregularity the procedure accepts
    assert judge(_record("done"), other, base, "header")[1]
    assert judge(_record("done", warnings=["w"]), other, base, "header")[1]
    assert judge(_record("done", warnings=["w"]), other, base, "drop_slice") == ("announced",
                                                                                  "")
    assert judge(_record("failed", "internal error", message="boom"), None, base,
                 "header")[1]
    assert judge(_record("failed", "corrupt dicom", "m.dcm", "member m.dcm: bad"), None, base,
                 "header") == ("failed", "")
    assert judge(_record("failed", "corrupt dicom", "m.dcm", "bad"), None, base, "header")[1]
    assert judge(_record("done"), base.image, base, "member_truncate")[1]


@pytest.mark.slow
def test_make_fuzz_script_writes_its_figures(fuzz_bases, tmp_path):
    """``make fuzz`` (benchmarks/fuzz.py) runs cases in two workers and replaces only the
    figures between the markers."""
    from tests.fuzz.run import END, START

    md = tmp_path / "reliability.md"
    md.write_text(f"# Reliability\n\n{START}\nold figures\n{END}\n\nafter\n")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--cases",
                           "6", "--first", "40", "--workers", "2", "--bases", str(fuzz_bases),
                           "--write", str(md), "--command", "make fuzz"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = md.read_text()
    assert "old figures" not in text and text.endswith("\n\nafter\n")
    assert "`make fuzz`; 6 cases (seeds 40 to 45), 2 worker processes" in text
    assert "| violations | 0 |" in text and "Peak resident memory of a worker" in text
    summary = json.loads(proc.stdout)
    assert summary["cases"] == 6 and summary["peak_rss_bytes"] > 0
