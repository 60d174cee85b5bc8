"""The report's opening and closing sections: the targets at a glance, and what to cite.

The page opens with :func:`summary_section`: the counts (subjects, predicted, failed,
failed QC, excluded) and one row per target with its predictions' spread, the share
flagged uncertain, the module's own cross-validation accuracy (``module.json``, as
``run.json`` recorded it) and the published accuracy of the matching target
(:mod:`mimir.modules.catalogue`). The run's metadata comes last, collapsed
(:func:`mimir.report.build.run_section`), and the page ends with what to cite.
"""

from __future__ import annotations

import math

from mimir._version import CITATION
from mimir.report.page import Section, esc, fmt, table
from mimir.report.stats import OUTLIER_Z


def count_rows(n: dict) -> list[list]:
    """The counts table's rows: (what, subjects)."""
    rows = [["subjects", n["subjects"]], ["predicted", n["predicted"]],
            ["failed", n["failed"]], ["excluded", n["excluded"]]]
    if "qc_failed" in n:
        rows.append(["QC failed (qc_pass false)", n["qc_failed"]])
    if n.get("qc_unknown"):
        rows.append(["QC unknown (no facts in the cache)", n["qc_unknown"]])
    if "qc_not_predicted" in n:
        rows.append(["not predicted: QC failed with --qc strict", n["qc_not_predicted"]])
    return rows


def headline(n: dict) -> str:
    """The counts in one line (the page's subtitle)."""
    parts = [f"{fmt(n['subjects'])} subjects", f"{fmt(n['predicted'])} predicted",
             f"{fmt(n['failed'])} failed"]
    if "qc_failed" in n:
        parts.append(f"{fmt(n['qc_failed'])} failed QC")
    parts.append(f"{fmt(n['excluded'])} excluded")
    return ", ".join(parts)


def _num(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(f) else fmt(f, digits)


def accuracy_cells(t) -> list[str]:
    """Own ICC and MAE, published ICC and MAE (with its unit where it differs)."""
    own = t.own or {}
    pub = t.published
    pub_mae = "-"
    if pub is not None:
        pub_mae = _num(pub.mae)
        if pub.unit and pub.unit != t.unit and pub_mae != "-":
            pub_mae += f" {pub.unit}"
    return [_num(own.get("icc")), _num(own.get("mae")),
            _num(pub.icc) if pub is not None else "-", pub_mae]


def summary_section(data, st: dict, n: dict) -> Section:
    """Counts, then one row per target: spread, uncertainty, own and published accuracy."""
    body = [table(["", "subjects"], [[k, fmt(v)] for k, v in count_rows(n)], numeric={1},
                  attrs="id='counts'")]
    rows = []
    for t in data.targets:
        s = st[t.label]["summary"]
        pub = t.published
        rows.append([t.label, t.module or "-", t.unit, t.field or "-", fmt(s["n"]),
                     fmt(s["median"]), f"{fmt(s['p2_5'])} to {fmt(s['p97_5'])}",
                     fmt(s["median_sd"]),
                     "-" if not math.isfinite(s["uncertain"]) else f"{s['uncertain']:.1%}",
                     fmt(len(st[t.label]["outliers"][0])) if st[t.label]["looked"] else "-",
                     *accuracy_cells(t), pub.target if pub is not None else "-"])
    body.append(table(["target", "module", "unit", "field", "predicted", "median",
                       "2.5-97.5 %", "median sd", "uncertain", f"beyond {OUTLIER_Z:g} z",
                       "own ICC", "own MAE", "published ICC", "published MAE",
                       "published target"], rows,
                      numeric={4, 5, 7, 8, 9, 10, 11, 12, 13}, attrs="id='targets-table'"))
    body.append("<p class='muted'>uncertain: share of predictions whose sd is above the "
                "module's threshold (the <code>_uncertain</code> columns). own: the "
                "module's cross-validation (its <code>module.json</code>; none for the "
                "published modules). published: the original MIMIR's 10-fold "
                "cross-validation of the target with the same UK Biobank field, else the "
                "same name (<code>mimir modules info MODULE</code> lists both sources); its "
                "ICC is the original's formula. Every column of the tables is described "
                "in <code>columns.csv</code>.</p>")
    if not data.targets:
        body.append("<p>The prediction table holds no targets.</p>")
    return Section("targets", "Targets", "\n".join(body))


def cite_section() -> Section:
    """What to cite (also printed by ``mimir --version``)."""
    lines = CITATION.split("\n")
    items = "".join(f"<li>{esc(ln.lstrip('- '))}</li>" for ln in lines[1:])
    return Section("cite", "How to cite", f"<p>{esc(lines[0])}</p><ul class='ex'>{items}</ul>")
