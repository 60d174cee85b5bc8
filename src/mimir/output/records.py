"""Per-subject record tables (``failures.csv``, ``warnings.csv``, ``qc.csv``).

A table is keyed by subject name. Writing merges with what is already there: rows of
subjects handled in this run replace their old rows, rows of other subjects are kept,
so reruns on the same folder never lose earlier records.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mimir.atomic import atomic_path

FAILURE_COLUMNS = ["name", "path", "kind", "member", "message"]
WARNING_COLUMNS = ["name", "warning"]


def merge_records(path: str | os.PathLike, rows: list[dict], handled: set[str],
                  columns: list[str], order=None) -> pd.DataFrame:
    """Merge ``rows`` into the table at ``path`` and write it atomically.

    Parameters
    ----------
    path : path-like
        The CSV table.
    rows : list of dict
        New rows (each with a ``name``).
    handled : set of str
        Subjects handled in this run: their old rows are dropped.
    columns : list of str
        Column order (extra keys in rows are appended).
    order : callable, optional
        Sort key of the subject names (default: the name itself).

    Returns
    -------
    DataFrame
        The table as written (sorted by ``order``, stable).
    """
    path = Path(path)
    new = pd.DataFrame(rows, columns=None if rows else columns)
    for c in columns:
        if c not in new.columns:
            new[c] = ""
    if path.exists():
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        old = old[~old["name"].isin(handled)]
        text = new.astype(object).where(new.notna(), "").astype(str)  # missing: empty
        table = pd.concat([old, text], ignore_index=True)
    else:
        table = new
    extra = [c for c in table.columns if c not in columns]
    table = table[columns + extra]
    if order is None:
        table = table.sort_values("name", kind="stable")
    else:
        keys = [order(str(n)) for n in table["name"]]
        table = table.iloc[sorted(range(len(table)), key=lambda i: keys[i])]
    table = table.reset_index(drop=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return table
