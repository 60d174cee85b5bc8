"""Per-target offset and 95 % coverage of training snapshots on held-out cached images.

Used for the weight-averaging table in docs/training.md::

    python benchmarks/snapshot_offsets.py --cache runs/val777 \
        --factors runs/demo/cv_noavg/calibration_factors.csv \
        runs/demo/final_noavg/snapshots/iter_000800.pth.tar ...

Each snapshot is given with its run folder (``RUN/snapshots/iter_N.pth.tar``; the run's
``config.json`` holds targets and standardisation). The cache must hold a ``truth.csv``
(``mimir phantom --fast`` writes one). Offset = mean error / rms calibrated predicted sd;
coverage = share of truths inside the calibrated 95 % interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> int:
    from mimir.training.crossval import predict_snapshot
    from mimir.training.data import load_dataset, read_target_table
    from mimir.training.fitcheck import fit_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="held-out image cache")
    ap.add_argument("--factors", type=Path, required=True, help="calibration_factors.csv")
    ap.add_argument("snapshots", nargs="+", type=Path)
    args = ap.parse_args()
    table = read_target_table(args.cache / "truth.csv")
    factors = pd.read_csv(args.factors).set_index("target")["calibration_factor"].to_dict()
    datasets: dict = {}  # held-out images, loaded once per target list
    frames = []
    for snap in args.snapshots:
        run = snap.parent.parent
        targets = json.loads((run / "config.json").read_text(encoding="utf-8"))["targets"]
        key = tuple(targets)
        if key not in datasets:
            datasets[key] = load_dataset(args.cache, table, targets)
        data = datasets[key]
        mean, var = predict_snapshot(run, snap, data)
        fit = fit_table(data.labels, mean, var, targets, factors)  # offsets, as module create
        sd = np.sqrt(var * np.array([factors.get(t, 1.0) for t in targets]))
        err = np.abs(mean - data.labels)
        fit["coverage95"] = [float(np.mean(err[np.isfinite(err[:, j]), j]
                                           <= 1.96 * sd[np.isfinite(err[:, j]), j]))
                             for j in range(len(targets))]
        fit["snapshot"] = str(snap)
        fit["averaged_iterations"] = _averaged_iterations(snap)
        frames.append(fit)
    df = pd.concat(frames, ignore_index=True)
    wide = df.pivot_table(index="snapshot", columns="target", values="offset_sd", sort=False)
    cov = df.pivot_table(index="snapshot", columns="target", values="coverage95", sort=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("offset (calibrated sds)\n", wide.round(2).to_string())
        print("95 % coverage\n", cov.round(2).to_string())
        print("averaged iterations\n",
              df.drop_duplicates("snapshot")[["snapshot", "averaged_iterations"]].to_string(
                  index=False))
    return 0


def _averaged_iterations(snap: Path) -> int:
    import torch

    obj = torch.load(snap, map_location="cpu", weights_only=True)
    return int(obj.get("averaged_iterations", 0))


if __name__ == "__main__":
    raise SystemExit(main())
