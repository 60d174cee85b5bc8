"""Cross-validation: train each fold, predict its held-out subjects with every snapshot,
pool, evaluate, calibrate, plot.

Output folder::

    fold_K/                       a training run (see mimir.training.train)
    fold_K/heldout_iter_N.csv     held-out predictions of snapshot N (uncalibrated)
    pooled_predictions.csv        all folds' held-out predictions of the last snapshot,
                                  with calibrated variances
    metrics.csv                   per target and snapshot: n, ICC, R2, MAE, MAPE, NLL, AUCE,
                                  coverage, before and after calibration
    calibration_factors.csv       per target (last snapshot)
    plots/*.png, report.html      agreement and Bland-Altman, calibration curve,
                                  sparsification, metric against iteration
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.errors import UsageError
from mimir.output.atomic import atomic_path, write_text
from mimir.training import metrics as M
from mimir.training.data import Dataset, load_dataset
from mimir.training.train import TrainConfig, run_complete, snapshots, train


def predict_snapshot(run_dir: Path, snapshot: Path, data: Dataset, device: str = "cpu",
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (label units, uncalibrated) of a run's snapshot on ``data``."""
    import torch

    from mimir.inference.engine import run_network
    from mimir.modules.network import network_from_state
    from mimir.modules.snapshot import load_state_dict

    cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    backbone = cfg["config"]["backbone"]
    T = len(cfg["targets"])
    net = network_from_state(backbone, T, load_state_dict(snapshot), str(snapshot))
    net = net.to(device).to(memory_format=torch.channels_last)
    out = run_network(net, data.images, device, batch_size)
    o = out.reshape(len(out), T, 2)
    mu, sd = np.array(cfg["stand_mean"]), np.array(cfg["stand_sd"])
    return o[..., 0] * sd + mu, np.exp(o[..., 1]) * sd ** 2


def _pred_frame(names, targets, mean, var) -> pd.DataFrame:
    d = {"name": names}
    for j, t in enumerate(targets):
        d[f"{t}_mean"] = mean[:, j]
        d[f"{t}_var"] = var[:, j]
    return pd.DataFrame(d)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def crossval(cache: str | os.PathLike, table: pd.DataFrame, targets: list[str],
             folds: list[list[str]], out_dir: str | os.PathLike, config: TrainConfig,
             device: str = "auto", threads: int | None = None,
             fold_range: tuple[int, int] | None = None,
             on_progress: Callable[[int, int, float], None] | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Run (or resume) a K-fold cross-validation and evaluate it.

    Parameters
    ----------
    cache : path-like
        Image cache.
    table : DataFrame
        Target table (``name`` + target columns).
    targets : list of str
        Target columns.
    folds : list of list of str
        Subject names per fold.
    out_dir : path-like
        Output folder (see the module docstring).
    config : TrainConfig
    fold_range : (first, last), optional
        1-based inclusive range of folds to train now (default all). Evaluation pools
        whichever folds have finished.
    on_progress : callable, optional
        (fold, iteration, running loss).

    Returns
    -------
    dict
        ``metrics`` (DataFrame), ``calibration`` (dict target -> factor), ``folds_done``.
    """
    from mimir.inference.engine import pick_device

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    K = len(folds)
    first, last = fold_range or (1, K)
    if not 1 <= first <= last <= K:
        raise UsageError(f"fold range {first}-{last} outside 1-{K}")
    write_text(out / "crossval.json", json.dumps({"k": K, "targets": targets,
                                                  "config": asdict(config),
                                                  "folds": folds}, indent=1))
    dev = pick_device(device)
    for k in range(first, last + 1):
        train_names = sorted(n for i, f in enumerate(folds, 1) if i != k for n in f)
        data = load_dataset(cache, table, targets, train_names)
        log(f"fold {k}/{K}: training on {len(data)} subjects")
        train(data, out / f"fold_{k}", config, device=dev, threads=threads,
              on_progress=(lambda it, loss, k=k: on_progress(k, it, loss)) if on_progress
              else None, log=log)
    # held-out predictions of every snapshot of every finished fold
    for k in range(1, K + 1):
        run = out / f"fold_{k}"
        if not run_complete(run):
            continue
        test = load_dataset(cache, table, targets, sorted(folds[k - 1]))
        for it, snap in snapshots(run):
            path = run / f"heldout_iter_{it:06d}.csv"
            if path.is_file():
                continue
            mean, var = predict_snapshot(run, snap, test, dev)
            _write_csv(_pred_frame(test.names, targets, mean, var), path)
    return evaluate(out, table, targets, K)


def evaluate(out: Path, table: pd.DataFrame, targets: list[str], K: int) -> dict:
    """Pool held-out predictions per snapshot and write metrics, factors, plots, report."""
    from mimir.training.report import write_plots, write_report

    done = [k for k in range(1, K + 1) if run_complete(out / f"fold_{k}")]
    if not done:
        raise UsageError(f"no finished fold in {out}")
    iters = sorted({int(p.stem.split("_")[-1]) for k in done
                    for p in (out / f"fold_{k}").glob("heldout_iter_*.csv")})
    truth = table.set_index("name")
    rows, pooled_by_iter = [], {}
    for it in iters:
        frames = [pd.read_csv(out / f"fold_{k}" / f"heldout_iter_{it:06d}.csv",
                              dtype={"name": str}) for k in done
                  if (out / f"fold_{k}" / f"heldout_iter_{it:06d}.csv").is_file()]
        pooled = pd.concat(frames, ignore_index=True).sort_values("name")
        pooled_by_iter[it] = pooled
        for t in targets:
            y = truth.loc[pooled["name"], t].to_numpy(dtype=float)
            m, v = pooled[f"{t}_mean"].to_numpy(), pooled[f"{t}_var"].to_numpy()
            c = M.calibration_factor(y, m, v)
            row = {"target": t, "iteration": it, **M.all_metrics(y, m, v),
                   "calibration_factor": c, "nll_calibrated": M.nll(y, m, c * v),
                   "auce_calibrated": M.auce(y, m, c * v),
                   "coverage95_calibrated": M.coverage(y, m, c * v)}
            rows.append(row)
    metrics = pd.DataFrame(rows)
    _write_csv(metrics, out / "metrics.csv")
    last = iters[-1]
    final = metrics[metrics["iteration"] == last].set_index("target")
    factors = {t: float(final.loc[t, "calibration_factor"]) for t in targets}
    _write_csv(pd.DataFrame({"target": targets, "calibration_factor": [factors[t] for t in
                                                                       targets]}),
               out / "calibration_factors.csv")
    pooled = pooled_by_iter[last].copy()
    for t in targets:
        pooled[f"{t}_var_calibrated"] = pooled[f"{t}_var"] * factors[t]
        pooled[f"{t}_truth"] = truth.loc[pooled["name"], t].to_numpy(dtype=float)
    _write_csv(pooled, out / "pooled_predictions.csv")
    plots = write_plots(out / "plots", pooled, metrics, targets)
    write_report(out / "report.html", metrics, targets, plots, folds_done=done, K=K)
    return {"metrics": metrics, "calibration": factors, "folds_done": done}
