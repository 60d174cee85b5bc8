"""Cross-validation: train each fold, predict its held-out subjects with every snapshot,
pool, evaluate, calibrate, plot.

Output folder::

    fold_K/                       a training run (see mimir.training.train), or with
                                  ``ensemble`` > 1 the members' runs fold_K/member_M/
                                  (see mimir.training.ensemble)
    fold_K/heldout_iter_N.csv     held-out predictions of snapshot N (uncalibrated; of
                                  an ensemble: the members' mixture, each member's own
                                  in fold_K/member_M/heldout_iter_N.csv)
    pooled_predictions.csv        all folds' held-out predictions of the last snapshot,
                                  with calibrated variances
    metrics.csv                   per target and snapshot, the folds pooled: n, ICC (both
                                  formulas), R2, MAE, MAPE (%), NLL, AUCE, coverage,
                                  before and after calibration; the factor, its method
                                  and S(factor); the published figures of the matching
                                  target beside them
    columns.csv                   the data dictionary of these tables
    metrics_by_fold.csv           the same per fold (calibrated with the pooled factor)
    calibration_factors.csv       per target (last snapshot)
    ensemble_comparison.csv       with ``ensemble`` > 1: member 1, the members alone and
                                  the ensemble, per target (mimir.training.ensemble_eval)
    plots/*.png, report.html      agreement and Bland-Altman, calibration curve,
                                  sparsification, metrics against iteration
                                  (``plots="all"``: also plots/iter_N/ per snapshot)

Calibration factors follow the published criterion by default
(:func:`mimir.training.metrics.calibration_factor_published`); ``calibration="nll"``
minimises the Gaussian NLL instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path, write_text
from mimir.errors import UsageError
from mimir.inference.engine import pick_device, run_network
from mimir.inference.ensemble import mixture
from mimir.modules.catalogue import match
from mimir.modules.network import network_from_state
from mimir.modules.snapshot import load_state_dict
from mimir.output.dictionary import write_dictionary
from mimir.training import metrics as M
from mimir.training.data import Dataset, load_dataset
from mimir.training.dictionary import crossval_dictionary
from mimir.training.ensemble import common_snapshots, member_runs, train_members
from mimir.training.init import resolve_init
from mimir.training.train import TrainConfig, run_complete


def _fold_progress(on_progress, k: int):
    """(iteration, loss) -> on_progress(k, iteration, loss), or None."""
    if on_progress is None:
        return None
    return lambda it, loss: on_progress(k, it, loss)


def predict_snapshot(run_dir: Path, snapshot: Path, data: Dataset, device: str = "cpu",
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (label units, uncalibrated) of a run's snapshot on ``data``."""
    import torch  # lazy: torch loads only where it is used

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
             log: Callable[[str], None] = print, calibration: str = "published",
             meta: pd.DataFrame | None = None, plots: str = "last",
             icc: str = "textbook") -> dict:
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
    log : callable
        Messages for the user.
    calibration, meta, plots, icc
        See :func:`evaluate`.

    Returns
    -------
    dict
        ``metrics`` (DataFrame), ``calibration`` (dict target -> factor), ``folds_done``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    K = len(folds)
    first, last = fold_range or (1, K)
    if not 1 <= first <= last <= K:
        raise UsageError(f"fold range {first}-{last} outside 1-{K}")
    if calibration not in M.CALIBRATION_METHODS:
        raise UsageError(f"--calibration must be one of {', '.join(M.CALIBRATION_METHODS)}")

    resolve_init(config.init, config.backbone, config.init_weights, log)  # before any data
    write_text(out / "crossval.json", json.dumps({"k": K, "targets": targets,
                                                  "config": asdict(config),
                                                  "calibration": calibration,
                                                  "folds": folds}, indent=1))
    dev = pick_device(device)
    for k in range(first, last + 1):
        train_names = sorted(n for i, f in enumerate(folds, 1) if i != k for n in f)
        data = load_dataset(cache, table, targets, train_names)
        log(f"fold {k}/{K}: training on {len(data)} subjects")
        train_members(data, out / f"fold_{k}", config, device=dev, threads=threads,
                      on_progress=_fold_progress(on_progress, k), log=log)
    # held-out predictions of every snapshot of every finished fold
    for k in range(1, K + 1):
        run = out / f"fold_{k}"
        if not run_complete(run):
            continue
        test = load_dataset(cache, table, targets, sorted(folds[k - 1]))
        heldout_predictions(run, test, targets, dev)
    return evaluate(out, table, targets, K, calibration=calibration, meta=meta, plots=plots,
                    icc=icc)


