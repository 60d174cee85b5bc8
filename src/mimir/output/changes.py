"""Follow-up change: ``changes.csv`` for subjects imaged at two visits.

UK Biobank images many subjects twice: instance 2 (the first imaging visit) and
instance 3 (the repeat). When a combined prediction table holds one eid at two or more
instances, each pair of consecutive instances (2 then 3) gives a row of
``changes.csv``: ``eid``, ``name_first``, ``name_second``, ``instance_first``,
``instance_second`` and, per target of the combined table (its label and unit as
there):

- ``<T>_first_in_<U>``, ``<T>_second_in_<U>``: the two predicted means;
- ``<T>_change_in_<U>``: second minus first;
- ``<T>_change_sd_in_<U>``: sqrt(variance first + variance second);
- ``<T>_change_lower<L>_in_<U>``, ``<T>_change_upper<L>_in_<U>``: change -/+ z sd at
  the run's interval level (``--ci``, L in percent);
- ``<T>_change_beyond``: whether that interval excludes 0 (empty where a value is
  missing).

The variances add because the two visits' errors are taken as independent. They are
partly shared in practice (the same body, the same network: a subject the network
over-estimates at one visit it tends to over-estimate at the next), so these intervals
are conservative for the change: measured on phantom pairs in ``docs/changes.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path
from mimir.inference.formulas import z_value
from mimir.output.predictions import level_label

CHANGES_FILE = "changes.csv"
_MEAN = re.compile(r"^(?P<label>.+)_mean_in_(?P<unit>.*)$")
PAIR_COLUMNS = ["eid", "name_first", "name_second", "instance_first", "instance_second"]


def target_columns(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, unit) of every target of a combined table with mean and variance columns."""
    cols = set(table.columns)
    out = []
    for c in table.columns:
        m = _MEAN.match(c)
        if m and f"{m['label']}_variance_in_{m['unit']}" in cols:
            out.append((m["label"], m["unit"]))
    return out


def pairs(table: pd.DataFrame) -> list[tuple[int, int]]:
    """Row positions (first, second) of consecutive instances of one eid, ordered by
    eid and instance."""
    if "eid" not in table.columns or "instance" not in table.columns:
        return []
    eid = pd.to_numeric(table["eid"], errors="coerce")
    inst = pd.to_numeric(table["instance"], errors="coerce")
    ok = eid.notna() & inst.notna()
    df = pd.DataFrame({"eid": eid[ok], "instance": inst[ok], "pos": np.flatnonzero(ok)})
    df = df.sort_values(["eid", "instance"], kind="stable")
    out = []
    for _, g in df.groupby("eid", sort=True):
        pos, ins = g["pos"].to_numpy(), g["instance"].to_numpy()
        out += [(int(pos[i]), int(pos[i + 1])) for i in range(len(g) - 1)
                if ins[i + 1] > ins[i]]
    return out


def changes_table(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """The change table of a combined prediction table (see the module docstring);
    no rows when no eid has two instances."""
    found = pairs(table)
    a, b = [p[0] for p in found], [p[1] for p in found]
    first, second = table.iloc[a].reset_index(drop=True), table.iloc[b].reset_index(drop=True)
    out: dict = {"eid": pd.to_numeric(first["eid"]).astype("Int64"),
                 "name_first": first["name"].astype(str),
                 "name_second": second["name"].astype(str),
                 "instance_first": pd.to_numeric(first["instance"]).astype("Int64"),
                 "instance_second": pd.to_numeric(second["instance"]).astype("Int64")}
    z, lab = z_value(level), level_label(level)
    for label, unit in target_columns(table):
        def num(df, stat, label=label, unit=unit):
            return pd.to_numeric(df[f"{label}_{stat}_in_{unit}"], errors="coerce") \
                .to_numpy(dtype=np.float64)

        m1, m2 = num(first, "mean"), num(second, "mean")
        sd = np.sqrt(num(first, "variance") + num(second, "variance"))
        change = m2 - m1
        lo, hi = change - z * sd, change + z * sd
        known = np.isfinite(lo) & np.isfinite(hi)
        beyond = np.full(len(change), None, dtype=object)
        beyond[known] = (lo[known] > 0) | (hi[known] < 0)
        out[f"{label}_first_in_{unit}"] = m1
        out[f"{label}_second_in_{unit}"] = m2
        out[f"{label}_change_in_{unit}"] = change
        out[f"{label}_change_sd_in_{unit}"] = sd
        out[f"{label}_change_lower{lab}_in_{unit}"] = lo
        out[f"{label}_change_upper{lab}_in_{unit}"] = hi
        out[f"{label}_change_beyond"] = beyond
    return pd.DataFrame(out)


def write_changes(out, table: pd.DataFrame, level: float,
                  float_format: str | None = None):
    """Write ``OUT/changes.csv`` atomically when the table holds an eid at two instances;
    returns its path, or None (nothing written) when it holds none."""
    df = changes_table(table, level)
    if df.empty:
        return None
    path = Path(out) / CHANGES_FILE
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    return path
