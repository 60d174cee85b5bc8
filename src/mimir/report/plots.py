"""The demo's comparison figure (matplotlib, Agg canvas, PNG bytes).

:func:`truth_figure` (prediction against truth, for ``mimir demo``) is drawn on a
:class:`matplotlib.figure.Figure` with the Agg canvas directly (no pyplot state,
nothing opened on screen). Inside and outside the interval are told apart by marker
as well as colour. The report's own histograms are inline SVG
(:mod:`mimir.report.charts`), so ``infer`` never loads matplotlib.
"""

from __future__ import annotations

import io

import numpy as np

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