def heldout_predictions(run: Path, test: Dataset, targets: list[str], device: str) -> None:
    """Write ``heldout_iter_N.csv`` of every snapshot of a finished fold (uncalibrated).

    For an ensemble fold, each member's predictions go into its own folder and the
    fold's file holds their equal-weight Gaussian mixture
    (:func:`mimir.inference.ensemble.mixture`): what the ensemble predicts, and what
    its calibration factors are fitted on.
    """
    runs = member_runs(run)
    for it, snaps in common_snapshots(runs):
        path = run / f"heldout_iter_{it:06d}.csv"
        if path.is_file():
            continue
        means, variances = [], []
        for member, snap in zip(runs, snaps, strict=True):
            own = member / path.name
            if own.is_file() and member != run:
                f = pd.read_csv(own, dtype={"name": str}).set_index("name").loc[test.names]
                mean = f[[f"{t}_mean" for t in targets]].to_numpy(dtype=np.float64)
                var = f[[f"{t}_var" for t in targets]].to_numpy(dtype=np.float64)
            else:
                mean, var = predict_snapshot(member, snap, test, device)
                if member != run:
                    _write_csv(_pred_frame(test.names, targets, mean, var), own)
            means.append(mean)
            variances.append(var)
        mean, var = mixture(np.stack(means), np.stack(variances))
        _write_csv(_pred_frame(test.names, targets, mean, var), path)


def target_info(targets: list[str], meta: pd.DataFrame | None = None) -> dict:
    """Per target column: ``name``, ``field``, ``unit`` (of the table's values) and a
    ``label`` for tables and plot axes (``VAT (field 22407) [L]``).

    ``meta`` is a target table's sidecar (:func:`mimir.training.targets.read_meta`).
    Its unit is the module's reporting unit, after the divisor; the table holds values
    before it, so a divisor d != 1 shows as ``1/d unit``.
    """
    rows = meta.set_index("column") if meta is not None else None
    info = {}
    for t in targets:
        if rows is not None and t in rows.index:
            r = rows.loc[t]
            name, field, unit = str(r["name"] or t), str(r["field"] or ""), str(r["unit"])
            d = float(r["divisor"] or 1)
            if unit and d != 1:
                unit = f"1/{d:g} {unit}"
        else:
            name, field, unit = t, "", ""
        label = name + (f" (field {field})" if field else "") + (f" [{unit}]" if unit else "")
        info[t] = {"name": name, "field": field, "unit": unit, "label": label}
    return info


def _metric_row(y, m, v, c: float, icc: str = "textbook") -> dict:
    """Metrics before calibration and, with factor ``c``, after it."""
    return {**M.all_metrics(y, m, v, icc), "nll_calibrated": M.nll(y, m, c * v),
            "auce_calibrated": M.auce(y, m, c * v),
            "coverage95_calibrated": M.coverage(y, m, c * v)}


#: The published figures put beside each target's own (metrics.csv).
PUBLISHED_COLUMNS = ("published_target", "published_field", "published_unit", "published_n",
                     "published_icc", "published_r2", "published_mae",
                     "published_mape_percent")


def published_figures(info: dict) -> dict:
    """Per target column: the published cross-validation figures of the target it
    matches (by UK Biobank field, else by name; :mod:`mimir.modules.catalogue`), or
    empty values."""
    res = {}
    for t, about in info.items():
        p = match(about["name"], about["field"])
        if p is None:
            res[t] = {c: ("" if c in ("published_target", "published_field",
                                      "published_unit") else np.nan)
                      for c in PUBLISHED_COLUMNS}
        else:
            res[t] = {"published_target": p.target, "published_field": p.field,
                      "published_unit": p.unit, "published_n": p.n, "published_icc": p.icc,
                      "published_r2": p.r2, "published_mae": p.mae,
                      "published_mape_percent": p.mape_percent}
    return res


