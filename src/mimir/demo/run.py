"""The demo: phantom zips -> ``infer`` (the same path users run) -> report.

Writes into OUT::

    zips/           the phantom subjects' zips and truth.csv
    cache/          their 2D images
    results/        the infer outputs (predictions.csv, module_demo/predictions.csv, ...)
    images/         a PNG of each subject's 2D image
    report.html     per subject the image, each prediction with its interval and the truth;
                    per target ICC, MAE and 95 % interval coverage against the truth
    summary.csv     the per-target table
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.errors import UsageError
from mimir.output.atomic import atomic_path, write_text
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
    from mimir.output.predictions import level_label

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


def write_report(out: Path, pred: pd.DataFrame, truth: pd.DataFrame, module, columns: dict,
                 summary: pd.DataFrame, images: dict, level: float = 0.95) -> Path:
    """The demo's HTML page (images referenced relative to it)."""
    from mimir.output.predictions import level_label

    lab = level_label(level)
    t_rows = "".join(
        f"<tr><td>{html.escape(r['target'])}</td><td>{html.escape(r['unit'])}</td>"
        f"<td>{r['n']}</td><td>{r['icc']:.3f}</td><td>{r['mae']:.3g}</td>"
        f"<td>{r[f'coverage{lab}']:.2f}</td></tr>" for _, r in summary.iterrows())
    truth_i = truth.set_index("name")
    subjects = []
    for _, row in pred.iterrows():
        name = row["name"]
        cells = []
        for t in module.targets:
            m = row[f"{t.name}_mean_in_{t.unit}"]
            lo = row[f"{t.name}_lower{lab}_in_{t.unit}"]
            hi = row[f"{t.name}_upper{lab}_in_{t.unit}"]
            y = truth_i.loc[name, columns[t.name]] if name in truth_i.index else float("nan")
            ok = "yes" if lo <= y <= hi else "no"
            cells.append(f"<tr><td>{html.escape(t.name)}</td><td>{m:.3g}</td>"
                         f"<td>[{lo:.3g}, {hi:.3g}]</td><td>{y:.3g}</td><td>{ok}</td>"
                         f"<td>{html.escape(t.unit)}</td></tr>")
        img = images.get(name)
        img_tag = (f"<img class='subject' src='{html.escape(img)}' alt='{html.escape(name)}'>"
                   if img else "")
        subjects.append(
            f"<section class='subject'><h3>{html.escape(name)}</h3>{img_tag}"
            f"<table class='pred'><tr><th>target</th><th>prediction</th><th>{lab} % interval"
            f"</th><th>truth</th><th>inside</th><th>unit</th></tr>{''.join(cells)}</table>"
            "</section>")
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>MIMIR demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px}}img.subject{{max-width:100%;display:block}}
</style></head><body>
<h1>MIMIR demo: {len(pred)} synthetic subjects, module {html.escape(module.name)}</h1>
<p>Predictions from the built-in demo module on phantom subjects made through the zip
path; truths measured from each phantom's anatomy.</p>
<h2>Per target</h2>
<table id='summary'><tr><th>target</th><th>unit</th><th>n</th><th>ICC</th><th>MAE</th>
<th>share of truths inside the {lab} % interval</th></tr>{t_rows}</table>
<h2>Subjects</h2>{''.join(subjects)}
<script>
// count images that really rendered (read by the test-suite through headless Chromium)
window.addEventListener("load", function () {{
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {{ if (imgs[i].naturalWidth > 0) ok++; }}
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
}});
</script></body></html>"""
    path = out / "report.html"
    write_text(path, page)
    return path


def run_demo(out_dir: str | os.PathLike, n: int = 8, seed: int = 7, workers: int = 1,
             batch_size: int = 16, overwrite: bool = False,
             module_dir: str | os.PathLike | None = None, on_stage=None) -> dict:
    """Generate ``n`` phantom zips, run ``infer`` with the demo module, write the report.

    Returns
    -------
    dict
        ``summary`` (DataFrame), ``report`` (path), ``infer`` (InferSummary).
    """
    from mimir.api import infer
    from mimir.cache.store import Cache
    from mimir.modules.format import load_module
    from mimir.phantom.cohort import generate_cohort
    from mimir.projection.render import save_channels_png

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
    stage(f"generating {n} phantom subjects")
    generate_cohort(out / "zips", n, seed, workers=workers)
    stage("running infer")
    summary_infer = infer([out / "zips"], out / "cache", [mod_dir], out / "results",
                          batch_size, workers=workers)
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
        save_channels_png(cache.read_image(name), png, title=name)
        images[name] = f"images/{name}.png"
    report = write_report(out, pred, truth, module, columns, summary, images)
    return {"summary": summary, "report": report, "infer": summary_infer}
