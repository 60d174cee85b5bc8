"""Building ``report.html`` for an ``infer`` output folder.

Sections, in order: the targets (counts, QC failures among them, and one row per target
with its spread, the share flagged uncertain, the module's own and the published
accuracy; :mod:`mimir.report.summary`), their distributions (histograms by sex where
known, predicted sd), outliers (beyond 4 robust z-scores, with thumbnails that enlarge
on click), QC (counts per flag, sampled thumbnails with station outlines), failures
(grouped by kind, with examples), the run (engine, command, modules and snapshot
checksums, device, precision, timings; collapsed) and what to cite. Everything is
aggregated or sampled, so the page stays small for a UK Biobank-sized run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mimir._version import __version__
from mimir.atomic import write_text
from mimir.qc.flags import FLAGS
from mimir.report import charts
from mimir.report.data import RunData, counts, load_run
from mimir.report.followup import extra_sections
from mimir.report.page import Section, document, esc, fmt, table
from mimir.report.stats import (
    OUTLIER_Z,
    bool_values,
    find_outliers,
    flag_counts,
    flagged_names,
    group_failures,
    robust_scale,
    shuffled,
    target_summary,
)
from mimir.report.summary import cite_section, headline, summary_section
from mimir.report.thumbs import STATION_FLAGS, Thumbs

#: Fewest predictions of a target for which outliers are looked for.
OUTLIER_MIN_N = 10
#: Outliers shown per target (at most; fewer when the image budget runs short).
OUTLIERS_SHOWN = 8
#: Display scale of outlier and QC thumbnails (four to a row).
OUTLIER_SCALE = 0.75
QC_SCALE = 0.78
#: Thumbnails per QC flag.
QC_SHOWN = 12
#: Flagged subjects looked up in the cache per flag when picking its thumbnails.
QC_CANDIDATES = 200
#: Failure examples per kind.
FAILURE_EXAMPLES = 5
#: Distinct images embedded in one page.
IMAGE_BUDGET = 240
#: Shards listed one by one in a merged run (the rest are summed only).
SHARDS_LISTED = 20
REPORT_NAME = "report.html"


def _values(runs: list, key: str) -> str:
    vals = []
    for r in runs:
        v = r.get(key)
        v = "-" if v is None else str(v)
        if v not in vals:
            vals.append(v)
    return ", ".join(vals) if vals else "-"


def run_section(data: RunData, n: dict) -> Section:
    """Engine, command, modules, device, precision, the cache and timings (collapsed:
    the page opens with the targets)."""
    runs = [r for r in data.runs if r] or [{}]
    merged = data.merged is not None
    rows = [["engine", _values(runs, "engine")]]
    if merged:
        rows.append(["merged from", f"{len(data.runs)} shard runs (merged.json)"])
        rows.append(["command (shard 1)", runs[0].get("command", "-")])
    else:
        rows.append(["command", runs[0].get("command", "-")])
    precision = _values(runs, "precision")
    if any(r.get("compile") for r in runs):
        precision += ", torch.compile"
    rows += [["backend", _values(runs, "backend")], ["device", _values(runs, "device")],
             ["threads", _values(runs, "threads")], ["precision", precision],
             ["batch size", _values(runs, "batch_size")],
             ["interval level", f"{data.level:.4g}" if data.level else "-"],
             ["QC mode", _values(runs, "qc")], ["image cache", _values(runs, "cache")],
             ["row order", _values(runs, "row_order")], ["Python", _values(runs, "python")],
             ["torch", _values(runs, "torch")]]
    if not all(r.get("complete") for r in runs):
        rows.append(["complete", "no: run.json missing or incomplete for some runs"])
    mtimes = []
    for p in [data.out / "run.json", data.out / "merged.json"]:
        if p.is_file():
            mtimes.append(p.stat().st_mtime)
    if mtimes:
        rows.append(["results written", _utc(max(mtimes))])
    rows.append(["report built", f"{_utc(None)} by mimir {__version__}"])
    body = [table([], rows, attrs="class='kv' id='run-table'")]

    mods: list = next((r["modules"] for r in runs if r.get("modules")), [])
    if mods:
        body.append("<h3>Modules</h3>")
        body.append(table(["module", "backbone", "targets", "snapshot SHA-256", "path"],
                          [[esc(m.get("name")), esc(m.get("backbone")), fmt(m.get("targets")),
                            f"<code>{esc(m.get('snapshot_sha256', '-'))}</code>",
                            esc(m.get("path", ""))] for m in mods], numeric={2}, raw=True,
                          attrs="id='modules'"))
    fails = [f for r in runs for f in r.get("module_failures") or []]
    if fails:
        body.append("<p><b>Modules that failed to load:</b></p><ul class='ex'>" + "".join(
            f"<li>{esc(f.get('module'))}: {esc(f.get('message'))}</li>" for f in fails)
            + "</ul>")

    body.append("<h3>Timings</h3>")
    keys = ["preprocess", "inference", "wait", "total"]
    tims = [r.get("timings_s") or {} for r in runs]
    if merged:
        trow = [[k, fmt(sum(t.get(k, 0.0) for t in tims), 4)] for k in keys]
        trow.append(["longest shard (total)", fmt(max((t.get("total", 0.0) for t in tims),
                                                      default=0.0), 4)])
        body.append(table(["stage", "seconds (sum over shards)"], trow, numeric={1}))
        srow = []
        for r in runs[:SHARDS_LISTED]:
            sh = r.get("shard") or ["?", "?"]
            srow.append([f"{sh[0]}/{sh[1]}", r.get("device", "-"),
                         fmt((r.get("counts") or {}).get("subjects")),
                         fmt((r.get("timings_s") or {}).get("total"), 4)])
        body.append(table(["shard", "device", "subjects", "total s"], srow, numeric={2, 3}))
        if len(runs) > SHARDS_LISTED:
            body.append(f"<p class='muted'>... and {len(runs) - SHARDS_LISTED} more "
                        "shards.</p>")
    else:
        body.append(table(["stage", "seconds"], [[k, fmt(tims[0].get(k), 4)] for k in keys],
                          numeric={1}))
        body.append("<p class='muted'>preprocess and inference overlap; wait: inference "
                    "waiting for preprocessed subjects.</p>")
    return Section("run", "Run", "<details id='run-details'><summary>Engine, command, "
                   "modules, device, image cache and timings</summary>\n"
                   + "\n".join(body) + "\n</details>")


def _utc(ts: float | None) -> str:
    t = dt.datetime.now(dt.timezone.utc) if ts is None else \
        dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _numeric(table_: pd.DataFrame, col: str | None) -> np.ndarray:
    if col is None or col not in table_.columns:
        return np.full(len(table_), np.nan)
    return pd.to_numeric(table_[col], errors="coerce").to_numpy(dtype=np.float64)


def _target_stats(data: RunData) -> dict:
    """Per target label: values, sd, bounds, summary and outliers (computed once)."""
    res = {}
    for t in data.targets:
        x = _numeric(data.table, t.mean)
        s = _numeric(data.table, t.sd)
        unc = None
        if t.uncertain:
            value, known = bool_values(data.table[t.uncertain])
            unc = value[known & np.isfinite(x)]
        summ = target_summary(x, s, unc)
        med, scale = robust_scale(x)
        looked = not t.is_sex and summ["n"] >= OUTLIER_MIN_N
        bounds = (med - OUTLIER_Z * scale, med + OUTLIER_Z * scale) \
            if looked and scale > 0 else None
        if looked:
            idx, z = find_outliers(x)
        else:
            idx, z = np.array([], dtype=int), np.array([])
        res[t.label] = {"looked": looked, "x": x, "sd": s, "lo": _numeric(data.table, t.lower),
                        "hi": _numeric(data.table, t.upper), "summary": summ, "bounds": bounds,
                        "outliers": (idx, z), "median": med, "scale": scale}
    return res


def distributions_section(data: RunData, st: dict) -> Section:
    """One figure per target: predicted values (by sex where known) and sds."""
    body = []
    if data.sex is not None:
        g = data.sex
        body.append(f"<p>Histograms are split by {esc(data.sex_source)}: "
                    f"<span id='sex-counts'>female {fmt(int((g == 'female').sum()))}, "
                    f"male {fmt(int((g == 'male').sum()))}, unknown "
                    f"{fmt(int((g == '').sum()))}</span>.</p>")
    else:
        body.append("<p>No module predicts sex and no covariates were given "
                    "(<code>mimir report OUT --covariates FILE</code>), so histograms are "
                    "not split by sex.</p>")
    lab = f"{data.level * 100:g} %" if data.level else ""
    body.append(f"<p class='muted'>Left: predicted values (dotted lines: {OUTLIER_Z:g} "
                "robust z-scores from the median; values beyond the axis are counted at "
                "its ends). Right: predicted standard deviations"
                f"{' (the ' + lab + ' interval is mean &#177; z &#215; sd)' if lab else ''}; "
                "uncertain: sd above the module's threshold (the <code>_uncertain</code> "
                "columns).</p>")
    figs = []
    for k, t in enumerate(data.targets):
        d = st[t.label]
        groups = None
        if data.sex is not None and not (t.is_sex and "predicted" in data.sex_source):
            groups = data.sex
        s = d["summary"]
        fig = charts.target_svg(d["x"], d["sd"], groups, t.axis_label, t.unit, d["bounds"],
                                s["uncertain"], s["uncertain_n"], uid=str(k),
                                label=f"histograms of {t.label}")
        figs.append(f"<div class='tg'><h3 id='t-{esc(t.label)}'>{esc(t.axis_label)}"
                    f"{' &#183; ' + esc(t.module) if t.module else ''}</h3>{fig}</div>")
    body.append("<div class='plots'>" + "".join(figs) + "</div>")
    if not data.targets:
        body.append("<p>The prediction table holds no targets.</p>")
    return Section("distributions", "Distributions", "\n".join(body))


def _interval(d: dict, i: int) -> str:
    lo, hi = d["lo"][i], d["hi"][i]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f" [{fmt(lo)}, {fmt(hi)}]"


def outliers_per_target(room: int, targets: int, cap: int = OUTLIERS_SHOWN,
                        row: int = 4) -> int:
    """Outliers shown per target: ``cap``, or fewer so that ``targets`` targets share
    ``room`` images; whole rows of ``row`` thumbnails where possible; at least 1."""
    per = min(cap, room // max(targets, 1))
    if per >= row:
        per -= per % row
    return max(per, 1)


def outliers_section(data: RunData, st: dict, thumbs: Thumbs) -> Section:
    """Per target, subjects beyond the robust z limit, most extreme first, with images."""
    with_out = [t for t in data.targets if len(st[t.label]["outliers"][0])]
    per = outliers_per_target(max(thumbs.budget - thumbs.used, 0), len(with_out))
    body = [f"<p>Subjects whose prediction lies more than {OUTLIER_Z:g} robust z-scores "
            "from the target's median (z = (value - median) / (1.4826 &#215; median "
            f"absolute deviation)); at most {per} per target are shown, most extreme "
            f"first. Sex targets (two groups by design) and targets with fewer than "
            f"{OUTLIER_MIN_N} predictions are left out.</p>"]
    qc_flags = {}
    if data.qc is not None and "qc_flags" in data.qc.columns:
        qc_flags = dict(zip(data.qc["name"], data.qc["qc_flags"].astype(str), strict=True))
    names = data.table["name"].to_numpy()
    for t in with_out:
        d = st[t.label]
        idx, z = d["outliers"]
        body.append(f"<h3>{esc(t.axis_label)}: {fmt(len(idx))} beyond {OUTLIER_Z:g} z "
                    f"<span class='muted'>(median {fmt(d['median'])}, robust sd "
                    f"{fmt(d['scale'])})</span></h3>")
        cards = []
        for i, zi in zip(idx[:per], z[:per], strict=True):
            name = str(names[i])
            flags = qc_flags.get(name, "")
            cap = (f"<b>{esc(name)}</b><br>{esc(fmt(d['x'][i]))}{esc(_interval(d, i))}"
                   f" {esc(t.unit)}, z = {zi:+.1f}"
                   + (f"<br>QC: {esc(flags)}" if flags and flags != "nan" else ""))
            cards.append(thumbs.figure(name, cap, scale=OUTLIER_SCALE))
        body.append("<div class='grid'>" + "".join(cards) + "</div>")
        if len(idx) > per:
            body.append(f"<p class='muted'>... and {fmt(len(idx) - per)} more "
                        "(predictions.csv lists every subject).</p>")
    if not with_out:
        body.append("<p id='no-outliers'>No prediction lies beyond the limit.</p>")
    return Section("outliers", "Outliers", "\n".join(body))


QC_LEGEND = ("<p class='muted'>Thumbnails: water | fat | fat fraction (coronal and "
             "sagittal halves each), head at the top. For flags about stations, the "
             "outlines from the cache sidecar: <span class='key ov'></span>overlap of "
             "neighbouring stations (lines at the next station's first and the previous "
             "station's last slice), numbers 1-6 from the neck; <span class='key bad'>"
             "</span>the overlap or gap the flag concerns; <span class='key hl'></span>the "
             "station found swapped, or the lowest 5 slices for a knee that is not "
             "covered. Up to {n} subjects per flag, picked at random (reproducibly) among "
             "those with a cached image.</p>")


def qc_section(data: RunData, thumbs: Thumbs) -> Section:
    """Counts per flag and sampled thumbnails of the flagged subjects."""
    if data.qc is None:
        return Section("qc", "Quality control",
                       "<p>This run wrote no QC table (<code>--qc off</code>).</p>")
    counts_ = flag_counts(data.qc, FLAGS)
    body = [table(["flag", "severity", "subjects", "share", "rule"],
                  [[r.flag, r.severity, fmt(int(r.subjects)), f"{r.share:.2%}", r.rule]
                   for r in counts_.itertuples()], numeric={2, 3}, attrs="id='qc-counts'")]
    if data.cache is None:
        body.append("<p>The image cache was not found, so no images are shown (rebuild "
                    "with <code>mimir report OUT --cache DIR</code>).</p>")
    raised = [r for r in counts_.itertuples() if r.subjects > 0]
    detail = {}
    if raised and "qc_detail" in data.qc.columns:
        detail = dict(zip(data.qc["name"], data.qc["qc_detail"].astype(str), strict=True))
    if raised:
        body.append(QC_LEGEND.format(n=QC_SHOWN))
    for r in raised:
        names = shuffled(flagged_names(data.qc, r.flag))
        picked = []
        for n in names[:QC_CANDIDATES]:
            if thumbs.has(n):
                picked.append(n)
                if len(picked) == QC_SHOWN:
                    break
        body.append(f"<h3 id='flag-{esc(r.flag)}'>{esc(r.flag)} ({esc(r.severity or '-')}):"
                    f" {fmt(int(r.subjects))}</h3>")
        if not picked:
            body.append("<p class='muted'>No cached image for these subjects.</p>")
            continue
        cards = []
        for n in picked:
            d = detail.get(n, "")
            cap = f"<b>{esc(n)}</b>" + (f"<br>{esc(d)}" if d and d != "nan" else "")
            cards.append(thumbs.figure(n, cap, flag=r.flag if r.flag in STATION_FLAGS
                                       else None, scale=QC_SCALE))
        body.append("<div class='grid'>" + "".join(cards) + "</div>")
    return Section("qc", "Quality control", "\n".join(body))


def failures_section(data: RunData) -> Section:
    """Failures grouped by kind, with examples."""
    groups = group_failures(data.failures, FAILURE_EXAMPLES)
    if not groups:
        return Section("failures", "Failures", "<p id='no-failures'>No subject failed or "
                                               "was excluded.</p>")
    body = [table(["kind", "subjects"], [[g["kind"], fmt(g["count"])] for g in groups],
                  numeric={1}, attrs="id='failure-kinds'")]
    for g in groups:
        body.append(f"<h3>{esc(g['kind'])}: {fmt(g['count'])}</h3><ul class='ex'>"
                    + "".join(f"<li><b>{esc(n)}</b>: {esc(m)}</li>" for n, m in g["examples"])
                    + "</ul>")
        if g["count"] > len(g["examples"]):
            body.append(f"<p class='muted'>... and {fmt(g['count'] - len(g['examples']))} "
                        "more in failures.csv.</p>")
    return Section("failures", "Failures", "\n".join(body))


def build_page(data: RunData, title: str | None = None, lead: Sequence[Section] = (),
               tail: Sequence[Section] = (), thumbs: Thumbs | None = None) -> str:
    """The report page for loaded run data (extra sections before and after)."""
    n = counts(data)
    st = _target_stats(data)
    thumbs = thumbs or Thumbs(data.cache, budget=IMAGE_BUDGET)
    qc = qc_section(data, thumbs)           # QC thumbnails first: a fixed number
    outl = outliers_section(data, st, thumbs)
    sections = [summary_section(data, st, n), *lead, distributions_section(data, st), outl,
                qc, failures_section(data), *extra_sections(data), *tail, run_section(data, n), cite_section()]
    kind = "merged shards" if data.merged is not None else "run"
    subtitle = (f"<span id='headline'>{headline(n)}</span> &#183; {esc(data.out.resolve())} "
                f"({kind})")
    return document(title or "MIMIR report", subtitle, sections, extra_css=thumbs.css())


def build_report(out: str | os.PathLike, covariates: str | os.PathLike | None = None,
                 cache: str | os.PathLike | None = None, dest: str | os.PathLike | None = None,
                 title: str | None = None, lead: Sequence[Section] = (),
                 tail: Sequence[Section] = ()) -> Path:
    """Write the report of an ``infer`` (or ``merge``) output folder.

    Parameters
    ----------
    out : path-like
        The output folder.
    covariates : path-like, optional
        CSV/TSV with ``eid`` and ``sex`` columns: histograms split by recorded sex.
    cache : path-like, optional
        The image cache, when not where the run recorded it.
    dest : path-like, optional
        The page to write (default ``OUT/report.html``); replaced atomically.
    title : str, optional
        Page title.
    lead, tail : list of Section
        Extra sections after the targets and after the failures (the demo adds its
        truth comparison).

    Returns
    -------
    Path
        The page written.
    """
    data = load_run(out, covariates=covariates, cache=cache)
    page = build_page(data, title=title, lead=list(lead), tail=list(tail))
    path = Path(dest) if dest is not None else Path(out) / REPORT_NAME
    write_text(path, page)
    return path


def try_build_report(out: str | os.PathLike) -> tuple[Path | None, str | None]:
    """Build ``OUT/report.html`` at the end of ``infer`` or ``merge``, never failing.

    The tables are written before; a report that cannot be built must not cost the run
    its results, so any error comes back as a message (rebuild with ``mimir report
    OUT``) instead of being raised.

    Returns
    -------
    (Path or None, str or None)
        The report, or None and what went wrong.
    """
    try:
        return build_report(out), None
    except Exception as exc:  # the results are safe; the caller tells the user
        return None, f"{type(exc).__name__}: {exc}"
