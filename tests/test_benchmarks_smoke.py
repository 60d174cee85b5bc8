"""``make bench`` keeps working: a quick run of the suite on 3 subjects writes a full report."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_run_writes_every_section(tmp_path):
    out = tmp_path / "bench.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                    "--subjects", "3", "--write", str(out)], check=True,
                   capture_output=True, text=True, timeout=900)
    text = out.read_text()
    for heading in ("## Phantom generation", "## Preprocessing one subject",
                    "## Preprocessing throughput", "## CPU inference", "## End to end",
                    "## The whole `infer` process"):
        assert heading in text
    res = json.loads(out.with_suffix(".json").read_text())
    assert [t["workers"] for t in res["throughput"]] == [1, 2]
    for t in res["throughput"]:  # the rate after start-up, from when each record arrived
        assert t["steady_runs"] and all(v is not None and v > 0 for v in t["steady_runs"])
    assert "| workers | subjects | subjects/s (median) | each round | after start-up" in text
    assert [e["modules"] for e in res["end_to_end"]] == [1, 4]
    assert all(e["subjects"] == 3 and e["subjects_per_s"] > 0 for e in res["end_to_end"])
    # the fp32 path agrees with eager torchvision to float rounding
    assert res["inference"]["max_rel_diff"] < 1e-4
    rows = re.findall(r"^\| [14] \| 2 \| 8 \| 3 \| ([0-9.]+) \|", text, flags=re.M)
    assert len(rows) == 2 and all(float(r) > 0 for r in rows)
    # one worker against the decode floor, on a named CPU
    pre = res["preprocess"]
    assert pre["cpu"] and pre["cpu"] != "unknown" and f"CPU: {pre['cpu']}" in text
    assert pre["cpu"] == res["machine"]["cpu"] and res["machine"]["cpu"] in text
    assert len(pre["per_subject"]) == 2 and pre["reps"] == 2
    for r in pre["per_subject"]:
        assert r["floor_s"] > 0 and r["mimir_s"] > 0 and r["ratio"] == r["mimir_s"] / r["floor_s"]
        assert 0 < r["inflate_s"] < r["floor_s"]  # inflating alone is less than decoding
        assert r["inflate_ratio"] == r["mimir_s"] / r["inflate_s"]
        assert r["floor_cpu_s"] > 0 and r["mimir_cpu_s"] > 0 and r["numpy_s"] > 0
    # the compiled kernels against numpy alone, in the same turns
    assert pre["arithmetic"] == "compiled kernels"
    assert "mimir's element-wise arithmetic: compiled kernels" in text
    s = pre["summary"]
    assert f"numpy only: {s['numpy_s']:.3f} s" in text
    assert f"{s['mimir_s']:.3f} s per subject against a decode floor of {s['floor_s']:.3f} s" \
        in text
    assert f"against the inflate-only floor of {s['inflate_s']:.3f} s" in text
    assert pre["inflate"] == "libdeflate" and "fastest inflate (libdeflate" in text
    assert "ratio to the decode floor (goal <= 0.8)" in text
    # inference: the fused engine, a batch-size sweep, and the whole process
    # (the quick run sweeps 8 images: 2, 4 and 8 per forward pass)
    assert res["inference"]["fused"] and list(res["inference"]["sweep_ips"]) == ["2", "4", "8"]
    assert "The fp32 engine on 8 images, that many at a time" in text
    proc = res["process"]
    assert proc["images"] == 12 and proc["eager_s"] > 0 and proc["mimir_s"] > 0
    assert f"Speed-up of the whole process: {proc['speedup']:.2f}x" in text
    assert proc["speedup"] == proc["eager_s"] / proc["mimir_s"]      # one round: its ratio
    # the worker's own peak, not the benchmark process's memory at the fork
    assert 100 < res["worker_peak_mib"] < 1536


@pytest.mark.slow
def test_bf16_training_benchmark_writes_its_page(tmp_path):
    """``benchmarks/bf16_training.py --quick``: both precisions train from the same start
    (their first losses agree closely) and the page names the machine and both runs."""
    out = tmp_path / "bf16.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bf16_training.py"), "--quick",
                    "--write", str(out)], check=True, capture_output=True, text=True,
                   timeout=600)
    res = json.loads(out.with_suffix(".json").read_text())
    a, b = res["fp32"]["loss"], res["bf16"]["loss"]
    assert len(a) == len(b) == res["iterations"]
    assert a != b                              # bf16 autocast did change the numbers
    assert abs(a[0] - b[0]) < 0.05 * abs(a[0])  # ... of the same network on the same batch
    text = out.read_text()
    assert "| iterations/s" in text and "Machine: " in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_ensemble_and_explain_cost_benchmark_runs(tmp_path):
    """``benchmarks/ensemble_explain.py --quick`` measures both costs and writes the tables
    into the pages' marked blocks."""
    pages = {}
    for name in ("ens.md", "exp.md"):
        pages[name] = tmp_path / name
        pages[name].write_text("before\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ensemble_explain.py"),
                    "--quick", "--write-ensembles", str(pages["ens.md"]), "--write-explain",
                    str(pages["exp.md"]), "--json", str(tmp_path / "r.json")], check=True,
                   capture_output=True, text=True, timeout=900)
    res = json.loads((tmp_path / "r.json").read_text())
    assert [r["members"] for r in res["ensembles"]] == [1, 2]
    assert all(r["s_per_image"] > 0 and r["per_member"] > 0 for r in res["ensembles"])
    two = res["ensembles"][1]
    assert two["weights_mib"] > 1.9 * res["ensembles"][0]["weights_mib"]
    assert res["explain"][0]["passes"] > 1  # a backward pass costs more than nothing
    for page in pages.values():
        text = page.read_text()
        assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
        assert "| resnet18 |" in text
