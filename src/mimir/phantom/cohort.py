"""Many phantom subjects: zips on disk and ``truth.csv``."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from mimir.cache.store import Cache, CacheEntry
from mimir.errors import UsageError
from mimir.phantom.fastpath import fast_image, truth_row
from mimir.phantom.subject import (
    REPEAT_INSTANCE,
    FollowUp,
    PhantomSubject,
    draw_cohort,
    repeat_visit,
    visit_seed,
)
from mimir.phantom.truth import TRUTH_COLUMNS
from mimir.phantom.variants import CLEAN, Variants
from mimir.phantom.zipwrite import write_subject_zip, zip_name

TRUTH_FILE = "truth.csv"


def visits(subjects: list[PhantomSubject], seed: int, repeat: int = 0,
           follow_up: FollowUp = FollowUp()) -> list[tuple[PhantomSubject, int, int]]:
    """(subject at the visit, the visit's seed, instance) of every visit: each subject's
    first (instance 2), then the repeat visit (instance 3) of the first ``repeat``
    subjects, changed by ``follow_up`` (:func:`mimir.phantom.subject.repeat_visit`)."""
    if not 0 <= repeat <= len(subjects):
        raise UsageError(f"--repeat {repeat}: between 0 and the number of subjects "
                         f"({len(subjects)})")
    later = visit_seed(seed, REPEAT_INSTANCE)
    return [(s, seed, 2) for s in subjects] + [
        (repeat_visit(s, seed, follow_up), later, REPEAT_INSTANCE) for s in subjects[:repeat]]


#: Module target names of the truth columns (``truth.meta.csv``).
TARGET_NAMES = {"vat_volume_L": "VAT", "asat_volume_L": "ASAT", "liver_fat_pct": "liverFat",
                "liver_volume_L": "liverVolume", "thigh_muscle_volume_L": "thighMuscle",
                "muscle_fat_pct": "muscleFat", "weight_kg": "weight", "height_cm": "height",
                "sex_male1": "sex", "age_years": "age"}


def write_truth(rows: list[dict], path: Path) -> None:
    """Write truth rows atomically (main columns first) and the ``truth.meta.csv`` sidecar
    naming each truth column as a module target (name, unit)."""
    from mimir.training.targets import write_target_table  # lazy: imports pandas

    df = pd.DataFrame(rows)
    first = ["eid", "name"] + [c for c, _, _ in TRUTH_COLUMNS]
    df = df[first + [c for c in df.columns if c not in first]]
    meta = pd.DataFrame([{"column": c, "name": TARGET_NAMES[c], "field": "", "unit": u,
                          "divisor": 1.0} for c, u, _ in TRUTH_COLUMNS])
    write_target_table(df, meta, path)


def _zip_one(args) -> tuple[Path, dict]:
    subject, seed, variants, out, instance = args
    path = write_subject_zip(Path(out) / zip_name(subject.eid, instance), subject, seed,
                             variants)
    row = truth_row(subject, seed, variants, instance)
    row.update({f"variant_{k}": v for k, v in variants.describe().items()})
    return path, row


def generate_cohort(out_dir: str | os.PathLike, n: int, seed: int,
                    variants: Variants = CLEAN, overwrite: bool = False,
                    on_subject: Callable[[str], None] | None = None,
                    workers: int = 1, repeat: int = 0,
                    follow_up: FollowUp = FollowUp()) -> list[Path]:
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
    repeat : int
        Also write the repeat visit (instance 3) of the first ``repeat`` subjects.
    follow_up : FollowUp
        How their bodies changed in between.

    Returns
    -------
    list of Path
        The zips written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    all_visits = visits(draw_cohort(n, seed), seed, repeat, follow_up)
    targets = [out / zip_name(s.eid, i) for s, _, i in all_visits] + [out / TRUTH_FILE]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{len(existing)} file(s) already exist in {out} (e.g. "
                         f"{existing[0].name}); use --overwrite to replace them")
    paths, rows = [], []
    jobs = [(s, vs, variants, str(out), i) for s, vs, i in all_visits]
    if workers > 1:
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
    from mimir.pipeline.allocator import tune_allocator  # lazy: imports cv2

    tune_allocator()
    subject, seed, cache_root, instance = args
    image, truth = fast_image(subject, seed)
    name = zip_name(subject.eid, instance).split(".")[0]
    Cache(cache_root).write(image, CacheEntry(name=name, source=f"phantom fast path, seed "
                                                               f"{seed}"))
    truth["name"] = name
    return truth


def generate_fast_cohort(out_dir: str | os.PathLike, n: int, seed: int, workers: int = 1,
                         overwrite: bool = False,
                         on_subject: Callable[[str], None] | None = None,
                         repeat: int = 0, follow_up: FollowUp = FollowUp()) -> Path:
    """Cached 2D images and ``truth.csv`` for ``n`` subjects via the fast path (and the
    repeat visits of the first ``repeat``, as :func:`generate_cohort`).

    ``out_dir`` becomes an image cache (``<name>.npy`` per subject) holding the same
    ``truth.csv`` as :func:`generate_cohort` would write for the same seed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / TRUTH_FILE).exists() and not overwrite:
        raise UsageError(f"{out / TRUTH_FILE} already exists; use --overwrite to replace it")
    jobs = [(s, vs, str(out), i) for s, vs, i in visits(draw_cohort(n, seed), seed, repeat,
                                                        follow_up)]
    rows = []
    if workers > 1:
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
