"""The report's histograms as inline SVG, written as text (no plotting library).

A report draws one figure per target (71 with every published module). Drawn with
matplotlib each took about 0.2 s, plus 0.4 s to import it: a quarter of a 96-subject
``mimir infer`` on the benchmark machine (docs/benchmarks.md). Written here as SVG
they cost about a millisecond each, are a few kB, scale with the page and print
sharply. Groups are told apart by fill, hatch, dash and line width as well as colour,
so the page reads in greyscale print.

- :func:`target_svg`: a target's predicted values (by group) beside its predicted sds;
- :func:`change_svg`: follow-up changes, those beyond their interval stacked on top;
- :func:`nice_ticks`, :func:`plot_range`, :func:`bin_count`: the numbers behind them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    """How one group's histogram is drawn."""

    fill: str          #: fill colour, or "none" (an outline only)
    stroke: str        #: outline colour
    hatch: bool        #: diagonal hatching in the stroke colour over the fill
    dash: str          #: SVG stroke-dasharray ("" for a solid line)
    width: float       #: outline width
    opacity: float     #: fill opacity


#: Style of each group (readable in greyscale: fill, hatch, dash and width differ).
GROUP_STYLE: dict[str, Style] = {
    "all": Style("#c7c7c7", "#262626", False, "", 1.0, 1.0),
    "female": Style("#f1b6a0", "#b2431b", True, "", 1.2, 0.75),
    "male": Style("none", "#1a5e8a", False, "6 3", 1.8, 1.0),
    "unknown": Style("none", "#333333", False, "1.5 3", 1.5, 1.0),
}
BEYOND = Style("#b2431b", "#262626", False, "", 0.8, 1.0)   #: changes beyond the interval
WITHIN = Style("#c7c7c7", "#262626", False, "", 0.8, 1.0)   #: changes whose interval holds 0

TICK_PX = 10.0     #: tick label size (px of the figure's own coordinates)
LABEL_PX = 11.0    #: axis label size
NOTE_PX = 8.8      #: titles and legend


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


def bin_count(n: int) -> int:
    """Histogram bins for ``n`` values: 2 sqrt(n), within 5-60."""
    return int(np.clip(2 * np.sqrt(max(n, 1)), 5, 60))


def nice_ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> np.ndarray:
    """At most ``most`` round values within [lo, hi], a step of 1, 2, 2.5 or 5 times a
    power of ten apart (whole numbers only with ``integer``: none when the range holds
    no whole number).

    Examples
    --------
    >>> nice_ticks(0.0, 1.0).tolist()
    [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
    >>> nice_ticks(0.3, 7.9, 4, integer=True).tolist()
    [2.0, 4.0, 6.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo]) if math.isfinite(lo) else np.array([])
    mag = 10.0 ** math.floor(math.log10((hi - lo) / max(most, 2)))
    while True:
        for m in (1.0, 2.0, 2.5, 5.0):
            step = m * mag
            if integer and (step < 1 or step != round(step)):
                continue
            first = math.ceil(lo / step - 1e-9)
            last = math.floor(hi / step + 1e-9)
            if last - first + 1 <= most:
                return np.arange(first, last + 1) * step
        mag *= 10.0


def tick_text(v: float, step: float) -> str:
    """A tick value with the decimals its step needs (thousands separated)."""
    dec = 0 if step >= 1 and step == round(step) else max(0, -math.floor(math.log10(step)))
    if round(step, dec) != step:  # 2.5 x 10^k
        dec += 1
    s = f"{v:,.{dec}f}"
    return "0" if float(v) == 0 else s.replace("-", "\u2212")


def _spacing(ticks: np.ndarray) -> float:
    """The step between ticks (1 for a single tick), for :func:`tick_text`."""
    return float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _n(v: float) -> str:
    """A coordinate, to 0.1 px."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Frame:
    """A plotting area: data ranges mapped onto a rectangle of the SVG (y upwards)."""

    left: float
    top: float
    width: float
    height: float
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, v):
        return self.left + (np.asarray(v, dtype=np.float64) - self.x0) / (self.x1 - self.x0) \
            * self.width

    def y(self, v):
        return self.top + self.height - (np.asarray(v, dtype=np.float64) - self.y0) \
            / (self.y1 - self.y0) * self.height


