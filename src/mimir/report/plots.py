"""The report's figures (matplotlib, Agg canvas, PNG bytes).

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas
directly (no pyplot state, nothing opened on screen). Groups are told apart by fill,
hatch, line style and marker as well as colour, so the page reads in greyscale print.
"""

from __future__ import annotations

import io

import numpy as np

#: Style of each group in histograms: fill, hatch, line style (readable in greyscale).
GROUP_STYLE: dict[str, dict] = {
    "all": dict(histtype="stepfilled", facecolor="0.78", edgecolor="0.15", hatch=None,
                linestyle="-", linewidth=1.0),
    "female": dict(histtype="stepfilled", facecolor="#f1b6a0", edgecolor="#b2431b",
                   hatch="////", linestyle="-", linewidth=1.2, alpha=0.75),
    "male": dict(histtype="step", facecolor="none", edgecolor="#1a5e8a", hatch=None,
                 linestyle="--", linewidth=1.8),
    "unknown": dict(histtype="step", facecolor="none", edgecolor="0.2", hatch=None,
                    linestyle=":", linewidth=1.5),
}
DPI = 90


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import (
        FigureCanvasAgg,  # lazy: matplotlib loads only where it is used
    )
    from matplotlib.figure import Figure  # lazy: matplotlib loads only where it is used

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def plot_range(x: np.ndarray, bounds: tuple[float, float] | None = None
               ) -> tuple[float, float]:
    """Histogram range: the 0.1-99.9 % quantiles plus 5 % of their span on each side,
    widened to the outlier bounds, within the data's own range (so a few extreme
    values do not squash the distribution; small samples keep their whole range)."""
    qlo, qhi = (float(v) for v in np.percentile(x, [0.1, 99.9]))
    pad = 0.05 * (qhi - qlo)
    lo, hi = qlo - pad, qhi + pad
    if bounds is not None and np.all(np.isfinite(bounds)):
        lo, hi = min(lo, bounds[0]), max(hi, bounds[1])
    lo, hi = max(lo, float(x.min())), min(hi, float(x.max()))
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _bins(n: int) -> int:
    return int(np.clip(2 * np.sqrt(max(n, 1)), 5, 60))


