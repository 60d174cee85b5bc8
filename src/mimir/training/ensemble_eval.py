"""Single member against ensemble in a cross-validation (``crossval --ensemble K``).

For the last snapshot, the held-out predictions of all finished folds are pooled three
ways: member 1 alone (the network a run without ``--ensemble`` trains), every member
alone (their metrics averaged), and the ensemble (the members' mixture, as ``infer``
predicts it). Each is calibrated with its own factor, fitted on its pooled predictions
with the cross-validation's estimator, and compared per target on:

- accuracy: MAE and ICC(2,1);
- calibration: AUCE and 95 % coverage, before and after calibration;
- the ranking of errors by predicted variance: AUSE, the area between the
  sparsification curve and the oracle's, relative to the MAE
  (:func:`mimir.training.metrics.ause`), and the MAE of the half with the smaller
  predicted variance.

Written to ``ensemble_comparison.csv`` and ``plots/ensemble_sparsification.png``.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path
from mimir.training import metrics as M

COMPARISON_CSV = "ensemble_comparison.csv"
#: Columns of the comparison table (after target and model).
COMPARISON_COLUMNS = ["n", "mae", "icc", "auce", "auce_calibrated", "coverage95",
                      "coverage95_calibrated", "calibration_factor", "ause", "mae_certain50"]


def _pool(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(f, dtype={"name": str}) for f in files],
                     ignore_index=True).sort_values("name")


def model_metrics(y: np.ndarray, m: np.ndarray, v: np.ndarray, calibration: str) -> dict:
    """The comparison's metrics of one model on one target (calibrated with its own
    factor)."""
    c = M.calibration_factor(y, m, v, calibration)
    ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(v)
    keep = ok & (v <= np.nanmedian(v[ok])) if ok.any() else ok
    return {"n": int(ok.sum()), "mae": M.mae(y, m), "icc": M.icc21(y, m),
            "auce": M.auce(y, m, v), "auce_calibrated": M.auce(y, m, c * v),
            "coverage95": M.coverage(y, m, v), "coverage95_calibrated": M.coverage(y, m, c * v),
            "calibration_factor": c, "ause": M.ause(y, m, v),
            "mae_certain50": M.mae(y[keep], m[keep])}


def compare(out: Path, table: pd.DataFrame, targets: list[str], folds: list[int],
            members: int, iteration: int, calibration: str = "published") -> pd.DataFrame:
    """The comparison table (see the module docstring) for ``members`` members.

    Parameters
    ----------
    out : Path
        The cross-validation folder.
    table : DataFrame
        The target table (``name`` and the target columns).
    folds : list of int
        The finished folds to pool.
    iteration : int
        The snapshot.
    """
    name = f"heldout_iter_{iteration:06d}.csv"
    truth = table.set_index("name")
    pools = {f"member {m}": _pool([out / f"fold_{k}" / f"member_{m}" / name for k in folds])
             for m in range(1, members + 1)}
    ensemble = _pool([out / f"fold_{k}" / name for k in folds])
    rows = []
    for t in targets:
        def of(p: pd.DataFrame, t=t) -> dict:
            return model_metrics(truth.loc[p["name"], t].to_numpy(dtype=float),
                                 p[f"{t}_mean"].to_numpy(), p[f"{t}_var"].to_numpy(),
                                 calibration)

        single = {k: of(p) for k, p in pools.items()}
        rows.append({"target": t, "model": "member 1", **single["member 1"]})
        mean_of = {c: float(np.mean([s[c] for s in single.values()]))
                   for c in COMPARISON_COLUMNS}
        rows.append({"target": t, "model": f"single members (mean of {members})", **mean_of})
        rows.append({"target": t, "model": f"ensemble of {members}",
                     **of(ensemble)})
    df = pd.DataFrame(rows)
    df["n"] = df["n"].round().astype(int)
    with atomic_path(out / COMPARISON_CSV) as tmp:
        df.to_csv(tmp, index=False)
    _plot(out / "plots" / "ensemble_sparsification.png", targets, truth, pools["member 1"],
          ensemble, members)
    return df


def _plot(path: Path, targets: list[str], truth: pd.DataFrame, single: pd.DataFrame,
          ensemble: pd.DataFrame, members: int) -> Path:
    from mimir.training.report import pyplot, save_png  # lazy: matplotlib

    plt = pyplot()
    cols = min(5, len(targets))
    rows = -(-len(targets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), targets, strict=False):
        for p, label, style in ((single, "member 1", "o-"),
                                (ensemble, f"ensemble of {members}", "s-")):
            y = truth.loc[p["name"], t].to_numpy(dtype=float)
            m, v = p[f"{t}_mean"].to_numpy(), p[f"{t}_var"].to_numpy()
            f, mae = M.sparsification(y, m, v)
            ax.plot(f, mae, style, ms=3, label=label)
            f, oracle = M.sparsification(y, m, np.abs(y - m))
            ax.plot(f, oracle, ":", color=ax.lines[-1].get_color(), lw=1)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("fraction removed", fontsize=8)
        ax.set_ylabel("MAE", fontsize=8)
    for ax in axes.ravel()[len(targets):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Sparsification: MAE after removing the most uncertain first (dotted: "
                 "removing the largest errors first)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def comparison_html(df: pd.DataFrame, info: dict, plot: str | None) -> str:
    """The report's section: the comparison table, and the sparsification figure
    (``plot``: its path relative to the page)."""
    from mimir.training.report import cell  # lazy: imports pandas

    head = ["target (field) [unit]", "model"] + COMPARISON_COLUMNS
    body = "".join(
        "<tr>" + f"<td>{html.escape(info.get(r['target'], {}).get('label', r['target']))}"
        f"</td><td>{html.escape(r['model'])}</td>"
        + "".join(f"<td>{cell(r[c])}</td>" for c in COMPARISON_COLUMNS) + "</tr>"
        for _, r in df.iterrows())
    fig = (f"<img src='{html.escape(plot)}' alt='sparsification, single member and "
           "ensemble' style='max-width:100%'>" if plot else "")
    return ("<h2>Single member against ensemble</h2><p>The held-out predictions of member 1 "
            "(the network a run without --ensemble trains), of every member alone (metrics "
            "averaged) and of the ensemble (the members' equal-weight Gaussian mixture), "
            "each calibrated with its own factor. AUSE: area between the sparsification "
            "curve and the oracle's, relative to the MAE (lower: the predicted variance "
            "ranks the errors better); mae_certain50: MAE of the half with the smaller "
            "predicted variance.</p>"
            "<table id='ensemble-comparison'><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr>{body}</table>"
            + fig)
