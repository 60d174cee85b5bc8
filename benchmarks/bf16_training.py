"""Training with ``--precision bf16`` against fp32: loss curves and speed.

Trains the same network twice on the same phantom images (same seed, same batches, same
augmentation), once in fp32 and once with bfloat16 autocast, then writes a Markdown page
with the machine, the command, iterations/s, the running loss of both along the way, and
a PNG of the two loss curves. On a CPU this measures the CPU's autocast (fast only where
the CPU has bfloat16 instructions); ``--device cuda`` measures a GPU's.

    python benchmarks/bf16_training.py --write docs/training-bf16.md

(``--quick``: a tiny run, a check that the script works.)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

TARGETS = ["weight_kg", "vat_volume_L", "liver_fat_pct", "age_years"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(work: Path, subjects: int, iterations: int, batch: int, backbone: str,
        device: str) -> dict:
    import torch

    import mimir.api
    from mimir.phantom.cohort import generate_fast_cohort

    cache = work / "cache"
    truth = generate_fast_cohort(cache, subjects, seed=11, workers=2)
    table = pd.read_csv(truth)[["name", *TARGETS]]
    targets = work / "targets.csv"
    table.to_csv(targets, index=False)
    res: dict = {"subjects": subjects, "iterations": iterations, "batch": batch,
                 "backbone": backbone, "device": device, "torch": torch.__version__}
    for precision in ("fp32", "bf16"):
        out = work / precision
        t0 = time.perf_counter()
        mimir.api.train(cache, targets, out, columns=",".join(TARGETS), backbone=backbone,
                        iterations=iterations, batch_size=batch, snapshot_every=iterations,
                        seed=0, device=device, init="random", precision=precision,
                        log=lambda _m: None)
        wall = time.perf_counter() - t0
        log = pd.read_csv(out / "log.csv")
        res[precision] = {"wall_s": wall, "iteration": log["iteration"].tolist(),
                          "loss": log["loss"].tolist(), "seconds": log["seconds"].tolist()}
    return res


def windows(res: dict, n: int = 5) -> list[tuple[int, int, float, float]]:
    """(first, last iteration, mean fp32 loss, mean bf16 loss) over ``n`` equal windows."""
    it = np.asarray(res["fp32"]["iteration"])
    a = np.asarray(res["fp32"]["loss"], dtype=np.float64)
    b = np.asarray(res["bf16"]["loss"], dtype=np.float64)
    out = []
    for idx in np.array_split(np.arange(len(it)), n):
        if len(idx):
            out.append((int(it[idx[0]]), int(it[idx[-1]]), float(a[idx].mean()),
                        float(b[idx].mean())))
    return out


def rate(r: dict) -> float:
    """Iterations per second over the run's second half (start-up excluded)."""
    it, sec = np.asarray(r["iteration"]), np.asarray(r["seconds"], dtype=np.float64)
    h = len(it) // 2
    return float((it[-1] - it[h]) / max(sec[-1] - sec[h], 1e-9))


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    for p, style in (("fp32", "-"), ("bf16", "--")):
        ax.plot(res[p]["iteration"], res[p]["loss"], style, lw=1.2, label=p)
    ax.set_xlabel("iteration")
    ax.set_ylabel("running loss (Gaussian NLL)")
    ax.set_title(f"{res['backbone']}, batch {res['batch']}, {res['subjects']} phantom "
                 f"subjects, {res['device']}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(res: dict, command: str, png: str) -> str:
    rows = windows(res)
    lines = [
        "# Training in bf16 against fp32", "",
        f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}` "
        "(written by the script; numbers from that run).", "",
        f"Machine: {cpu_model()}, device `{res['device']}`; torch {res['torch']}.", "",
        f"The same {res['backbone']} trained twice from the same random start (`--init "
        f"random`) on {res['subjects']} phantom subjects' images, batch {res['batch']}, "
        f"{res['iterations']} iterations, targets {', '.join(TARGETS)}: once with "
        "`--precision fp32` and once with `--precision bf16` (bfloat16 autocast); same "
        "seed, so the same batches and translations.", "",
        "| | fp32 | bf16 |", "|---|---|---|",
        f"| iterations/s (second half of the run) | {rate(res['fp32']):.2f} | "
        f"{rate(res['bf16']):.2f} |",
        f"| wall time of `train` (s) | {res['fp32']['wall_s']:.0f} | "
        f"{res['bf16']['wall_s']:.0f} |", "",
        "Running loss, mean over windows of the run:", "",
        "| iterations | fp32 | bf16 | bf16 - fp32 |", "|---|---|---|---|"]
    for first, last, a, b in rows:
        lines.append(f"| {first}-{last} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
    lines += ["", f"![loss curves]({png})", "",
              "On a GPU, `python benchmarks/bf16_training.py --device cuda --write FILE` "
              "measures the same there; GPU figures: [benchmarks-gpu.md](benchmarks-gpu.md).",
              ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, required=True, help="Markdown page to write "
                    "(the PNG goes beside it)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--subjects", type=int, default=120)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--quick", action="store_true", help="tiny run (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.subjects, args.iterations, args.batch = 8, 10, 4
    with tempfile.TemporaryDirectory() as tmp:
        res = run(Path(tmp), args.subjects, args.iterations, args.batch, args.backbone,
                  args.device)
    args.write.parent.mkdir(parents=True, exist_ok=True)
    png = args.write.with_suffix(".png")
    plot(res, png)
    command = "python benchmarks/bf16_training.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    args.write.write_text(report(res, command.strip(), png.name))
    args.write.with_suffix(".json").write_text(json.dumps(res))
    print(f"wrote {args.write}, {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
