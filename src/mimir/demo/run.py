"""The demo: phantom zips -> ``infer`` (the same path users run) -> report.

Writes into OUT::

    zips/           the phantom subjects' zips and truth.csv
    cache/          their 2D images
    results/        the infer outputs (predictions.csv, module_demo/predictions.csv, ...)
    images/         a PNG of each subject's 2D image
    report.html     the cohort report of results/ (mimir.report) plus the truth comparison
                    (per target ICC, MAE, 95 % interval coverage, prediction against
                    truth) and, for the first subjects, the image, each prediction with
                    its interval and the truth; one self-contained file
    summary.csv     the per-target table
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path
from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.modules.format import load_module
from mimir.training import metrics as M

DEMO_MODULE = Path(__file__).resolve().parent.parent / "demo_module" / "module_demo"
DEMO_PARTS = ("zips", "cache", "results", "images", "report.html", "summary.csv")


def truth_columns(module_dir: Path) -> dict:
    """Module target name -> truth column (from module.json's ``target_columns``)."""
    info = json.loads((module_dir / "module.json").read_text(encoding="utf-8"))
    return dict(zip(info["targets"], info["target_columns"], strict=True))


def summarise(pred: pd.DataFrame, truth: pd.DataFrame, module, columns: dict,
              level: float = 0.95) -> pd.DataFrame:
    """Per target: ICC and MAE against the truth and the share inside the interval."""
    from mimir.output.predictions import level_label  # lazy: imports pandas

    lab = level_label(level)
    merged = pred.merge(truth, on="name", how="inner")
    rows = []
    for t in module.targets:
        y = merged[columns[t.name]].to_numpy(dtype=float)
        m = merged[f"{t.name}_mean_in_{t.unit}"].to_numpy()
        lo = merged[f"{t.name}_lower{lab}_in_{t.unit}"].to_numpy()
        hi = merged[f"{t.name}_upper{lab}_in_{t.unit}"].to_numpy()
        inside = (y >= lo) & (y <= hi)
        rows.append({"target": t.name, "unit": t.unit, "n": len(y), "icc": M.icc21(y, m),
                     "mae": M.mae(y, m), f"coverage{lab}": float(np.mean(inside))})
    return pd.DataFrame(rows)


#: Subjects shown one by one in the demo report (the rest are in the tables).
SUBJECTS_SHOWN = 12


def truth_section(pred: pd.DataFrame, truth: pd.DataFrame, module, columns: dict,
                  summary: pd.DataFrame, level: float = 0.95):
    """The demo's comparison with the truth: per-target table and scatter plots.

    Returns
    -------
    mimir.report.page.Section
    """
    from mimir.output.predictions import level_label  # lazy: imports pandas
    from mimir.report.page import Section, img, table  # lazy: imports pandas
    from mimir.report.plots import truth_figure  # lazy: imports pandas
    from mimir.report.thumbs import data_uri  # lazy: imports pandas

    lab = level_label(level)
    rows = [[r["target"], r["unit"], r["n"], f"{r['icc']:.3f}", f"{r['mae']:.3g}",
             f"{r[f'coverage{lab}']:.2f}"] for _, r in summary.iterrows()]
    body = ["<p>Predictions of the built-in demo module on phantom subjects made through "
            "the zip path, against the truths measured from each phantom's anatomy.</p>",
            table(["target", "unit", "n", "ICC", "MAE",
                   f"share of truths inside the {lab} % interval"], rows,
                  numeric={2, 3, 4, 5}, attrs="id='summary'"),
            f"<p class='muted'>Prediction against truth: dashed identity line, bars the "
            f"{lab} % intervals; circles: truth inside the interval, crosses: outside.</p>"]
    merged = pred.merge(truth, on="name", how="inner")
    figs = []
    for t in module.targets:
        label = f"{t.name} ({t.unit})" if not t.unit.startswith("(") else f"{t.name} {t.unit}"
        png = truth_figure(merged[columns[t.name]], merged[f"{t.name}_mean_in_{t.unit}"],
                           merged[f"{t.name}_lower{lab}_in_{t.unit}"],
                           merged[f"{t.name}_upper{lab}_in_{t.unit}"], label)
        figs.append(img(data_uri(png), f"{t.name}: prediction against truth"))
    body.append("<div class='plots'>" + "".join(figs) + "</div>")
    return Section("truth", "Truth comparison", "\n".join(body))


def subjects_section(pred: pd.DataFrame, truth: pd.DataFrame, module, columns: dict,
                     images: dict, level: float = 0.95, limit: int = SUBJECTS_SHOWN):
    """Per subject (the first ``limit``): the 2D image, each prediction with its
    interval, and the truth.

    ``images`` maps subject names to their 2D images (uint8, (3, 256, 256)).

    Returns
    -------
    mimir.report.page.Section
    """
    from mimir.output.predictions import level_label  # lazy: imports pandas
    from mimir.projection.render import channels_figure  # lazy: imports cv2
    from mimir.report.page import Section, esc, img  # lazy: imports pandas
    from mimir.report.thumbs import data_uri  # lazy: imports pandas

    lab = level_label(level)
    truth_i = truth.set_index("name")
    parts = []
    for _, row in pred.head(limit).iterrows():
        name = row["name"]
        cells = []
        for t in module.targets:
            m = row[f"{t.name}_mean_in_{t.unit}"]
            lo = row[f"{t.name}_lower{lab}_in_{t.unit}"]
            hi = row[f"{t.name}_upper{lab}_in_{t.unit}"]
            y = truth_i.loc[name, columns[t.name]] if name in truth_i.index else float("nan")
            ok = "yes" if lo <= y <= hi else "no"
            cells.append(f"<tr><td>{esc(t.name)}</td><td class='n'>{m:.3g}</td>"
                         f"<td>[{lo:.3g}, {hi:.3g}]</td><td class='n'>{y:.3g}</td>"
                         f"<td>{ok}</td><td>{esc(t.unit)}</td></tr>")
        img_tag = ""
        if name in images:
            buf = io.BytesIO()
            channels_figure(images[name], name).savefig(buf, format="png", dpi=72)
            img_tag = img(data_uri(buf.getvalue()), name, cls="plot subject")
        parts.append(
            f"<div class='subject'><h3>{esc(name)}</h3>{img_tag}"
            f"<table class='pred'><tr><th>target</th><th>prediction</th><th>{lab} % interval"
            f"</th><th>truth</th><th>inside</th><th>unit</th></tr>{''.join(cells)}</table>"
            "</div>")
    more = len(pred) - limit
    if more > 0:
        parts.append(f"<p class='muted'>... and {more} more subjects (results/predictions.csv"
                     ", images/).</p>")
    return Section("subjects", "Subjects", "\n".join(parts))


def write_report(out: Path, pred: pd.DataFrame, truth: pd.DataFrame, module, columns: dict,
                 summary: pd.DataFrame, images: dict, level: float = 0.95) -> Path:
    """The demo's page: the cohort report of ``OUT/results`` (:mod:`mimir.report`) with
    the truth comparison after the run section and the subjects at the end; one
    self-contained file."""
    from mimir.report import build_report  # lazy: imports pandas

    title = f"MIMIR demo: {len(pred)} synthetic subjects, module {module.name}"
    return build_report(out / "results", dest=out / "report.html", title=title,
                        lead=[truth_section(pred, truth, module, columns, summary, level)],
                        tail=[subjects_section(pred, truth, module, columns, images,
                                               level)])


def run_demo(out_dir: str | os.PathLike, n: int = 8, seed: int = 7, workers: int = 1,
             batch_size: int = 16, overwrite: bool = False,
             module_dir: str | os.PathLike | None = None, on_stage=None,
             repeat: int = 0) -> dict:
    """Generate ``n`` phantom zips (and the repeat visits of the first ``repeat``, with a
    known change), run ``infer`` with the demo module, write the report.

    Returns
    -------
    dict
        ``summary`` (DataFrame), ``report`` (path), ``infer`` (InferSummary).
    """
    from mimir.execution.options import InferOptions  # lazy: imports cv2
    from mimir.execution.run import infer  # lazy: imports cv2, pandas
    from mimir.phantom.cohort import generate_cohort  # lazy: imports pandas
    from mimir.projection.render import save_channels_png  # lazy: imports cv2

    out = Path(out_dir)
    mod_dir = Path(module_dir) if module_dir else DEMO_MODULE
    if not (mod_dir / "metadata.txt").is_file():
        raise UsageError(f"demo module not found at {mod_dir}")
    if out.exists() and any((out / p).exists() for p in DEMO_PARTS):
        if not overwrite:
            raise UsageError(f"{out} already holds demo results; use --overwrite to replace "
                             "them")
        for p in DEMO_PARTS:
            target = out / p
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    stage = on_stage or (lambda _s: None)
    again = f" and {repeat} repeat visits" if repeat else ""
    stage(f"generating {n} phantom subjects{again}")
    generate_cohort(out / "zips", n, seed, workers=workers, repeat=repeat)
    stage("running infer")
    summary_infer = infer([out / "zips"], [mod_dir], out / "results", cache=out / "cache",
                          options=InferOptions(batch_size=batch_size, workers=workers,
                                               report=False))
    module = load_module(mod_dir)
    pred = pd.read_csv(out / "results" / "predictions.csv", dtype={"name": str})
    truth = pd.read_csv(out / "zips" / "truth.csv", dtype={"name": str})
    columns = truth_columns(mod_dir)
    summary = summarise(pred, truth, module, columns)
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    images = {}
    cache = Cache(out / "cache")
    (out / "images").mkdir(exist_ok=True)
    for name in pred["name"]:
        png = out / "images" / f"{name}.png"
        images[name] = cache.read_image(name)
        save_channels_png(images[name], png, title=name)
    stage("writing report.html")
    report = write_report(out, pred, truth, module, columns, summary, images)
    return {"summary": summary, "report": report, "infer": summary_infer}
