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

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="held-out image cache")
    ap.add_argument("--factors", type=Path, required=True, help="calibration_factors.csv")
    ap.add_argument("snapshots", nargs="+", type=Path)
    args = ap.parse_args()
    table = read_target_table(args.cache / "truth.csv")
    factors = pd.read_csv(args.factors).set_index("target")["calibration_factor"]
    rows = []
    for snap in args.snapshots:
        run = snap.parent.parent
        cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
        targets = cfg["targets"]
        data = load_dataset(args.cache, table, targets)
        mean, var = predict_snapshot(run, snap, data)
        sd = np.sqrt(var * factors.reindex(targets).to_numpy())
        err = mean - data.labels
        info = _snapshot_info(snap)
        for j, t in enumerate(targets):
            ok = ~np.isnan(err[:, j])
            rows.append({"snapshot": str(snap), **info, "target": t, "n": int(ok.sum()),
                         "offset_sd": err[ok, j].mean() / np.sqrt(np.mean(sd[ok, j] ** 2)),
                         "coverage95": float(np.mean(np.abs(err[ok, j]) <= 1.96 * sd[ok, j]))})
    df = pd.DataFrame(rows)
    wide = df.pivot_table(index="snapshot", columns="target", values="offset_sd", sort=False)
    cov = df.pivot_table(index="snapshot", columns="target", values="coverage95", sort=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("offset (calibrated sds)\n", wide.round(2).to_string())
        print("95 % coverage\n", cov.round(2).to_string())
        print("averaged iterations\n",
              df.drop_duplicates("snapshot")[["snapshot", "averaged_iterations"]].to_string(
                  index=False))
    return 0


def _snapshot_info(snap: Path) -> dict:
    import torch

    obj = torch.load(snap, map_location="cpu", weights_only=True)
    return {"averaged_iterations": int(obj.get("averaged_iterations", 0))}


if __name__ == "__main__":
    raise SystemExit(main())
