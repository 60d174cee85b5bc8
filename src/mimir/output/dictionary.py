"""The data dictionary of an output folder: ``columns.csv``.

Every folder MIMIR writes tables into (``infer``, ``merge``, ``preprocess``, ``qc``,
``crossval``) gets ``columns.csv`` with one row per column of each of its tables:

``table``
    The file (``predictions.csv``, ``module_bodycomp/predictions.csv``, ...).
``column``
    The column's name as written.
``meaning``
    What it holds, in words.
``unit``
    Its unit (variances in the square of the target's unit; empty for text, flags and
    counts).
``module``, ``field``
    For a predicted target: the module predicting it and its UK Biobank field id (empty
    where the module names none).

``predictions.parquet`` has the columns of ``predictions.csv``; the dictionary lists
them once, under ``predictions.csv``. A column this module does not recognise is listed
with an empty meaning rather than left out, so the dictionary always covers every column
(a test checks it does not have to).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mimir.atomic import atomic_path
from mimir.qc.flags import FLAGS

DICTIONARY = "columns.csv"
COLUMNS = ["table", "column", "meaning", "unit", "module", "field"]

#: Columns that mean the same in every per-subject table.
COMMON = {
    "name": "subject name: the zip's file name up to its first '.' (<eid>_20201_<instance>_0)",
    "eid": "UK Biobank participant id, from the subject name (empty for other names)",
    "instance": "UK Biobank imaging visit, from the subject name (2: first imaging visit, "
                "3: repeat)",
    "path": "the zip the subject came from",
    "kind": "failure kind (see docs/reliability.md); 'excluded' for subjects left out on "
            "purpose",
    "member": "the zip member concerned, where one is",
    "message": "what went wrong, in words",
    "warning": "a warning recorded while preprocessing the subject",
    "qc_pass": "True when no QC flag of severity 'fail' is raised (empty: no QC facts)",
    "qc_flags": "the raised QC flags, ';'-separated ('unknown': cached before QC facts "
                "were recorded)",
    "qc_detail": "the stations or values behind the raised flags",
    "warning_codes": "codes of the subject's preprocessing warnings, ';'-separated",
}

_STAT = re.compile(r"^(?P<label>.+)_(?P<stat>mean|sd|variance|lower(?P<lo>[0-9.]+)|"
                   r"upper(?P<hi>[0-9.]+))_in_(?P<unit>.+)$")
_UNCERTAIN = re.compile(r"^(?P<label>.+)_uncertain$")


def squared(unit: str) -> str:
    """The square of a unit, for variances: ``L`` -> ``L²``, ``kg/m2`` -> ``(kg/m2)²``;
    empty for a unitless target (e.g. ``(male = 1)``)."""
    u = unit.strip()
    if not u or u.startswith("("):
        return ""
    return f"{u}²" if re.fullmatch(r"[A-Za-z%]+", u) else f"({u})²"


def target_index(modules: Iterable) -> dict:
    """Column label -> (module name, target) for every target of ``modules``; the label
    is the target's name, or ``module.name`` when two modules share it (as in the
    combined table)."""
    mods = list(modules)
    counts: dict = {}
    for m in mods:
        for t in m.targets:
            counts[t.name] = counts.get(t.name, 0) + 1
    index = {}
    for m in mods:
        for t in m.targets:
            index[t.name if counts[t.name] == 1 else f"{m.name}.{t.name}"] = (m.name, t)
            index.setdefault(f"{m.name}.{t.name}", (m.name, t))
    return index


def _field(t) -> str:
    f = str(getattr(t, "field", "") or "").strip()
    return "" if f in ("/", "-") else f


def _target_row(column: str, index: dict, thresholds: dict, module: str | None) -> dict | None:
    m = _STAT.match(column)
    if m:
        label, stat, unit = m.group("label"), m.group("stat"), m.group("unit")
        mod, t = _lookup(index, label, module)
        what = getattr(t, "name", label)
        if stat == "mean":
            meaning, u = f"{what}: predicted mean", unit
        elif stat == "sd":
            meaning, u = f"{what}: predicted standard deviation (square root of the " \
                         "variance)", unit
        elif stat == "variance":
            meaning, u = f"{what}: predicted variance (calibrated; in the square of the " \
                         "target's unit)", squared(unit)
        elif stat.startswith("lower"):
            meaning, u = f"{what}: lower bound of the central {m.group('lo')} % interval " \
                         "(mean - z sd)", unit
        else:
            meaning, u = f"{what}: upper bound of the central {m.group('hi')} % interval " \
                         "(mean + z sd)", unit
        return {"column": column, "meaning": meaning, "unit": u, "module": mod,
                "field": _field(t)}
    m = _UNCERTAIN.match(column)
    if m and (m.group("label") in index):
        mod, t = _lookup(index, m.group("label"), module)
        th = thresholds.get((mod, getattr(t, "name", "")))
        limit = f" ({th:.4g} {t.unit})" if th is not None else ""
        return {"column": column, "meaning": f"{t.name}: True when the predicted sd is above "
                f"the module's threshold{limit}; treat such a prediction with care",
                "unit": "", "module": mod, "field": _field(t)}
    return None


def _lookup(index: dict, label: str, module: str | None):
    if module is not None and f"{module}.{label}" in index:
        return index[f"{module}.{label}"]
    if label in index:
        return index[label]
    return module or "", None


def describe(table: str, columns: Iterable[str], modules: Iterable = (),
             meanings: dict | None = None, module: str | None = None,
             thresholds: dict | None = None) -> list[dict]:
    """Dictionary rows for the columns of one table.

    Parameters
    ----------
    table : str
        The file's path relative to the folder.
    columns : list of str
    modules : list of Module
        The run's modules (for targets: module, field, unit).
    meanings : dict, optional
        column -> (meaning, unit) for columns specific to this table.
    module : str, optional
        The module a per-module table belongs to.
    thresholds : dict, optional
        (module, target) -> the sd threshold of ``_uncertain``.
    """
    index = target_index(modules)
    meanings = meanings or {}
    rows = []
    for c in columns:
        if c in meanings:
            meaning, unit = meanings[c]
            row = {"column": c, "meaning": meaning, "unit": unit, "module": module or "",
                   "field": ""}
        elif c in COMMON:
            row = {"column": c, "meaning": COMMON[c], "unit": "", "module": "", "field": ""}
        elif c in FLAGS:
            sev, rule = FLAGS[c]
            row = {"column": c, "meaning": f"QC flag ({sev}): {rule}", "unit": "",
                   "module": "", "field": ""}
        else:
            row = _target_row(c, index, thresholds or {}, module) or {
                "column": c, "meaning": "", "unit": "", "module": module or "", "field": ""}
        rows.append({"table": table, **row})
    return rows


def write_dictionary(folder: str | Path, rows: list[dict]) -> Path:
    """Write ``columns.csv`` (atomically) into ``folder``."""
    path = Path(folder) / DICTIONARY
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False)
    return path


def read_dictionary(folder: str | Path) -> pd.DataFrame:
    """``columns.csv`` of a folder (empty when there is none)."""
    path = Path(folder) / DICTIONARY
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def dictionary_of_tables(folder: str | Path, modules: Iterable = (),
                         meanings: dict | None = None, thresholds: dict | None = None,
                         skip: Iterable[str] = ()) -> list[dict]:
    """Rows for every CSV table under ``folder`` (one level of subfolders, as MIMIR
    writes them), read from their headers; per-module tables (``<module>/...``) take
    that module."""
    folder = Path(folder)
    mods = list(modules)
    names = {m.name for m in mods}
    rows: list[dict] = []
    skipped = set(skip) | {DICTIONARY}
    files = sorted(folder.glob("*.csv")) + sorted(folder.glob("*/*.csv"))
    for p in files:
        rel = p.relative_to(folder).as_posix()
        if rel in skipped or p.name.startswith("."):
            continue
        header = list(pd.read_csv(p, nrows=0).columns)
        owner = p.parent.name if p.parent != folder and p.parent.name in names else None
        rows += describe(rel, header, mods, meanings, module=owner, thresholds=thresholds)
    return rows