def target_figure(values, sd, groups=None, axis_label: str = "", unit: str = "",
                  bounds: tuple[float, float] | None = None, uncertain: float = np.nan,
                  uncertain_n: int = 0) -> bytes:
    """Histogram of a target's predictions (split by group) and of its predicted sd.

    Parameters
    ----------
    values, sd : array-like of float
        Predicted means and sds per subject (NaN: not predicted).
    groups : array-like of str, optional
        Per subject ``"female"``, ``"male"`` or ``""`` (unknown); None: one group.
    axis_label : str
        Target name with unit, for the x axis.
    unit : str
        Unit of the sd axis.
    bounds : (float, float), optional
        Outlier limits (drawn as dotted lines).
    uncertain : float
        Share of predictions flagged uncertain (NaN: no flags).
    uncertain_n : int
        Their number.

    Returns
    -------
    bytes
        PNG.
    """
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    ok = np.isfinite(x)
    fig = _figure(6.6, 2.5)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
    if ok.sum() == 0:
        ax.text(0.5, 0.5, "no predictions", ha="center", va="center", transform=ax.transAxes)
    else:
        lo, hi = plot_range(x[ok], bounds)
        edges = np.linspace(lo, hi, _bins(int(ok.sum())) + 1)
        if groups is None:
            sets = [("all", ok)]
        else:
            g = np.asarray(groups, dtype=object)
            sets = [(k, ok & (g == v)) for k, v in (("female", "female"), ("male", "male"),
                                                     ("unknown", ""))]
            sets = [(k, m) for k, m in sets if m.any()]
        for key, m in sets:
            st = dict(GROUP_STYLE[key])
            label = f"{key} (n = {int(m.sum()):,})"
            ax.hist(np.clip(x[m], lo, hi), bins=edges, label=label, **st)
        outside = int(((x[ok] < lo) | (x[ok] > hi)).sum())
        if bounds is not None and np.all(np.isfinite(bounds)):
            for b in bounds:
                if lo <= b <= hi:
                    ax.axvline(b, color="0.1", linestyle=(0, (1, 2)), linewidth=1.0)
        if outside:
            ax.set_title(f"{outside:,} beyond the axis, counted at its ends", fontsize=7,
                         loc="right")
        ax.legend(fontsize=7, loc="upper left", frameon=False)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.25)
    ax.set_xlabel(axis_label, fontsize=9)
    ax.set_ylabel("subjects", fontsize=9)
    ax.tick_params(labelsize=8)
    sv = s[np.isfinite(s)]
    if sv.size:
        slo, shi = plot_range(sv)
        ax2.hist(np.clip(sv, slo, shi), bins=np.linspace(slo, shi, _bins(sv.size) + 1),
                 **GROUP_STYLE["all"])
    text = ("no uncertainty flags" if not np.isfinite(uncertain)
            else f"flagged uncertain: {uncertain:.1%} ({uncertain_n:,})")
    ax2.set_title(text, fontsize=7, loc="right")
    u = unit.strip()
    ax2.set_xlabel(f"predicted sd {u}" if u.startswith("(") or not u
                   else f"predicted sd ({u})", fontsize=9)
    ax2.tick_params(labelsize=8)
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib loads only where it is used

    for a, k in ((ax, 7), (ax2, 4)):
        a.xaxis.set_major_locator(MaxNLocator(k))
        a.yaxis.set_major_locator(MaxNLocator(5, integer=True))
    # fixed margins (fitted for this size and these fonts): a tight layout would cost
    # as much as drawing the figure
    fig.subplots_adjust(left=0.09, right=0.985, bottom=0.18, top=0.9, wspace=0.2)
    return _png(fig)


def truth_figure(truth, pred, lower, upper, axis_label: str) -> bytes:
    """Prediction against truth for one target: identity line and interval bars.

    Subjects whose truth lies inside their interval are drawn as filled circles, the
    others as crosses (told apart without colour).

    Returns
    -------
    bytes
        PNG.
    """
    y, m, lo, hi = (np.asarray(v, dtype=np.float64) for v in (truth, pred, lower, upper))
    ok = np.isfinite(y) & np.isfinite(m)
    y, m, lo, hi = y[ok], m[ok], lo[ok], hi[ok]
    fig = _figure(3.2, 3.0)
    ax = fig.subplots()
    if y.size:
        inside = (y >= lo) & (y <= hi)
        span = np.concatenate([y, lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
        a, b = float(span.min()), float(span.max())
        pad = (b - a) * 0.05 or 0.5
        ax.plot([a - pad, b + pad], [a - pad, b + pad], color="0.35", linestyle="--",
                linewidth=1.0, label="identity")
        ax.errorbar(y, m, yerr=[m - lo, hi - m], fmt="none", ecolor="0.55", elinewidth=0.8,
                    capsize=0)
        ax.plot(y[inside], m[inside], "o", color="#1a5e8a", markersize=4,
                label=f"truth inside interval ({int(inside.sum())})")
        if (~inside).any():
            ax.plot(y[~inside], m[~inside], "x", color="#b2431b", markersize=6,
                    markeredgewidth=1.5, label=f"outside ({int((~inside).sum())})")
        ax.set_xlim(a - pad, b + pad)
        ax.set_ylim(a - pad, b + pad)
        ax.legend(fontsize=6.5, loc="upper left", frameon=False)
    ax.set_xlabel(f"truth: {axis_label}", fontsize=8)
    ax.set_ylabel("prediction", fontsize=8)
    ax.tick_params(labelsize=7)
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib loads only where it is used

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    fig.tight_layout(pad=0.4)
    return _png(fig)
