"""``mimir explain``: saliency maps of one target for subjects of a finished ``infer`` run.

Files, under ``OUT/explain/<target>/`` (``<target>`` the target's label in
``predictions.csv``, characters other than letters, digits, ``.``, ``_`` and ``-``
replaced by ``_``)::

    explain.json                     method, module, unit, subjects, their predictions,
                                     subjects skipped (an unreadable cache entry), timings
    subjects/<name>.npy              float32 (2, 256, 256): gradient x input summed over
                                     the channels, of the mean [0] and of the
                                     log-variance [1] (signed)
    subjects/<name>.png              the image, the mean's map, the variance's map
    cohort_mean.npy                  float64 (256, 256): the cohort map of the mean (the
                                     subjects' relevance maps averaged; sums to 1, see
                                     mimir.explain.maps)
    cohort_variance.npy              the same for the log-variance
    cohort_image.npy                 float32 (3, 256, 256): the subjects' mean image
    cohort.png                       both cohort maps over the mean image

The cohort report (``report.html``) shows ``cohort.png`` of every target explained.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mimir.atomic import atomic_path, write_text
from mimir.cache.store import CacheError
from mimir.explain.draw import grey, heat_overlay, panels, plain, write_png
from mimir.explain.maps import normalised, relevance
from mimir.explain.saliency import BATCH, Explainer
from mimir.modules.format import Module

EXPLAIN_DIR = "explain"
METHOD = "gradient x input"


def safe_name(text: str) -> str:
    """A file name for a target label or subject name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".") or "_"


def target_dir(out: str | os.PathLike, label: str) -> Path:
    return Path(out) / EXPLAIN_DIR / safe_name(label)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def explain_target(out: str | os.PathLike, module: Module, target: int, label: str,
                   names: list[str], read_image: Callable[[str], np.ndarray],
                   on_subject: Callable[[str], None] | None = None) -> dict:
    """Write the saliency maps of one target for ``names`` (see the module docstring).

    Parameters
    ----------
    out : path-like
        The ``infer`` output folder.
    module : Module
        The module predicting the target.
    target : int
        The target's index in the module.
    label : str
        The target's label in ``predictions.csv``.
    names : list of str
        The subjects.
    read_image : callable
        ``read_image(name)`` -> uint8 (3, 256, 256) image.
    on_subject : callable, optional
        Called with each subject's name once its maps are written.

    Returns
    -------
    dict
        What ``explain.json`` holds.
    """
    import torch  # lazy: torch loads only where it is used

    folder = target_dir(out, label)
    (folder / "subjects").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    explainer = Explainer(module, target)
    load_s = time.perf_counter() - t0
    unit = module.targets[target].unit
    sums = {"mean": 0.0, "variance": 0.0, "image": 0.0}
    predictions: list[float] = []
    t1 = time.perf_counter()
    explained: list[str] = []
    skipped: list[dict] = []
    for i in range(0, len(names), BATCH):
        chunk, images = _readable(names[i:i + BATCH], read_image, skipped)
        if not chunk:
            continue
        explained += chunk
        attr = explainer.attribute(images)
        mags = {"mean": normalised(relevance(attr.mean)),
                "variance": normalised(relevance(attr.logvar))}
        for k, name in enumerate(chunk):
            stem = str(folder / "subjects" / safe_name(name))
            _save_npy(Path(stem + ".npy"),
                      np.stack([attr.mean[k].sum(axis=0), attr.logvar[k].sum(axis=0)])
                      .astype(np.float32))
            back = grey(images[k])
            write_png(Path(stem + ".png"), panels(
                [plain(back), heat_overlay(back, mags["mean"][k]),
                 heat_overlay(back, mags["variance"][k])],
                [f"{name}", f"mean: {attr.prediction[k]:.4g} {unit}", "log-variance"]))
            if on_subject:
                on_subject(name)
        sums["mean"] = sums["mean"] + mags["mean"].sum(axis=0)
        sums["variance"] = sums["variance"] + mags["variance"].sum(axis=0)
        sums["image"] = sums["image"] + images.astype(np.float64).sum(axis=0)
        predictions += [float(p) for p in attr.prediction]
    seconds = time.perf_counter() - t1
    n = max(len(explained), 1)
    cohort = {k: np.asarray(v, dtype=np.float64) / n for k, v in sums.items()}
    _save_npy(folder / "cohort_mean.npy", cohort["mean"])
    _save_npy(folder / "cohort_variance.npy", cohort["variance"])
    _save_npy(folder / "cohort_image.npy", cohort["image"].astype(np.float32))
    back = grey(cohort["image"]) if explained else np.zeros((256, 256), np.uint8)
    write_png(folder / "cohort.png", panels(
        [heat_overlay(back, cohort["mean"]), heat_overlay(back, cohort["variance"])],
        [f"{label}: mean, {len(explained)} subjects", f"{label}: log-variance"], scale=2))
    info = {"method": METHOD, "target": label, "unit": unit, "module": module.name,
            "module_path": str(module.path), "members": max(1, len(module.members)),
            "subjects": explained, "predictions": predictions, "skipped": skipped,
            "seconds_loading": round(load_s, 3), "seconds": round(seconds, 3),
            "seconds_per_subject": round(seconds / n, 4),
            "torch_threads": torch.get_num_threads()}
    write_text(folder / "explain.json", json.dumps(info, indent=1))
    return info


def _readable(names: list[str], read_image, skipped: list) -> tuple[list[str], np.ndarray]:
    """The subjects of ``names`` whose image can be read, and their images; the others
    are added to ``skipped`` with the reason (one bad cache entry never stops the rest)."""
    ok, images = [], []
    for n in names:
        try:
            images.append(read_image(n))
            ok.append(n)
        except CacheError as exc:
            skipped.append({"name": n, "why": str(exc)})
    return ok, np.stack(images) if images else np.zeros((0, 3, 256, 256), np.uint8)


#: Files of a target's folder other than the subjects' maps.
TARGET_FILES = ("explain.json", "cohort_mean.npy", "cohort_variance.npy", "cohort_image.npy",
                "cohort.png")


def clear_target(folder: Path) -> None:
    """Remove what an earlier ``explain`` wrote in a target's folder (the files its
    ``explain.json`` lists and the cohort files); anything else is left alone."""
    p = folder / "explain.json"
    names: list = []
    if p.is_file():
        try:
            names = list(json.loads(p.read_text(encoding="utf-8")).get("subjects") or [])
        except (OSError, ValueError, AttributeError):
            names = []
    for n in names:
        for ext in (".npy", ".png"):
            (folder / "subjects" / (safe_name(str(n)) + ext)).unlink(missing_ok=True)
    for f in TARGET_FILES:
        (folder / f).unlink(missing_ok=True)


def explained_targets(out: str | os.PathLike) -> list[dict]:
    """What ``mimir explain`` wrote in an output folder: one dict per target (its
    ``explain.json`` plus ``folder``), sorted by target; unreadable entries are left
    out."""
    root = Path(out) / EXPLAIN_DIR
    found: list[dict] = []
    if not root.is_dir():
        return found
    for p in sorted(root.glob("*/explain.json")):
        try:
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and (p.parent / "cohort.png").is_file():
            found.append({**info, "folder": p.parent})
    return found
