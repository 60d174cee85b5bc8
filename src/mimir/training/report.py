"""Plots and the HTML page of a cross-validation.

Every axis and table names the target with its field id and unit (from the target
table's sidecar). Bland-Altman plots show prediction minus reference against their
mean: a positive difference means the network predicts too high.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path, write_text
from mimir.training import metrics as M

#: The orientation of every Bland-Altman plot, stated on the plots and the page.
BLAND_ALTMAN = "difference = prediction - reference (positive: the prediction is higher)"


def pyplot():
    import matplotlib  # lazy: matplotlib loads only where it is used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib loads only where it is used

    return plt


def save_png(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    pyplot().close(fig)
    return path


def _unit(about: dict) -> str:
    return f" [{about['unit']}]" if about.get("unit") else ""


def target_figure(y, m, v, c: float, target: str, about: dict | None = None,
                  iteration: int | None = None):
    """Agreement, Bland-Altman, calibration curve and sparsification for one target.

    ``about`` holds the target's ``label`` and ``unit`` (:func:`mimir.training.crossval.
    target_info`); without it the column name is used.
    """
    plt = pyplot()
    about = about or {"label": target, "unit": ""}
    u = _unit(about)
    ok = np.isfinite(y) & np.isfinite(m) & np.isfinite(v)
    y, m, v = y[ok], m[ok], v[ok]
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.4))
    lo, hi = float(min(y.min(), m.min())), float(max(y.max(), m.max()))
    ax[0].scatter(y, m, s=6, alpha=0.6)
    ax[0].plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
    ax[0].set(xlabel=f"reference{u}", ylabel=f"prediction{u}",
              title=f"agreement: ICC {M.icc21(y, m):.3f}")
    ax[0].legend(fontsize=8)
    avg, diff = (y + m) / 2, m - y
    md, sd = float(np.mean(diff)), float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    ax[1].scatter(avg, diff, s=6, alpha=0.6)
    for val, style in ((md, "k-"), (md + 1.96 * sd, "r--"), (md - 1.96 * sd, "r--")):
        ax[1].axhline(val, color=style[0], ls=style[1:], lw=1)
    ax[1].set(xlabel=f"mean of reference and prediction{u}",
              ylabel=f"prediction - reference{u}",
              title=f"Bland-Altman: {md:.3g} +- {1.96 * sd:.3g}")
    ax[2].plot([0, 1], [0, 1], "k--", lw=1)
    ax[2].plot(M.LEVELS, M.calibration_curve(y, m, v), "o-", label="uncalibrated")
    ax[2].plot(M.LEVELS, M.calibration_curve(y, m, c * v), "s-", label=f"calibrated (x{c:.3g})")
    ax[2].set(xlabel="expected share inside the interval", ylabel="observed share",
              title="calibration", xlim=(0, 1), ylim=(0, 1.02))
    ax[2].legend(fontsize=8)
    f, mae = M.sparsification(y, m, v)
    ax[3].plot(f, mae, "o-")
    ax[3].set(xlabel="fraction removed (most uncertain first)", ylabel=f"MAE{u}",
              title="sparsification")
    when = f", snapshot {iteration}" if iteration is not None else ""
    fig.suptitle(f"{about['label']}{when}", fontsize=11)
    fig.tight_layout()
    return fig


#: Metric-per-snapshot panels: (column, axis label).
ITERATION_PANELS = (("icc", "ICC(2,1)"), ("auce_calibrated", "AUCE (calibrated)"),
                    ("coverage95_calibrated", "95 % coverage (calibrated)"),
                    ("nll_calibrated", "NLL (calibrated)"))


def write_plots(folder: Path, pooled_by_iter: dict, metrics: pd.DataFrame,
                targets: list[str], info: dict) -> dict:
    """Target figures for each snapshot in ``pooled_by_iter`` (the last in ``folder``,
    earlier ones in ``folder/iter_N``) plus the metric-per-snapshot figure.

    Returns
    -------
    dict
        target -> path of its last-snapshot figure; ``_iterations`` -> the
        metric-per-snapshot figure; ``_all`` -> {iteration: {target: path}}.
    """
    plt = pyplot()
    last = max(pooled_by_iter)
    paths: dict = {"_all": {}}
    for it, pooled in sorted(pooled_by_iter.items()):
        sub = folder if it == last else folder / f"iter_{it:06d}"
        row = metrics[metrics["iteration"] == it].set_index("target")
        for t in targets:
            c = float(row.loc[t, "calibration_factor"])
            fig = target_figure(pooled[f"{t}_truth"].to_numpy(),
                                pooled[f"{t}_mean"].to_numpy(),
                                pooled[f"{t}_var"].to_numpy(), c, t, info.get(t), it)
            paths["_all"].setdefault(it, {})[t] = save_png(fig, sub / f"{t}.png")
    paths.update(paths["_all"][last])
    fig, ax = plt.subplots(1, len(ITERATION_PANELS), figsize=(18, 4.2))
    markers = "os^vDP*Xh<>"
    for i, t in enumerate(targets):
        sub = metrics[metrics["target"] == t]
        for a, (col, _) in zip(ax, ITERATION_PANELS, strict=True):
            a.plot(sub["iteration"], sub[col], marker=markers[i % len(markers)],
                   ls="-" if i < 10 else "--", label=info.get(t, {}).get("name", t))
    for a, (_, label) in zip(ax, ITERATION_PANELS, strict=True):
        a.set(xlabel="iteration", ylabel=label, title=f"{label} per snapshot")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    paths["_iterations"] = save_png(fig, folder / "metrics_by_iteration.png")
    return paths


#: Columns of the pooled metrics table on the page.
REPORT_COLUMNS = ["n", "icc", "icc_textbook", "icc_published", "r2", "mae", "mape", "nll",
                  "auce", "coverage95", "calibration_factor", "nll_calibrated",
                  "auce_calibrated", "coverage95_calibrated"]
#: The published figures shown beside the user's own.
PUBLISHED_REPORT_COLUMNS = ["published_target", "published_n", "published_icc",
                            "published_r2", "published_mae", "published_unit",
                            "published_mape_percent"]


def cell(v) -> str:
    if isinstance(v, str):
        return html.escape(v)
    if isinstance(v, (float, np.floating)):
        return "-" if v != v else f"{v:.4g}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cols: list[str], html_id: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in cols) + "</tr>"
                   for _, r in df.iterrows())
    return f"<table id='{html_id}'><tr>{head}</tr>{body}</table>"


def write_report(path: Path, metrics: pd.DataFrame, by_fold: pd.DataFrame,
                 targets: list[str], info: dict, plots: dict, folds_done: list,
                 K: int, extra: str = "") -> None:
    """A self-contained HTML page (images referenced relative to it); ``extra``: HTML
    placed after the pooled metrics (the ensemble comparison)."""
    last = metrics["iteration"].max()
    table = metrics[metrics["iteration"] == last].copy()
    table.insert(0, "target (field) [unit]", [info[t]["label"] for t in table["target"]])
    method = str(table["calibration_method"].iloc[0]) if len(table) else ""
    folds = by_fold[by_fold["iteration"] == last].copy()
    folds.insert(0, "target (field) [unit]", [info[t]["label"] for t in folds["target"]])

    def rel(p: Path) -> str:
        return html.escape(p.relative_to(path.parent).as_posix())

    imgs = "".join(f"<h3>{html.escape(info[t]['label'])}</h3><img src='{rel(plots[t])}' "
                   f"alt='{html.escape(t)}' style='max-width:100%'>" for t in targets)
    earlier = sorted(i for i in plots["_all"] if i != last)
    if earlier:
        links = " ".join(f"<a href='{rel(plots['_all'][i][t])}'>{i}</a>" for i in earlier
                         for t in targets[:1])
        imgs += (f"<p>Plots of earlier snapshots are in plots/iter_N/ (first target: "
                 f"{links}).</p>")
    note = "" if len(folds_done) == K else (
        f"<p><b>Partial:</b> folds {folds_done} of {K} finished.</p>")
    formula = str(table["icc_formula"].iloc[0]) if "icc_formula" in table and len(table) \
        else "textbook"
    mine = table[["target (field) [unit]", "n", "icc_published", "r2", "mae", "mape"]
                 + [c for c in PUBLISHED_REPORT_COLUMNS if c in table]]
    beside = _table(mine, list(mine.columns), "published")
    page = f"""<!doctype html><html><head><meta charset='utf-8'>
<title>MIMIR cross-validation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head><body>
<h1>Cross-validation ({K} folds, snapshot {last})</h1>{note}
<p>Held-out predictions of all folds pooled. Values are in the target table's units.
Calibration factors: {html.escape(method)} estimator. Bland-Altman: {BLAND_ALTMAN}.</p>
{_table(table, ['target (field) [unit]'] + REPORT_COLUMNS, 'metrics')}
<p>icc: the {html.escape(formula)} formula (<code>--icc</code>); icc_textbook is ICC(2,1) with
absolute agreement, icc_published the original MIMIR's formula. MAPE in % (the original
computed a fraction).</p>
<h2>Beside the published figures</h2>
<p>Each target beside the original MIMIR's published 10-fold cross-validation of the
target with the same UK Biobank field (else the same name); "-" where none matches.
Published ICCs use the original's formula, so compare them with icc_published; published
MAE is in published_unit, yours in the table's unit.</p>
{beside}
{extra}
<h2>Metrics per fold (snapshot {last})</h2>
<p>Each fold's held-out subjects; "calibrated" uses the pooled factor.</p>
{_table(folds, ['fold', 'target (field) [unit]', 'n', 'icc', 'r2', 'mae', 'auce',
                'coverage95', 'auce_calibrated', 'coverage95_calibrated'], 'metrics-by-fold')}
<h2>Metrics per snapshot</h2><img src='{rel(plots["_iterations"])}' alt='metrics by iteration'
 style='max-width:100%'>
<h2>Targets</h2>{imgs}</body></html>"""
    write_text(path, page)
