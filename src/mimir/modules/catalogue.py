"""The published targets and their accuracy, shipped with the package.

``published_targets.csv`` (beside this file) lists every target of the original MIMIR's
two result documents, one row each (83 rows):

``source``
    ``10-fold cross-validation`` (71 targets, about 40,000 subjects), or the later test
    of 12 body composition fields against new references.
``table``
    The group the documents list it under (anthropometry, organs, age, atlas-based and
    DXA body composition).
``target``, ``field``, ``unit``
    The published name, the UK Biobank field id (empty where the reference did not come
    from UK Biobank) and the unit.
``n``, ``icc``, ``r2``, ``mae``, ``mape_percent``
    Subjects evaluated; ICC (the original's formula, see docs/training.md); R²; mean
    absolute error (in the unit); mean absolute percentage error in % (the original's
    code computes a fraction; the documents print %).

A module's target matches a published one by UK Biobank field id where both have one,
else by name (case-insensitive). :func:`own_accuracy` reads a module's own
cross-validation figures from its ``module.json``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

CATALOGUE = "published_targets.csv"
#: The two sources of published figures; the first is the one shown beside targets.
CROSSVAL = "10-fold cross-validation"


@dataclass(frozen=True)
class Published:
    """One published target and its accuracy."""

    source: str
    table: str
    target: str
    field: str
    n: int
    unit: str
    icc: float
    r2: float
    mae: float
    mape_percent: float

    @property
    def figures(self) -> dict:
        """``n``, ``icc``, ``r2``, ``mae``, ``mape_percent``."""
        return {"n": self.n, "icc": self.icc, "r2": self.r2, "mae": self.mae,
                "mape_percent": self.mape_percent}


def _float(text: str) -> float:
    return float(text) if text.strip() else math.nan


@lru_cache(maxsize=1)
def published() -> tuple[Published, ...]:
    """Every published target (the 83 rows of the catalogue, in its order)."""
    text = resources.files("mimir.modules").joinpath(CATALOGUE).read_text(encoding="utf-8")
    rows = []
    for r in csv.DictReader(text.splitlines()):
        rows.append(Published(source=r["source"], table=r["table"], target=r["target"],
                              field=r["field"].strip(), n=int(r["n"]), unit=r["unit"],
                              icc=_float(r["icc"]), r2=_float(r["r2"]), mae=_float(r["mae"]),
                              mape_percent=_float(r["mape_percent"])))
    return tuple(rows)


def _clean_field(field) -> str:
    f = str(field or "").strip()
    return "" if f in ("/", "-") else f


def matches(name: str, field: str = "") -> list[Published]:
    """Published rows of a target: by field id where it has one (and the row too), else
    by name; the cross-validation row first."""
    field = _clean_field(field)
    rows = [p for p in published() if field and p.field == field]
    if not rows:
        rows = [p for p in published() if p.target.lower() == name.strip().lower()]
    return sorted(rows, key=lambda p: p.source != CROSSVAL)


def match(name: str, field: str = "") -> Published | None:
    """The published cross-validation row of a target (or its only row), or None."""
    rows = matches(name, field)
    return rows[0] if rows else None


def own_accuracy(module) -> dict:
    """A module's own cross-validation figures per target name, from ``module.json``
    (``provenance.crossval.metrics``, the last snapshot): ``n``, ``icc``, ``r2``,
    ``mae`` (in the module's reporting unit: divided by the target's divisor) and
    ``mape_percent``. {} for a module without them (the published modules)."""
    info = getattr(module, "info", None) or {}
    prov = info.get("provenance") or {}
    rows = (prov.get("crossval") or {}).get("metrics") or []
    columns = info.get("target_columns") or []
    names = [t.name for t in module.targets]
    by_column = dict(zip(columns, names, strict=False)) if len(columns) == len(names) else {}
    divisor = {t.name: (t.divisor or 1.0) for t in module.targets}
    out = {}
    for r in rows:
        if not isinstance(r, dict):
            continue
        col = str(r.get("target", ""))
        name = by_column.get(col, col)
        if name not in divisor:
            continue
        try:
            out[name] = {"n": int(r.get("n", 0)), "icc": float(r.get("icc", math.nan)),
                         "r2": float(r.get("r2", math.nan)),
                         "mae": float(r.get("mae", math.nan)) / divisor[name],
                         "mape_percent": float(r.get("mape", math.nan))}
        except (TypeError, ValueError):
            continue
    return out


def module_table(module):
    """Per target of a module: field, unit, its own cross-validation figures and the
    published ones (``mimir modules info``), as a pandas DataFrame."""
    import pandas as pd  # lazy: pandas loads only where it is used

    own = own_accuracy(module)
    rows = []
    for t in module.targets:
        o = own.get(t.name) or {}
        rows_pub = matches(t.name, t.field)
        base = {"target": t.name, "field": _clean_field(t.field), "unit": t.unit,
                "own_n": o.get("n"), "own_icc": o.get("icc"), "own_r2": o.get("r2"),
                "own_mae": o.get("mae"), "own_mape_percent": o.get("mape_percent")}
        if not rows_pub:
            rows.append({**base, "published_source": "", "published_target": ""})
        for p in rows_pub:
            rows.append({**base, "published_source": p.source, "published_target": p.target,
                         **{f"published_{k}": v for k, v in p.figures.items()}})
    return pd.DataFrame(rows)