def evaluate(out: Path, table: pd.DataFrame, targets: list[str], K: int,
             calibration: str = "published", meta: pd.DataFrame | None = None,
             plots: str = "last", icc: str = "textbook") -> dict:
    """Pool held-out predictions per snapshot; write metrics (pooled and per fold),
    calibration factors, plots and the report.

    Parameters
    ----------
    calibration : {'published', 'nll'}
        Estimator of the calibration factors (:func:`mimir.training.metrics.
        calibration_factor`).
    meta : DataFrame, optional
        The target table's sidecar: names, fields and units for tables and plots.
    plots : {'last', 'all'}
        Target plots for the last snapshot only, or for every snapshot.
    icc : {'textbook', 'published'}
        The formula of the ``icc`` column (:data:`mimir.training.metrics.ICC_FORMULAS`);
        ``icc_textbook`` and ``icc_published`` hold both.
    """
    from mimir.training.report import write_plots, write_report  # lazy: imports pandas

    if calibration not in M.CALIBRATION_METHODS:
        raise UsageError(f"--calibration must be one of {', '.join(M.CALIBRATION_METHODS)}")
    if plots not in ("last", "all"):
        raise UsageError("--plots must be last or all")
    if icc not in M.ICC_FORMULAS:
        raise UsageError(f"--icc must be one of {', '.join(M.ICC_FORMULAS)}")
    done = [k for k in range(1, K + 1) if run_complete(out / f"fold_{k}")]
    if not done:
        raise UsageError(f"no finished fold in {out}")
    iters = sorted({int(p.stem.split("_")[-1]) for k in done
                    for p in (out / f"fold_{k}").glob("heldout_iter_*.csv")})
    info = target_info(targets, meta)
    published = published_figures(info)
    truth = table.set_index("name")
    rows, fold_rows, pooled_by_iter = [], [], {}
    for it in iters:
        frames = {k: pd.read_csv(out / f"fold_{k}" / f"heldout_iter_{it:06d}.csv",
                                 dtype={"name": str}) for k in done
                  if (out / f"fold_{k}" / f"heldout_iter_{it:06d}.csv").is_file()}
        pooled = pd.concat(frames.values(), ignore_index=True).sort_values("name")
        pooled_by_iter[it] = pooled
        for t in targets:
            about = {"target": t, **{k: info[t][k] for k in ("name", "field", "unit")},
                     "iteration": it}
            y = truth.loc[pooled["name"], t].to_numpy(dtype=float)
            m, v = pooled[f"{t}_mean"].to_numpy(), pooled[f"{t}_var"].to_numpy()
            c = M.calibration_factor(y, m, v, calibration)
            rows.append({**about, **_metric_row(y, m, v, c, icc), "calibration_factor": c,
                         "calibration_method": calibration, "icc_formula": icc,
                         "calibration_sum": M.calibration_sum(y, m, v, c),
                         **published[t]})
            for k, f in frames.items():
                yk = truth.loc[f["name"], t].to_numpy(dtype=float)
                fold_rows.append({"fold": k, **about, **_metric_row(
                    yk, f[f"{t}_mean"].to_numpy(), f[f"{t}_var"].to_numpy(), c, icc)})
    metrics = pd.DataFrame(rows)
    _write_csv(metrics, out / "metrics.csv")
    _write_csv(pd.DataFrame(fold_rows), out / "metrics_by_fold.csv")
    last = iters[-1]
    final = metrics[metrics["iteration"] == last].set_index("target")
    factors = {t: float(final.loc[t, "calibration_factor"]) for t in targets}
    _write_csv(pd.DataFrame({"target": targets,
                             "name": [info[t]["name"] for t in targets],
                             "calibration_factor": [factors[t] for t in targets],
                             "calibration_method": calibration}),
               out / "calibration_factors.csv")

    def with_truth(it: int) -> pd.DataFrame:
        pooled = pooled_by_iter[it].copy()
        for t in targets:
            c = float(metrics[(metrics["iteration"] == it) & (metrics["target"] == t)]
                      ["calibration_factor"].iloc[0])
            pooled[f"{t}_var_calibrated"] = pooled[f"{t}_var"] * c
            pooled[f"{t}_truth"] = truth.loc[pooled["name"], t].to_numpy(dtype=float)
        return pooled

    _write_csv(with_truth(last), out / "pooled_predictions.csv")
    figures = write_plots(out / "plots", {it: with_truth(it) for it in
                                          (iters if plots == "all" else [last])},
                          metrics, targets, info)
    members = len(member_runs(out / f"fold_{done[0]}"))
    comparison, extra = None, ""
    if members > 1:
        from mimir.training.ensemble_eval import compare, comparison_html  # lazy: imports pandas

        comparison = compare(out, table, targets, done, members, last, calibration)
        extra = comparison_html(comparison, info, "plots/ensemble_sparsification.png")
    write_report(out / "report.html", metrics, pd.DataFrame(fold_rows), targets, info,
                 figures, folds_done=done, K=K, extra=extra)
    write_dictionary(out, crossval_dictionary(out, targets, info))
    return {"metrics": metrics, "calibration": factors, "folds_done": done,
            "ensemble_comparison": comparison}