def hist_frame(left: float, top: float, width: float, height: float, lo: float,
               hi: float, ymax: float, room: float = 0.0) -> Frame:
    """A histogram's area: [lo, hi] with 3 % margins; counts from 0 up so that the
    tallest bar (``ymax``) stops 10 % of the height below ``room`` px left free at the
    top (for the legend)."""
    pad = 0.03 * (hi - lo)
    free = min(room / height, 0.6) + 0.1
    return Frame(left, top, width, height, lo - pad, hi + pad, 0.0, max(ymax, 1) / (1 - free))


def legend_height(n: int) -> float:
    """Height of a :func:`legend` of ``n`` items."""
    return 6 + n * (NOTE_PX + 4) + 3 if n else 0.0


def axes(f: Frame, xlabel: str, ylabel: str = "", title: str = "", xmost: int = 7,
         ymost: int = 6) -> list[str]:
    """The box, ticks with their labels, axis labels and a title (right-aligned)."""
    out = [f"<rect x='{_n(f.left)}' y='{_n(f.top)}' width='{_n(f.width)}' "
           f"height='{_n(f.height)}' fill='none' stroke='#222' stroke-width='0.8'/>"]
    bottom = f.top + f.height
    xt = nice_ticks(f.x0, f.x1, xmost)
    step = _spacing(xt)
    for v in xt:
        px = _n(float(f.x(v)))
        out.append(f"<line x1='{px}' x2='{px}' y1='{_n(bottom)}' y2='{_n(bottom + 3.5)}' "
                   "stroke='#222' stroke-width='0.8'/>"
                   f"<text x='{px}' y='{_n(bottom + 5 + TICK_PX)}' text-anchor='middle' "
                   f"font-size='{TICK_PX:g}'>{tick_text(float(v), step)}</text>")
    yt = nice_ticks(f.y0, f.y1, ymost, integer=True)
    ystep = _spacing(yt)
    for v in yt:
        py = _n(float(f.y(v)))
        out.append(f"<line x1='{_n(f.left - 3.5)}' x2='{_n(f.left)}' y1='{py}' y2='{py}' "
                   "stroke='#222' stroke-width='0.8'/>"
                   f"<text x='{_n(f.left - 5)}' y='{_n(float(f.y(v)) + TICK_PX * 0.35)}' "
                   f"text-anchor='end' font-size='{TICK_PX:g}'>{tick_text(float(v), ystep)}"
                   "</text>")
    out.append(f"<text x='{_n(f.left + f.width / 2)}' y='{_n(bottom + 10 + TICK_PX + LABEL_PX)}'"
               f" text-anchor='middle' font-size='{LABEL_PX:g}'>{_esc(xlabel)}</text>")
    if ylabel:
        cx, cy = f.left - 12 - 3.2 * TICK_PX, f.top + f.height / 2
        out.append(f"<text x='{_n(cx)}' y='{_n(cy)}' text-anchor='middle' "
                   f"font-size='{LABEL_PX:g}' transform='rotate(-90 {_n(cx)} {_n(cy)})'>"
                   f"{_esc(ylabel)}</text>")
    if title:
        out.append(f"<text x='{_n(f.left + f.width)}' y='{_n(f.top - 4)}' text-anchor='end' "
                   f"font-size='{NOTE_PX:g}'>{_esc(title)}</text>")
    return out


def _paint(style: Style, pattern: str) -> str:
    """Fill and stroke attributes of a style (``pattern``: id of its hatch)."""
    fill = f"url(#{pattern})" if style.hatch else style.fill
    attrs = f"fill='{fill}' stroke='{style.stroke}' stroke-width='{style.width:g}'"
    if style.fill != "none" and style.opacity < 1:
        attrs += f" fill-opacity='{style.opacity:g}'"
    if style.dash:
        attrs += f" stroke-dasharray='{style.dash}'"
    return attrs


def hatch(pattern: str, style: Style) -> str:
    """The ``<pattern>`` hatching ``style``'s fill with diagonal lines."""
    return (f"<pattern id='{pattern}' patternUnits='userSpaceOnUse' width='6' height='6'>"
            f"<rect width='6' height='6' fill='{style.fill}'/>"
            f"<path d='M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2' stroke='{style.stroke}' "
            "stroke-width='0.8'/></pattern>")


