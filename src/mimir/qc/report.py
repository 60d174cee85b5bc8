"""``mimir qc``: flags over a cohort, and a picture of the flagged subjects."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path
from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.qc.flags import FLAGS, qc_table


def is_output_folder(folder: Path) -> bool:
    """Whether ``folder`` is the output folder of ``infer`` or ``merge``."""
    return any((folder / f).is_file() for f in ("run.json", "merged.json",
                                                  ".mimir/state.json"))


def recorded_cache(folder: Path) -> Path | None:
    """The cache an output folder's run recorded (``run.json``, else its state; a merged
    folder: its first shard's), or None."""
    for rel in ("run.json", ".mimir/state.json", "merged.json"):
        p = folder / rel
        if not p.is_file():
            continue
        try:
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict):
            continue
        if info.get("cache"):
            return Path(info["cache"])
        for shard in info.get("shards") or []:
            found = recorded_cache(Path(shard))
            if found is not None:
                return found
    return None


def find_cache(folder: Path, cache: Path | None) -> Cache:
    """The image cache: as given, else the one the folder's run recorded, else the
    folder itself (or its ``cache/``) when it holds images."""
    if cache is not None:
        return Cache(cache)
    rec = recorded_cache(folder)
    if rec is not None:
        if not rec.is_dir():
            raise UsageError(f"the cache {rec} that {folder}'s run recorded does not exist "
                             "(moved?); name it with --cache")
        return Cache(rec)
    for cand in (folder, folder / "cache"):
        if any(cand.glob("*.npy")):
            return Cache(cand)
    raise UsageError(f"no cached images in {folder} or {folder / 'cache'}, and no run.json "
                     "naming a cache; name the cache with --cache")


def cohort_qc(folder: str | os.PathLike, cache: str | os.PathLike | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, Cache]:
    """QC flags of every subject in a cache, or of an infer output folder's subjects
    (those its ``predictions.csv`` lists: a shared cache holds other runs' too).

    Returns
    -------
    table : DataFrame
        One row per subject (see :func:`mimir.qc.flags.qc_table`).
    counts : DataFrame
        Per flag: severity, number of subjects, the subjects, the rule.
    cache : Cache
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    c = find_cache(folder, Path(cache) if cache else None)
    names = c.names()
    if is_output_folder(folder) and (folder / "predictions.csv").is_file():
        listed = pd.read_csv(folder / "predictions.csv", usecols=["name"],
                             dtype={"name": str})["name"]
        names = [n for n in listed if c.has(n)]
    table = qc_table(c, names)
    rows = []
    for flag, (sev, rule) in FLAGS.items():
        hit = table.loc[table[flag].fillna(False).astype(bool), "name"].tolist()
        rows.append({"flag": flag, "severity": sev, "subjects": len(hit),
                     "names": " ".join(hit), "rule": rule})
    unknown = table.loc[table["qc_flags"] == "unknown", "name"].tolist()
    if unknown:
        rows.append({"flag": "unknown", "severity": "", "subjects": len(unknown),
                     "names": " ".join(unknown),
                     "rule": "cached before QC facts were recorded; preprocess again"})
    return table, pd.DataFrame(rows), c


def flagged_grid(cache: Cache, table: pd.DataFrame, output: str | os.PathLike,
                 limit: int = 48) -> Path | None:
    """A PNG grid of the flagged subjects' 2D images (water | fat | fat fraction)."""
    import matplotlib  # lazy: matplotlib loads only where it is used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib loads only where it is used

    flagged = table[table["qc_flags"].fillna("") != ""].head(limit)
    if flagged.empty:
        return None
    n = len(flagged)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 2.0 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, r) in zip(axes.ravel(), flagged.iterrows(), strict=False):
        img = cache.read_image(r["name"])
        ax.imshow(np.concatenate(list(img), axis=1), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{r['name']}\n{r['qc_flags']}", fontsize=7)
    fig.tight_layout()
    output = Path(output)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=70)
    plt.close(fig)
    return output
