"""The report's sections on follow-up change and saliency, each self-contained.

- :func:`changes_section`: when the output folder holds ``changes.csv`` (subjects seen
  at two visits, :mod:`mimir.output.changes`): per target the number of pairs, the
  median change and its spread, the share whose change lies beyond its interval (the
  interval excludes 0), and a histogram of the changes with those beyond marked.
- :func:`saliency_section`: when ``mimir explain`` has written cohort maps
  (:mod:`mimir.explain.run`): each explained target's cohort map over the cohort's
  mean image.

:func:`extra_sections` gives whichever apply, for :func:`mimir.report.build.build_page`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mimir.explain.run import explained_targets
from mimir.output.changes import CHANGES_FILE
from mimir.report.charts import change_svg
from mimir.report.data import RunData
from mimir.report.page import Section, esc, fmt, img, table
from mimir.report.thumbs import data_uri

_CHANGE = re.compile(r"^(?P<label>.+)_change_in_(?P<unit>.*)$")


def change_targets(changes: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, unit) of the targets of a change table, in column order."""
    return [(m["label"], m["unit"]) for c in changes.columns if (m := _CHANGE.match(c))]


def change_summary(changes: pd.DataFrame, label: str, unit: str) -> dict:
    """Pairs with both values, median change, 2.5-97.5 % range, share beyond the
    interval."""
    x = pd.to_numeric(changes[f"{label}_change_in_{unit}"], errors="coerce").to_numpy(float)
    beyond = changes.get(f"{label}_change_beyond")
    flags = (beyond.astype(str).str.lower() == "true").to_numpy() if beyond is not None \
        else np.zeros(len(x), bool)
    ok = np.isfinite(x)
    n = int(ok.sum())
    return {"n": n, "median": float(np.median(x[ok])) if n else float("nan"),
            "p2_5": float(np.percentile(x[ok], 2.5)) if n else float("nan"),
            "p97_5": float(np.percentile(x[ok], 97.5)) if n else float("nan"),
            "beyond": float(flags[ok].mean()) if n else float("nan"),
            "beyond_n": int(flags[ok].sum()), "x": x[ok], "flags": flags[ok]}


def changes_section(data: RunData) -> Section | None:
    """Distribution of changes per target and the share beyond their interval."""
    path = data.out / CHANGES_FILE
    if not path.is_file():
        return None
    changes = pd.read_csv(path, dtype={"name_first": str, "name_second": str})
    level = f"{data.level * 100:g} %" if data.level else "the run's"
    rows, figs = [], []
    for label, unit in change_targets(changes):
        s = change_summary(changes, label, unit)
        rows.append([label, unit, fmt(s["n"]), fmt(s["median"]),
                     f"{fmt(s['p2_5'])} to {fmt(s['p97_5'])}",
                     "-" if not np.isfinite(s["beyond"]) else
                     f"{s['beyond']:.1%} ({fmt(s['beyond_n'])})"])
        fig = change_svg(s["x"], s["flags"], unit or "", label=f"changes of {label}")
        figs.append(f"<div class='tg'><h3>{esc(label)}</h3>{fig}</div>")
    body = [f"<p>{fmt(len(changes))} subjects imaged at two visits "
            "(<code>changes.csv</code>): the change is the second visit's prediction minus "
            f"the first's; its {level} interval adds the two predicted variances, and a "
            "change lies beyond it when the interval excludes 0. The visits' errors are "
            "taken as independent, so the intervals are conservative.</p>",
            table(["target", "unit", "pairs", "median change", "2.5-97.5 %",
                   "beyond the interval"], rows, numeric={2, 3, 5},
                  attrs="id='changes-table'"),
            "<div class='plots'>" + "".join(figs) + "</div>"]
    return Section("changes", "Follow-up change", "\n".join(body))


def saliency_section(data: RunData) -> Section | None:
    """The cohort saliency map of every target ``mimir explain`` has covered."""
    found = explained_targets(data.out)
    if not found:
        return None
    body = ["<p>Where each target's prediction comes from (<code>mimir explain</code>, "
            "gradient x input, squared and averaged over the subjects explained, in the "
            "fixed 2D image space, over their mean image; left: the predicted mean, right: "
            "the predicted log-variance). Per-subject maps and the arrays are in "
            "<code>explain/&lt;target&gt;/</code>.</p>"]
    for e in found:
        png = (e["folder"] / "cohort.png").read_bytes()
        body.append(f"<h3 id='explain-{esc(e['folder'].name)}'>{esc(e.get('target'))} "
                    f"<span class='muted'>({esc(e.get('module'))}, "
                    f"{fmt(len(e.get('subjects') or []))} subjects)</span></h3>"
                    + img(data_uri(png), f"cohort saliency map of {e.get('target')}"))
    return Section("saliency", "Saliency", "\n".join(body))


def extra_sections(data: RunData) -> list[Section]:
    """The sections of this module that apply to the output folder."""
    return [s for s in (changes_section(data), saliency_section(data)) if s is not None]