def step_path(f: Frame, edges: np.ndarray, top: np.ndarray,
              base: np.ndarray | None = None) -> str:
    """The outline of bars ``base`` to ``top`` over ``edges`` (base 0 by default):
    along the tops from the first edge to the last, back along the bases."""
    base = np.zeros(len(top)) if base is None else base
    xs = f.x(edges)
    ty, by = f.y(top), f.y(base)
    d = [f"M{_n(xs[0])},{_n(by[0])}"]
    for i in range(len(top)):
        d.append(f"V{_n(ty[i])}H{_n(xs[i + 1])}")
    d.append(f"V{_n(by[-1])}")
    for i in range(len(top) - 1, -1, -1):
        d.append(f"H{_n(xs[i])}V{_n(by[i - 1]) if i else _n(by[0])}")
    return "".join(d) + "Z"


def legend(f: Frame, items: list[tuple[str, Style, str]]) -> list[str]:
    """Swatches with labels at the top left of ``f`` (``(label, style, pattern)``)."""
    longest = max((len(label) for label, _, _ in items), default=0)
    out = [f"<rect x='{_n(f.left + 3)}' y='{_n(f.top + 3)}' "
           f"width='{_n(32 + longest * NOTE_PX * 0.58)}' "
           f"height='{_n(6 + len(items) * (NOTE_PX + 4))}' fill='#fff' fill-opacity='0.8'/>"]
    for k, (label, style, pattern) in enumerate(items):
        y = f.top + 6 + k * (NOTE_PX + 4)
        out.append(f"<rect x='{_n(f.left + 6)}' y='{_n(y)}' width='18' height='{NOTE_PX:g}' "
                   f"{_paint(style, pattern)}/>"
                   f"<text x='{_n(f.left + 29)}' y='{_n(y + NOTE_PX * 0.85)}' "
                   f"font-size='{NOTE_PX:g}'>{_esc(label)}</text>")
    return out


def svg(width: int, height: int, label: str, parts: list[str],
        defs: Sequence[str] = ()) -> str:
    """A whole ``<svg>`` element, scaling with the page (class ``plot``)."""
    d = f"<defs>{''.join(defs)}</defs>" if defs else ""
    return (f"<svg class='plot' role='img' "
            f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
            f"aria-label='{_esc(label)}' font-family='DejaVu Sans,Arial,sans-serif' "
            f"fill='#111'><title>{_esc(label)}</title>{d}{''.join(parts)}</svg>")


