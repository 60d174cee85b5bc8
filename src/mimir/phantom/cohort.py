"""Many phantom subjects: zips on disk and ``truth.csv``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mimir.errors import UsageError
from mimir.phantom.geometry import output_grid
from mimir.phantom.subject import PhantomSubject, draw_cohort
from mimir.phantom.truth import TRUTH_COLUMNS, measure_truth
from mimir.phantom.variants import CLEAN, Variants
from mimir.phantom.zipwrite import KNEE_CUT_MM, subject_geometry, write_subject_zip, zip_name

TRUTH_FILE = "truth.csv"


def truth_row(subject: PhantomSubject, seed: int, variants: Variants = CLEAN) -> dict:
    """The truth of a subject as written to ``truth.csv``."""
    if variants.knee_cut:
        subject = dataclasses.replace(subject, chin_z=subject.chin_z - KNEE_CUT_MM)
    grid = output_grid(subject_geometry(subject, seed))
    row = measure_truth(subject, grid)
    row["name"] = zip_name(subject.eid).split(".")[0]
    return row


def write_truth(rows: list[dict], path: Path) -> None:
    """Write truth rows atomically, main columns first."""
    df = pd.DataFrame(rows)
    first = ["eid", "name"] + [c for c, _, _ in TRUTH_COLUMNS]
    df = df[first + [c for c in df.columns if c not in first]]
    tmp = path.with_name(path.name + ".part")
    df.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, path)


def generate_cohort(out_dir: str | os.PathLike, n: int, seed: int,
                    variants: Variants = CLEAN, overwrite: bool = False,
                    on_subject: Callable[[str], None] | None = None) -> list[Path]:
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
    for s in subjects:
        path = write_subject_zip(out / zip_name(s.eid), s, seed, variants)
        paths.append(path)
        row = truth_row(s, seed, variants)
        row.update({f"variant_{k}": v for k, v in variants.describe().items()})
        rows.append(row)
        if on_subject:
            on_subject(row["name"])
    write_truth(rows, out / TRUTH_FILE)
    return paths
