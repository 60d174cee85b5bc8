"""``benchmarks/gpu.py`` runs from ``src`` and writes its report (CPU smoke check)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_benchmark_quick_cpu_run_writes_every_section(tmp_path):
    out = tmp_path / "gpu.md"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device",
                           "cpu", "--quick", "--out", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("# GPU benchmarks", "## End to end (`mimir infer`)",
                    "## Inference of one ResNet50 module", "## Training"):
        assert heading in text
    assert "Quick run" in text and "Device: cpu" in text
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["infer"]["subjects"] == 2 and res["infer"]["subjects_per_s"] > 0
    rows = {r["path"]: r for r in res["gpu_inference"]["rows"]}
    assert len(rows) == 5 and all(r["images_per_s"] > 0 for r in rows.values())
    eager = rows["eager torchvision ResNet50, fp32 (TF32 off)"]
    assert eager["max_rel_diff_cpu_fp32"] == 0 and eager["speedup"] == 1
    assert rows["mimir engine fp32"]["max_rel_diff_cpu_fp32"] < 1e-4
    # bf16 changes the numbers, a little
    assert 0 < rows["mimir engine bf16 (--precision bf16)"]["max_rel_diff_cpu_fp32"] < 0.05
    assert res["mimir_train"]["iterations_per_s"] > 0
    assert res["plain_train"]["iterations_per_s"] > 0