def target_svg(values, sd, groups=None, axis_label: str = "", unit: str = "",
               bounds: tuple[float, float] | None = None, uncertain: float = np.nan,
               uncertain_n: int = 0, uid: str = "t", label: str = "") -> str:
    """Histogram of a target's predictions (split by group) beside one of its sds.

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
    uid : str
        Unique within the page (names the hatch pattern).
    label : str
        What the figure shows, for screen readers (default from ``axis_label``).

    Returns
    -------
    str
        An ``<svg>`` element, 594 x 225 in its own coordinates.
    """
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    ok = np.isfinite(x)
    W, H, top, height = 594, 225, 22.5, 162.0
    parts, defs = [], []
    if ok.sum() == 0:
        f = Frame(53.5, top, 304.3, height, 0.0, 1.0, 0.0, 1.0)
        parts.append(f"<text x='{_n(f.left + f.width / 2)}' y='{_n(top + height / 2)}' "
                     f"text-anchor='middle' font-size='{LABEL_PX:g}'>no predictions</text>")
        parts += axes(f, axis_label, "subjects")
    else:
        lo, hi = plot_range(x[ok], bounds)
        edges = np.linspace(lo, hi, bin_count(int(ok.sum())) + 1)
        if groups is None:
            sets = [("all", ok)]
        else:
            g = np.asarray(groups, dtype=object)
            sets = [(k, ok & (g == v)) for k, v in (("female", "female"), ("male", "male"),
                                                     ("unknown", ""))]
            sets = [(k, m) for k, m in sets if m.any()]
        counts = [np.histogram(np.clip(x[m], lo, hi), bins=edges)[0] for _, m in sets]
        f = hist_frame(53.5, top, 304.3, height, lo, hi, max(int(c.max()) for c in counts),
                       room=legend_height(len(sets)))
        keys = []
        for (key, m), c in zip(sets, counts, strict=True):
            st = GROUP_STYLE[key]
            pattern = f"h-{uid}-{key}"
            if st.hatch:
                defs.append(hatch(pattern, st))
            parts.append(f"<path d='{step_path(f, edges, c)}' {_paint(st, pattern)}/>")
            keys.append((f"{key} (n = {int(m.sum()):,})", st, pattern))
        if bounds is not None and np.all(np.isfinite(bounds)):
            for b in bounds:
                if lo <= b <= hi:
                    px = _n(float(f.x(b)))
                    parts.append(f"<line x1='{px}' x2='{px}' y1='{_n(f.top)}' "
                                 f"y2='{_n(f.top + f.height)}' stroke='#1a1a1a' "
                                 "stroke-dasharray='1 2'/>")
        outside = int(((x[ok] < lo) | (x[ok] > hi)).sum())
        parts += legend(f, keys)
        parts += axes(f, axis_label, "subjects",
                      f"{outside:,} beyond the axis, counted at its ends" if outside else "")
    sv = s[np.isfinite(s)]
    text = ("no uncertainty flags" if not np.isfinite(uncertain)
            else f"flagged uncertain: {uncertain:.1%} ({uncertain_n:,})")
    u = unit.strip()
    sd_label = f"predicted sd {u}" if u.startswith("(") or not u else f"predicted sd ({u})"
    if sv.size:
        slo, shi = plot_range(sv)
        sedges = np.linspace(slo, shi, bin_count(sv.size) + 1)
        c = np.histogram(np.clip(sv, slo, shi), bins=sedges)[0]
        f2 = hist_frame(406.2, top, 172.0, height, slo, shi, int(c.max()))
        parts.append(f"<path d='{step_path(f2, sedges, c)}' "
                     f"{_paint(GROUP_STYLE['all'], '')}/>")
    else:
        f2 = Frame(406.2, top, 172.0, height, 0.0, 1.0, 0.0, 1.0)
    parts += axes(f2, sd_label, "", text, xmost=5)
    return svg(W, H, label or f"histograms of {axis_label}", parts, defs)


def change_svg(x: np.ndarray, flags: np.ndarray, axis: str, label: str = "") -> str:
    """Histogram of follow-up changes: those beyond their interval stacked on those
    within, with a dotted line at no change.

    Returns
    -------
    str
        An ``<svg>`` element, 414 x 234 in its own coordinates.
    """
    x = np.asarray(x, dtype=np.float64)
    flags = np.asarray(flags, dtype=bool)
    W, H = 414, 234
    parts = []
    xlabel = f"change (second - first visit), {axis}"
    if len(x):
        lo, hi = plot_range(x)
        edges = np.linspace(lo, hi, max(8, min(40, int(np.sqrt(len(x))) + 5)))
        within = np.histogram(np.clip(x[~flags], lo, hi), bins=edges)[0]
        beyond = np.histogram(np.clip(x[flags], lo, hi), bins=edges)[0]
        f = hist_frame(56.0, 12.0, 340.0, 170.0, lo, hi, int((within + beyond).max()),
                       room=legend_height(2))
        parts.append(f"<path d='{step_path(f, edges, within)}' {_paint(WITHIN, '')}/>")
        if beyond.any():
            parts.append(f"<path d='{step_path(f, edges, within + beyond, within)}' "
                         f"{_paint(BEYOND, '')}/>")
        if lo <= 0 <= hi:
            px = _n(float(f.x(0.0)))
            parts.append(f"<line x1='{px}' x2='{px}' y1='{_n(f.top)}' "
                         f"y2='{_n(f.top + f.height)}' stroke='#000' stroke-dasharray='1 2'/>")
        parts += legend(f, [("interval includes 0", WITHIN, ""),
                            ("beyond the interval", BEYOND, "")])
    else:
        f = Frame(56.0, 12.0, 340.0, 170.0, 0.0, 1.0, 0.0, 1.0)
    parts += axes(f, xlabel, "subjects", xmost=6)
    return svg(W, H, label or f"changes, {axis}", parts)
