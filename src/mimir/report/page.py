"""The HTML page: sections, tables and the self-contained document around them.

The page references nothing outside itself: style and the one small script are inline,
images are ``data:`` URIs. It reads at any width: every table sits in a box that
scrolls sideways on its own (the page never does), images shrink to the width, and long
names break. The script enlarges a thumbnail on click (Escape or another click closes
it) and records errors, image loading, the drawn histograms and the layout (overflow,
where the targets start) as attributes of the document, read by tests through a
headless browser; the page is complete without it.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Collection
from dataclasses import dataclass

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:1.5em auto;max-width:1240px;padding:0 1em;color:#111;line-height:1.35;
 overflow-wrap:anywhere}
.tw{overflow-x:auto;max-width:100%;margin:.6em 0}.tw table{margin:0}
details>summary{cursor:pointer;color:#333;margin:.4em 0}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:2px solid #333;margin-top:1.6em}
h3{margin:1.2em 0 .3em;font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #bbb;padding:2px 7px;text-align:left;vertical-align:top;
 overflow-wrap:normal}
td.n{white-space:nowrap}
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}
nav a{margin-right:1em}.muted{color:#555;font-size:.9em}
.plot{display:block;max-width:100%;height:auto}
.plots{display:flex;flex-wrap:wrap;gap:6px 20px}.tg h3{margin-top:.8em}
.grid{display:flex;flex-wrap:wrap;gap:8px}
figure.th{margin:0;font-size:.78em;max-width:100%}
figure.th figcaption{word-break:break-all;margin-top:2px}
figure.th .im:not(.none){cursor:zoom-in}
figure.th.zoom{position:fixed;left:0;top:0;right:0;bottom:0;z-index:10;margin:0;
 width:auto!important;background:rgba(0,0,0,.88);color:#fff;display:flex;
 flex-direction:column;align-items:center;justify-content:center;font-size:1em}
figure.th.zoom .im{width:min(96vw,270vh)!important;height:auto!important;
 aspect-ratio:3/1;cursor:zoom-out}
figure.th.zoom svg.ovl{width:100%;height:100%}
.im{position:relative;background-size:100% 100%;background-color:#000;
 -webkit-print-color-adjust:exact;print-color-adjust:exact}
.im.none{background:#f3f3f3;color:#555;display:flex;align-items:center;
 justify-content:center;border:1px dashed #999}
svg.ovl{position:absolute;left:0;top:0}
svg.ovl .ov{fill:#ffd400;fill-opacity:.35}
svg.ovl .gap{fill:#ff2a2a;fill-opacity:.55}
svg.ovl .bad{fill:#ff2a2a;fill-opacity:.6}
svg.ovl line.bd{stroke:#ffd400;stroke-width:.8}
svg.ovl line.bad{stroke:#ff2a2a;stroke-width:1.6;stroke-dasharray:4 2}
svg.ovl .hl{fill:none;stroke:#ff2a2a;stroke-width:2;stroke-dasharray:6 3}
svg.ovl .sn{fill:#fff;font:bold 9px sans-serif;paint-order:stroke;stroke:#000;
 stroke-width:2px}
.key{display:inline-block;width:2.2em;height:.8em;vertical-align:middle;margin:0 .3em}
.key.ov{background:#ffd400;opacity:.6}.key.bad{background:#ff2a2a;opacity:.7}
.key.hl{border:2px dashed #ff2a2a;height:.6em}
ul.ex{margin:.2em 0 .8em;padding-left:1.2em;font-size:.88em}
@media (max-width:600px){body{margin:.6em auto;padding:0 .5em}nav a{margin-right:.6em}}
@media print{h2{break-before:auto}.th,.plots .plot{break-inside:avoid}}
"""

SCRIPT = """<script>
(function () {
  var root = document.documentElement;
  function note(msg) {
    root.setAttribute("data-errors", (root.getAttribute("data-errors") || "") + msg + "\\n");
  }
  window.addEventListener("error", function (e) {
    var t = e.target || {};
    note(e.message ? "error: " + e.message : "not loaded: " + (t.src || t.href || t.tagName));
  }, true);
  function closeAll() {
    var open = document.querySelectorAll("figure.th.zoom");
    for (var i = 0; i < open.length; i++) open[i].classList.remove("zoom");
  }
  document.addEventListener("click", function (e) {
    var fig = e.target.closest ? e.target.closest("figure.th") : null;
    if (fig && fig.classList.contains("zoom")) { fig.classList.remove("zoom"); return; }
    closeAll();
    var im = e.target.closest ? e.target.closest(".im") : null;
    if (fig && im && !im.classList.contains("none")) fig.classList.add("zoom");
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeAll(); });
  window.addEventListener("load", function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].naturalWidth > 0) ok++; }
    root.setAttribute("data-images-loaded", ok + "/" + imgs.length);
    var plots = document.querySelectorAll("svg.plot"), drawn = 0;
    for (var j = 0; j < plots.length; j++) {
      if (plots[j].getBoundingClientRect().width > 0) drawn++;
    }
    root.setAttribute("data-plots-drawn", drawn + "/" + plots.length);
    root.setAttribute("data-overflow", String(root.scrollWidth - root.clientWidth));
    root.setAttribute("data-viewport", root.clientWidth + "x" + window.innerHeight);
    var t = document.getElementById("targets");
    if (t) root.setAttribute("data-targets-top",
                             String(Math.round(t.getBoundingClientRect().top)));
    if (!root.hasAttribute("data-errors")) root.setAttribute("data-errors", "");
  });
})();
</script>"""


@dataclass
class Section:
    """One ``<section>`` of the page: its anchor, heading (``h2``) and body HTML."""

    id: str
    title: str
    body: str

    def html(self) -> str:
        return (f"<section id='{esc(self.id)}'><h2>{esc(self.title)}</h2>\n{self.body}\n"
                "</section>")


def esc(value) -> str:
    """HTML-escape ``str(value)``."""
    return html.escape(str(value), quote=True)


def fmt(v, digits: int = 4) -> str:
    """A number for people: integers with thousands separators, other numbers with
    ``digits`` significant digits (no exponent below 10^6); ``-`` for missing values."""
    if v is None or isinstance(v, (bool, str)):
        return "-" if v is None else str(v)
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "-"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if 1000 <= abs(f) < 1e6:
        return f"{f:,.0f}"
    return f"{f:.{digits}g}"


def table(header: list[str], rows: list[list], numeric: Collection[int] = frozenset(),
          attrs: str = "", raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are HTML already)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            text = c if raw else esc(c)
            cls = " class='n'" if i in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = f"<tr>{head}</tr>" if header else ""
    return f"<div class='tw'><table {attrs}>{head}{''.join(body)}</table></div>"


def img(uri: str, alt: str, cls: str = "plot") -> str:
    """An ``<img>`` of a ``data:`` URI."""
    return f"<img class='{cls}' src='{uri}' alt='{esc(alt)}'>"


def document(title: str, subtitle: str, sections: list[Section], extra_css: str = "") -> str:
    """The whole page: title, table of contents, sections."""
    nav = " ".join(f"<a href='#{esc(s.id)}'>{esc(s.title)}</a>" for s in sections)
    body = "\n".join(s.html() for s in sections)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>\n"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>\n"
            f"<title>{esc(title)}</title>\n{SCRIPT}\n<style>{CSS}\n{extra_css}</style>"
            f"</head><body>\n<h1>{esc(title)}</h1>\n<p class='muted'>{subtitle}</p>\n"
            f"<nav>{nav}</nav>\n{body}\n</body></html>\n")
