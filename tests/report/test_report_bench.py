"""``make bench``'s report benchmark keeps working (a small synthetic folder)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_report_benchmark_writes_its_page(tmp_path):
    out = tmp_path / "bench.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report_bench.py"), "--n",
                    "1500", "--cached", "40", "--rounds", "1", "--write", str(out)],
                   check=True, capture_output=True, text=True, timeout=900)
    text = out.read_text()
    assert "# Cohort report benchmark" in text and "lscpu model name" in text
    assert re.search(r"wall time, fresh process \(s, each round\) \| [0-9.]+ ", text)
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["made"]["subjects"] == 1500 and res["made"]["cached"] == 40
    assert 0 < res["size_bytes"] < 10e6 and res["build_s"][0] > 0
    assert 0 < res["images"] <= 40          # only cached subjects get a thumbnail
    assert res["plots"] == 20
