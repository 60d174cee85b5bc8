"""Target tables from UK Biobank showcase exports.

A showcase export has an ``eid`` column and ``<field>-<instance>.<array>`` columns
(``22407-2.0``), as CSV or TSV. A target table (what ``mimir train`` reads) has a
``name`` column (``<eid>_20201_<instance>_0``, the image's subject name), ``eid`` and
one column per target; its sidecar ``<table>.meta.csv`` gives each target column's
module name, UK Biobank field, unit and divisor (used by ``mimir module create``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mimir.atomic import atomic_path
from mimir.cache.store import Cache
from mimir.errors import UsageError

META_COLUMNS = ["column", "name", "field", "unit", "divisor"]


@dataclass(frozen=True)
class TargetSpec:
    """One target to take from a showcase export."""

    field: str
    name: str
    unit: str = ""
    divisor: float = 1.0

    @staticmethod
    def parse(text: str) -> TargetSpec:
        """``FIELD[:NAME[:UNIT[:DIVISOR]]]``, e.g. ``22407:VAT:L`` or ``21001``."""
        parts = text.split(":")
        if not parts[0].strip().isdigit():
            raise UsageError(f"target {text!r}: the field must be a UK Biobank field id")
        field = parts[0].strip()
        name = parts[1].strip() if len(parts) > 1 and parts[1].strip() else f"f{field}"
        unit = parts[2].strip() if len(parts) > 2 else ""
        try:
            divisor = float(parts[3]) if len(parts) > 3 else 1.0
        except ValueError:
            raise UsageError(f"target {text!r}: divisor must be a number") from None
        return TargetSpec(field, name, unit, divisor)


def meta_path(table_path: str | os.PathLike) -> Path:
    p = Path(table_path)
    return p.with_name(p.stem + ".meta.csv")


def read_showcase(path: str | os.PathLike) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"showcase export {p} does not exist")
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        head = fh.readline()
    sep = "\t" if "\t" in head else ","
    df = pd.read_csv(p, sep=sep, dtype={"eid": str}, low_memory=False)
    if "eid" not in df.columns:
        raise UsageError(f"showcase export {p} has no 'eid' column")
    return df


def make_target_table(showcase: pd.DataFrame, specs: list[TargetSpec], instance: int = 2,
                      array: int = 0, cache: str | os.PathLike | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Pick fields at an instance, name them, and join with the cached images.

    Returns
    -------
    table : DataFrame
        ``name``, ``eid`` and one column per target (subjects with an image and at least
        one value; all subjects with a value when no cache is given).
    meta : DataFrame
        The sidecar (column, name, field, unit, divisor).
    counts : dict
        ``with_image``, ``with_value``, ``both`` (subjects).
    """
    cols = {}
    for s in specs:
        col = f"{s.field}-{instance}.{array}"
        if col not in showcase.columns:
            raise UsageError(f"showcase export has no column {col} (field {s.field}, "
                             f"instance {instance}, array {array})")
        cols[s.name] = pd.to_numeric(showcase[col], errors="coerce")
    table = pd.DataFrame({"name": [f"{e}_20201_{instance}_0" for e in showcase["eid"]],
                          "eid": showcase["eid"], **cols})
    has_value = table[[s.name for s in specs]].notna().any(axis=1)
    names_img = set(Cache(cache).names()) if cache is not None else None
    has_image = table["name"].isin(names_img) if names_img is not None else has_value
    counts = {"with_image": int(len(names_img)) if names_img is not None else None,
              "with_value": int(has_value.sum()), "both": int((has_value & has_image).sum())}
    table = table[has_value & has_image].reset_index(drop=True)
    meta = pd.DataFrame([{"column": s.name, "name": s.name, "field": s.field, "unit": s.unit,
                          "divisor": s.divisor} for s in specs], columns=META_COLUMNS)
    return table, meta, counts


def write_target_table(table: pd.DataFrame, meta: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the table and its ``.meta.csv`` sidecar atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(meta_path(p)) as tmp:
        meta.to_csv(tmp, index=False)


def read_meta(table_path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """The sidecar of a target table, for ``columns`` (defaults where it is missing)."""
    mp = meta_path(table_path)
    if mp.is_file():
        meta = pd.read_csv(mp, dtype=str, keep_default_na=False).set_index("column")
    else:
        meta = pd.DataFrame(columns=META_COLUMNS).set_index("column")
    rows = []
    for c in columns:
        if c in meta.index:
            r = meta.loc[c]
            rows.append({"column": c, "name": r["name"] or c, "field": r["field"],
                         "unit": r["unit"], "divisor": float(r["divisor"] or 1)})
        else:
            rows.append({"column": c, "name": c, "field": "", "unit": "", "divisor": 1.0})
    return pd.DataFrame(rows, columns=META_COLUMNS)


def target_columns(table: pd.DataFrame, columns: str | list[str] | None,
                   table_path: str | os.PathLike) -> list[str]:
    """The target columns to train: ``columns`` (comma-separated or a list), else those
    the table's ``.meta.csv`` names (written by ``mimir targets`` and ``mimir phantom``),
    else every numeric column except ``eid``.

    Raises
    ------
    UsageError
        When a named column is missing from the table.
    """
    if columns:
        cols = ([c.strip() for c in columns.split(",") if c.strip()]
                if isinstance(columns, str) else list(columns))
        missing = [c for c in cols if c not in table.columns]
        if missing:
            found = [c for c in table.columns if c not in {"name", "eid"}]
            raise UsageError(f"--columns: {table_path} has no columns {missing} (target "
                             f"columns found: {', '.join(map(str, found)) or 'none'}); make "
                             "the table with `mimir targets`")
        return cols
    mp = meta_path(table_path)
    if mp.is_file():
        named = pd.read_csv(mp, dtype=str, keep_default_na=False)["column"].tolist()
        missing = [c for c in named if c not in table.columns]
        if missing:
            raise UsageError(f"{mp} names columns {missing} that {table_path} lacks "
                             f"(found: {', '.join(map(str, table.columns))}); make both "
                             "with `mimir targets`")
        return named
    return [c for c in table.columns if c not in {"name", "eid"}
            and table[c].dtype.kind in "fiub"]
