"""Many phantom subjects: zips on disk and ``truth.csv``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mimir.errors import UsageError
from mimir.phantom.fastpath import fast_image, truth_row
from mimir.phantom.subject import draw_cohort
from mimir.phantom.truth import TRUTH_COLUMNS
from mimir.phantom.variants import CLEAN, Variants
from mimir.phantom.zipwrite import write_subject_zip, zip_name

TRUTH_FILE = "truth.csv"


#: Module target names of the truth columns (``truth.meta.csv``).
TARGET_NAMES = {"vat_volume_L": "VAT", "asat_volume_L": "ASAT", "liver_fat_pct": "liverFat",
                "liver_volume_L": "liverVolume", "thigh_muscle_volume_L": "thighMuscle",
                "muscle_fat_pct": "muscleFat", "weight_kg": "weight", "height_cm": "height",
                "sex_male1": "sex", "age_years": "age"}


def write_truth(rows: list[dict], path: Path) -> None:
    """Write truth rows atomically (main columns first) and the ``truth.meta.csv`` sidecar
    naming each truth column as a module target (name, unit)."""
    from mimir.training.targets import write_target_table

    df = pd.DataFrame(rows)
    first = ["eid", "name"] + [c for c, _, _ in TRUTH_COLUMNS]
    df = df[first + [c for c in df.columns if c not in first]]
    meta = pd.DataFrame([{"column": c, "name": TARGET_NAMES[c], "field": "", "unit": u,
                          "divisor": 1.0} for c, u, _ in TRUTH_COLUMNS])
    write_target_table(df, meta, path)


def _zip_one(args) -> tuple[Path, dict]:
    subject, seed, variants, out = args
    path = write_subject_zip(Path(out) / zip_name(subject.eid), subject, seed, variants)
    row = truth_row(subject, seed, variants)
    row.update({f"variant_{k}": v for k, v in variants.describe().items()})
    return path, row


def generate_cohort(out_dir: str | os.PathLike, n: int, seed: int,
                    variants: Variants = CLEAN, overwrite: bool = False,
                    on_subject: Callable[[str], None] | None = None,
                    workers: int = 1) -> list[Path]:
    """Write ``n`` phantom zips and ``truth.csv`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Created if missing. Existing zips or truth of the same names are refused
        unless ``overwrite``.
    n, seed : int
        Number of subjects and the seed (same seed and options: byte-identical zips).
    variants : Variants
        Irregularities applied to every subject.
    overwrite : bool
        Replace files that already exist.
    on_subject : callable, optional
        Called with each subject's name after its zip is written (progress).
    workers : int
        Processes writing zips in parallel (same bytes as with one).

    Returns
    -------
    list of Path
        The zips written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subjects = draw_cohort(n, seed)
    targets = [out / zip_name(s.eid) for s in subjects] + [out / TRUTH_FILE]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{len(existing)} file(s) already exist in {out} (e.g. "
                         f"{existing[0].name}); use --overwrite to replace them")
    paths, rows = [], []
    jobs = [(s, seed, variants, str(out)) for s in subjects]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = pool.map(_zip_one, jobs)
            for path, row in results:
                paths.append(path)
                rows.append(row)
                if on_subject:
                    on_subject(row["name"])
    else:
        for job in jobs:
            path, row = _zip_one(job)
            paths.append(path)
            rows.append(row)
            if on_subject:
                on_subject(row["name"])
    write_truth(rows, out / TRUTH_FILE)
    return paths


def _fast_one(args):
    from mimir.cache.store import Cache, CacheEntry
    from mimir.pipeline.allocator import tune_allocator

    tune_allocator()
    subject, seed, cache_root = args
    image, truth = fast_image(subject, seed)
    name = zip_name(subject.eid).split(".")[0]
    Cache(cache_root).write(image, CacheEntry(name=name, source=f"phantom fast path, seed "
                                                               f"{seed}"))
    truth["name"] = name
    return truth


def generate_fast_cohort(out_dir: str | os.PathLike, n: int, seed: int, workers: int = 1,
                         overwrite: bool = False,
                         on_subject: Callable[[str], None] | None = None) -> Path:
    """Cached 2D images and ``truth.csv`` for ``n`` subjects via the fast path.

    ``out_dir`` becomes an image cache (``<name>.npy`` per subject) holding the same
    ``truth.csv`` as :func:`generate_cohort` would write for the same seed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / TRUTH_FILE).exists() and not overwrite:
        raise UsageError(f"{out / TRUTH_FILE} already exists; use --overwrite to replace it")
    subjects = draw_cohort(n, seed)
    jobs = [(s, seed, str(out)) for s in subjects]
    rows = []
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for row in pool.map(_fast_one, jobs, chunksize=4):
                rows.append(row)
                if on_subject:
                    on_subject(row["name"])
    else:
        for job in jobs:
            row = _fast_one(job)
            rows.append(row)
            if on_subject:
                on_subject(row["name"])
    write_truth(rows, out / TRUTH_FILE)
    return out / TRUTH_FILE
