"""Reading an output folder's predictions back, for notebooks and scripts."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mimir.errors import UsageError
from mimir.output.dictionary import read_dictionary


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The combined predictions of an ``infer`` (or ``merge``) output folder.

    One row per subject, in the run's row order (``predictions.parquet``, else
    ``predictions.csv``). ``df.attrs["columns"]`` maps each column to its entry of the
    folder's data dictionary (``columns.csv``: ``meaning``, ``unit``, ``module``,
    ``field``); ``df.attrs["folder"]`` is the folder.

    Raises
    ------
    UsageError
        When the folder holds no predictions.
    """
    out = Path(out)
    pq, csv = out / "predictions.parquet", out / "predictions.csv"
    if pq.is_file():
        df = pd.read_parquet(pq)
    elif csv.is_file():
        df = pd.read_csv(csv, dtype={"name": str, "qc_flags": str})
    else:
        raise UsageError(f"{out} holds no predictions.csv or predictions.parquet; give the "
                         "output folder of `mimir infer` or `mimir merge`")
    d = read_dictionary(out)
    d = d[d["table"] == "predictions.csv"]
    df.attrs["columns"] = {r["column"]: {k: r[k] for k in ("meaning", "unit", "module",
                                                            "field")}
                           for _, r in d.iterrows()}
    df.attrs["folder"] = str(out)
    return df
