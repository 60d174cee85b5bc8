"""K-fold splits of subjects: made (seeded) or read from split files.

A split folder holds ``fold_1.txt`` .. ``fold_K.txt``, one subject name per line, or, in
the original MIMIR's format, ``images_set_<k>.txt`` files listing bare eids, which map
to subject names ``<eid>_20201_<instance>_0``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mimir.atomic import write_text
from mimir.errors import UsageError


def make_folds(names: list[str], k: int, seed: int = 0) -> list[list[str]]:
    """Split ``names`` into ``k`` folds of near-equal size (seeded shuffle), each sorted."""
    if k < 2:
        raise UsageError("need at least 2 folds")
    if len(names) < k:
        raise UsageError(f"{len(names)} subjects cannot make {k} folds")
    order = np.random.default_rng(seed).permutation(sorted(names))
    return [sorted(order[i::k].tolist()) for i in range(k)]


def write_folds(folds: list[list[str]], folder: str | os.PathLike) -> list[Path]:
    """Write ``fold_1.txt`` .. ``fold_K.txt``."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, fold in enumerate(folds, 1):
        p = d / f"fold_{i}.txt"
        write_text(p, "".join(n + "\n" for n in fold))
        paths.append(p)
    return paths


def _numbered(files, prefix: str) -> list[Path]:
    def key(p: Path):
        tail = p.stem[len(prefix):]
        return (0, int(tail), "") if tail.isdigit() else (1, 0, p.stem)

    return sorted(files, key=key)


def subject_from_split_entry(entry: str, instance: int) -> str:
    """A split file's line as a subject name: a bare eid (the original's split files)
    becomes ``<eid>_20201_<instance>_0``; a subject name stays as it is."""
    return f"{entry}_20201_{instance}_0" if entry.isdigit() else entry


def read_folds(source, instance: int = 2) -> list[list[str]]:
    """Folds from a split folder or a list of files.

    A folder holds ``fold_*.txt`` (subject names) or the original's
    ``images_set_*.txt`` (eids); files are taken in the order of their number. Lines
    that are bare eids map to subjects of imaging visit ``instance``.

    Raises
    ------
    UsageError
        When nothing is found or a subject is in two folds.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        d = Path(source)
        files = _numbered(d.glob("fold_*.txt"), "fold_")
        if not files:
            files = _numbered(d.glob("images_set_*.txt"), "images_set_")
    else:
        files = [Path(p) for p in (source if isinstance(source, (list, tuple)) else [source])]
    if not files:
        raise UsageError(f"no fold files in {source} (fold_<k>.txt with subject names, or "
                         "images_set_<k>.txt with eids)")
    folds = []
    for f in files:
        if not f.is_file():
            raise UsageError(f"split file {f} does not exist")
        folds.append([subject_from_split_entry(ln.strip(), instance)
                      for ln in f.read_text().splitlines() if ln.strip()])
    seen: dict[str, int] = {}
    for i, fold in enumerate(folds):
        for n in fold:
            if n in seen:
                raise UsageError(f"subject {n} is in folds {seen[n] + 1} and {i + 1}")
            seen[n] = i
    return folds
