"""Plots and the HTML page of a cross-validation."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.output.atomic import atomic_path, write_text
from mimir.training import metrics as M


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    _plt().close(fig)
    return path


def target_figure(y, m, v, c: float, target: str):
    """Agreement, Bland-Altman, calibration curve and sparsification for one target."""
    plt = _plt()
    ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(v)
    y, m, v = y[ok], m[ok], v[ok]
    fig, ax = plt.subplots(1, 4, figsize=(16, 4))
    lo, hi = float(min(y.min(), m.min())), float(max(y.max(), m.max()))
    ax[0].scatter(y, m, s=6, alpha=0.6)
    ax[0].plot([lo, hi], [lo, hi], "k--", lw=1)
    ax[0].set(xlabel="reference", ylabel="prediction",
              title=f"{target}: ICC {M.icc21(y, m):.3f}")
    avg, diff = (y + m) / 2, m - y
    md, sd = float(np.mean(diff)), float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    ax[1].scatter(avg, diff, s=6, alpha=0.6)
    for val, style in ((md, "k-"), (md + 1.96 * sd, "r--"), (md - 1.96 * sd, "r--")):
        ax[1].axhline(val, color=style[0], ls=style[1:], lw=1)
    ax[1].set(xlabel="mean of reference and prediction", ylabel="prediction - reference",
              title=f"Bland-Altman: {md:.3g} +- {1.96 * sd:.3g}")
    ax[2].plot([0, 1], [0, 1], "k--", lw=1)
    ax[2].plot(M.LEVELS, M.calibration_curve(y, m, v), "o-", label="uncalibrated")
    ax[2].plot(M.LEVELS, M.calibration_curve(y, m, c * v), "s-", label=f"calibrated (x{c:.3g})")
    ax[2].set(xlabel="expected", ylabel="observed", title="calibration", xlim=(0, 1),
              ylim=(0, 1.02))
    ax[2].legend(fontsize=8)
    f, mae = M.sparsification(y, m, v)
    ax[3].plot(f, mae, "o-")
    ax[3].set(xlabel="fraction removed (most uncertain first)", ylabel="MAE",
              title="sparsification")
    fig.tight_layout()
    return fig


def write_plots(folder: Path, pooled: pd.DataFrame, metrics: pd.DataFrame,
                targets: list[str]) -> dict:
    """One PNG per target plus the metric-against-iteration figure; returns their paths."""
    plt = _plt()
    paths = {}
    for t in targets:
        c = float(metrics[metrics["target"] == t].iloc[-1]["calibration_factor"])
        fig = target_figure(pooled[f"{t}_truth"].to_numpy(), pooled[f"{t}_mean"].to_numpy(),
                            pooled[f"{t}_var"].to_numpy(), c, t)
        paths[t] = _save(fig, folder / f"{t}.png")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    for t in targets:
        sub = metrics[metrics["target"] == t]
        ax[0].plot(sub["iteration"], sub["icc"], "o-", label=t)
        ax[1].plot(sub["iteration"], sub["nll_calibrated"], "o-", label=t)
    ax[0].set(xlabel="iteration", ylabel="ICC", title="ICC per snapshot")
    ax[1].set(xlabel="iteration", ylabel="NLL (calibrated)", title="NLL per snapshot")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    paths["_iterations"] = _save(fig, folder / "metrics_by_iteration.png")
    return paths


def write_report(path: Path, metrics: pd.DataFrame, targets: list[str], plots: dict,
                 folds_done: list, K: int) -> None:
    """A self-contained HTML page (images referenced relative to it)."""
    last = metrics["iteration"].max()
    table = metrics[metrics["iteration"] == last].drop(columns=["iteration"])
    rows = []
    cols = ["target", "n", "icc", "r2", "mae", "mape", "nll", "auce", "coverage95",
            "calibration_factor", "nll_calibrated", "auce_calibrated", "coverage95_calibrated"]
    for _, r in table.iterrows():
        cells = "".join(f"<td>{html.escape(str(r[c])) if c == 'target' else f'{r[c]:.4g}'}</td>"
                        for c in cols)
        rows.append(f"<tr>{cells}</tr>")
    imgs = "".join(
        f"<h3>{html.escape(t)}</h3><img src='{html.escape(plots[t].relative_to(path.parent).as_posix())}'"
        f" alt='{html.escape(t)}' style='max-width:100%'>" for t in targets)
    it_img = plots["_iterations"].relative_to(path.parent).as_posix()
    note = "" if len(folds_done) == K else (
        f"<p><b>Partial:</b> folds {folds_done} of {K} finished.</p>")
    page = f"""<!doctype html><html><head><meta charset='utf-8'>
<title>MIMIR cross-validation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head><body>
<h1>Cross-validation ({K} folds, snapshot {last})</h1>{note}
<table id='metrics'><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{''.join(rows)}</table>
<h2>Metrics per snapshot</h2><img src='{html.escape(it_img)}' alt='metrics by iteration'>
<h2>Targets</h2>{imgs}</body></html>"""
    write_text(path, page)
