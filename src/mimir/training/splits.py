"""K-fold splits of subjects: made (seeded) or read from split files.

A split folder holds ``fold_1.txt`` .. ``fold_K.txt``, one subject name per line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mimir.errors import UsageError
from mimir.output.atomic import write_text


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


def read_folds(source) -> list[list[str]]:
    """Folds from a split folder (``fold_*.txt``) or a list of files.

    Raises
    ------
    UsageError
        When nothing is found or a subject is in two folds.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files = sorted(Path(source).glob("fold_*.txt"),
                       key=lambda p: int(p.stem.split("_")[1]) if p.stem.split("_")[1].isdigit()
                       else 0)
    else:
        files = [Path(p) for p in (source if isinstance(source, (list, tuple)) else [source])]
    if not files:
        raise UsageError(f"no fold files in {source}")
    folds = []
    for f in files:
        if not f.is_file():
            raise UsageError(f"split file {f} does not exist")
        folds.append([ln.strip() for ln in f.read_text().splitlines() if ln.strip()])
    seen: dict[str, int] = {}
    for i, fold in enumerate(folds):
        for n in fold:
            if n in seen:
                raise UsageError(f"subject {n} is in folds {seen[n] + 1} and {i + 1}")
            seen[n] = i
    return folds
