"""Gathering what the report shows from an ``infer`` output folder.

A folder is either a local run (``run.json`` and ``.mimir/state.json`` in it) or the
result of ``mimir merge`` (``merged.json`` naming the shard folders, each with its own
``run.json`` and ``.mimir/state.json``). Both hold the same tables:
``predictions.parquet`` (or ``predictions.csv``), ``qc.csv`` (unless ``--qc off``),
``failures.csv`` and one ``<module>/predictions.csv`` per module.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.modules.catalogue import Published, match
from mimir.report.stats import bool_values, sex_labels

_MEAN = re.compile(r"^(?P<label>.+)_mean_in_(?P<unit>.+)$")
_LOWER = re.compile(r"_lower(?P<level>[0-9.]+)_in_")
_SUBJECT = re.compile(r"^(\d+)_20201_(\d+)_(\d+)$")
_SEX_UNIT = re.compile(r"\bmale\s*=\s*1\b", re.IGNORECASE)


@dataclass
class Target:
    """One predicted target and its columns in the combined table.

    Attributes
    ----------
    label : str
        Name in the combined table (``module.name`` when two modules share a name).
    unit : str
    module : str
        The module predicting it ("" when unknown).
    mean, sd : str
        Column names.
    lower, upper, uncertain : str or None
        Column names, when present.
    is_sex : bool
        The target is sex (unit like ``(male = 1)`` or named sex).
    name : str
        The target's own name (the label without a module prefix).
    field : str
        Its UK Biobank field id ("" when the module names none or it is unknown).
    own : dict or None
        The module's own cross-validation figures (``n``, ``icc``, ``r2``, ``mae``,
        ``mape_percent``) as ``run.json`` recorded them from ``module.json``.
    published : Published or None
        The published target it matches (:mod:`mimir.modules.catalogue`).
    """

    label: str
    unit: str
    module: str = ""
    mean: str = ""
    sd: str = ""
    lower: str | None = None
    upper: str | None = None
    uncertain: str | None = None
    is_sex: bool = False
    name: str = ""
    field: str = ""
    own: dict | None = None
    published: Published | None = None

    @property
    def axis_label(self) -> str:
        """``label (unit)``, or ``label unit`` when the unit is already in brackets."""
        u = self.unit.strip()
        if not u:
            return self.label
        return f"{self.label} {u}" if u.startswith("(") else f"{self.label} ({u})"


@dataclass
class RunData:
    """Everything the report needs from one output folder.

    Attributes
    ----------
    out : Path
    merged : dict or None
        ``merged.json`` for a merged folder.
    runs : list of dict
        ``run.json`` of the run, or of each shard (in shard order).
    states : list of dict
        ``.mimir/state.json`` likewise.
    table : DataFrame
        The combined predictions.
    qc : DataFrame or None
        ``qc.csv`` (None with ``--qc off``).
    failures : DataFrame
        ``failures.csv`` (possibly empty).
    targets : list of Target
    level : float or None
        The interval level (0.95 for 95 %).
    cache : Cache or None
        The image cache, when it can be found.
    sex : ndarray of str or None
        Per row of ``table``: ``"female"``, ``"male"`` or ``""``.
    sex_source : str
        Where ``sex`` comes from ("" when there is none).
    """

    out: Path
    merged: dict | None
    runs: list
    states: list
    table: pd.DataFrame
    qc: pd.DataFrame | None
    failures: pd.DataFrame
    targets: list
    level: float | None
    cache: Cache | None
    sex: np.ndarray | None = None
    sex_source: str = ""
    notes: list = field(default_factory=list)


def _json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not readable JSON: {exc}") from None


def read_table(out: Path) -> pd.DataFrame:
    """The combined prediction table (Parquet when present, else CSV)."""
    pq, csv = out / "predictions.parquet", out / "predictions.csv"
    if pq.is_file():
        table = pd.read_parquet(pq)
    elif csv.is_file():
        table = pd.read_csv(csv, dtype={"name": str, "qc_flags": str}, keep_default_na=True)
    else:
        raise UsageError(f"{out} holds no predictions.csv or predictions.parquet; give the "
                         "output folder of `mimir infer` or `mimir merge`")
    table["name"] = table["name"].astype(str)
    return table


def find_targets(table: pd.DataFrame, module_targets: dict[str, list[str]]) -> list[Target]:
    """The targets of a combined table, in column order.

    Parameters
    ----------
    table : DataFrame
    module_targets : dict
        module -> the ``<Name>_mean_in_<Unit>`` columns of its published table (to tell
        which module predicts which target).
    """
    owner: dict = {}
    for mod, cols in module_targets.items():
        for c in cols:
            owner.setdefault(c, mod)
            owner[f"{mod}.{c}"] = mod
    columns = set(table.columns)
    targets = []
    for c in table.columns:
        m = _MEAN.match(c)
        if not m:
            continue
        label, unit = m.group("label"), m.group("unit")
        sd = f"{label}_sd_in_{unit}"
        if sd not in columns:
            continue
        lower = next((x for x in table.columns if x.startswith(f"{label}_lower")
                      and x.endswith(f"_in_{unit}")), None)
        upper = lower.replace("_lower", "_upper", 1) if lower else None
        unc = f"{label}_uncertain"
        module = owner.get(c, "")
        base = label[len(module) + 1:] if module and label.startswith(module + ".") else label
        name_l = base.lower()
        is_sex = bool(_SEX_UNIT.search(unit)) or name_l == "sex" or name_l.startswith("sex_")
        targets.append(Target(label=label, unit=unit, module=module, mean=c, sd=sd,
                              lower=lower, upper=upper if upper in columns else None,
                              uncertain=unc if unc in columns else None, is_sex=is_sex,
                              name=base))
    return targets


def add_accuracy(targets: list[Target], runs: list) -> None:
    """Each target's UK Biobank field and the module's own cross-validation figures (as
    ``run.json`` recorded them), and the published target it matches."""
    info: dict = {}
    for r in runs:
        for m in r.get("modules") or []:
            for t in m.get("target_info") or []:
                info.setdefault((m.get("name", ""), t.get("name", "")), t)
    for t in targets:
        rec = info.get((t.module, t.name)) or {}
        t.field = str(rec.get("field") or "").strip().strip("/")
        t.own = rec.get("own") or None
        t.published = match(t.name, t.field)


def _module_columns(out: Path, names: list[str]) -> dict[str, list[str]]:
    res = {}
    for name in names:
        p = out / name / "predictions.csv"
        if p.is_file():
            header = pd.read_csv(p, nrows=0).columns
            res[name] = [c for c in header if "_mean_in_" in c]
    return res


def _level(runs: list, table: pd.DataFrame) -> float | None:
    for r in runs:
        if r.get("ci"):
            return float(r["ci"])
    for c in table.columns:
        m = _LOWER.search(c)
        if m:
            return float(m.group("level")) / 100
    return None


def find_cache(out: Path, states: list, cache: str | os.PathLike | None) -> Cache | None:
    """The image cache: as given, else as the run's state names it, else ``OUT/cache``."""
    if cache is not None:
        return Cache(cache)
    for s in states:
        root = s.get("cache")
        if root and Path(root).is_dir():
            return Cache(root)
    if (out / "cache").is_dir():
        return Cache(out / "cache")
    return None


def read_covariates(path: str | os.PathLike) -> dict[str, str]:
    """Recorded sex per eid (or subject name) from a CSV/TSV with ``eid`` and ``sex``.

    Column names are matched case-insensitively; UK Biobank's field name ``31-0.0``
    (or ``p31``) is accepted for sex. Values: see :func:`mimir.report.stats.sex_labels`.

    Returns
    -------
    dict
        id (as written in the file) -> ``"female"``, ``"male"`` or ``""``.

    Raises
    ------
    UsageError
        When the file is missing or lacks the columns.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"covariates file {p} does not exist")
    first = p.open(encoding="utf-8-sig", errors="replace").readline()
    sep = "\t" if "\t" in first else ","
    df = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lower = {c.strip().lower(): c for c in df.columns}
    eid = next((lower[c] for c in ("eid", "id", "subject", "name") if c in lower), None)
    sex = next((lower[c] for c in ("sex", "31-0.0", "p31", "sex_f31_0_0") if c in lower),
               None)
    if eid is None or sex is None:
        raise UsageError(f"covariates file {p} needs an eid and a sex column (columns: "
                         f"{', '.join(df.columns)})")
    return dict(zip(df[eid].str.strip(), sex_labels(df[sex]), strict=True))


def covariate_sex(names, covariates: dict[str, str]) -> np.ndarray:
    """Recorded sex per subject name (``<eid>_20201_<instance>_0`` matched by eid, or by
    the whole name)."""
    out = []
    for n in names:
        if n in covariates:
            out.append(covariates[n])
            continue
        m = _SUBJECT.match(n)
        out.append(covariates.get(m.group(1), "") if m else "")
    return np.array(out, dtype=object)


def predicted_sex(table: pd.DataFrame, target: Target) -> np.ndarray:
    """Sex predicted by a module (mean > 0.5: male), ``""`` where not predicted."""
    v = pd.to_numeric(table[target.mean], errors="coerce").to_numpy(dtype=float)
    out = np.full(len(v), "", dtype=object)
    out[np.isfinite(v) & (v > 0.5)] = "male"
    out[np.isfinite(v) & (v <= 0.5)] = "female"
    return out


def load_run(out: str | os.PathLike, covariates: str | os.PathLike | None = None,
             cache: str | os.PathLike | None = None) -> RunData:
    """Read an ``infer`` (or ``merge``) output folder.

    Parameters
    ----------
    out : path-like
        The output folder.
    covariates : path-like, optional
        CSV/TSV with ``eid`` and ``sex`` (see :func:`read_covariates`): histograms are
        split by this recorded sex instead of a predicted one.
    cache : path-like, optional
        The image cache, when not where the run's state says.

    Raises
    ------
    UsageError
        When ``out`` is not an output folder.
    """
    out = Path(out)
    if not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    table = read_table(out)
    merged = _json(out / "merged.json")
    runs, states = [], []
    if merged is not None:
        for d in merged.get("shards", []):
            d = Path(d)
            if not d.is_absolute() and not d.exists():
                d = out / d
            runs.append(_json(d / "run.json") or {})
            states.append(_json(d / ".mimir" / "state.json") or {})
    if not runs or (out / "run.json").is_file():
        run = _json(out / "run.json")
        runs, states = [run or {}], [_json(out / ".mimir" / "state.json") or {}]
    qc = None
    if (out / "qc.csv").is_file():
        qc = pd.read_csv(out / "qc.csv", dtype={"name": str, "qc_flags": str,
                                                 "qc_detail": str}, keep_default_na=False)
    failures = pd.DataFrame(columns=["name", "path", "kind", "member", "message"])
    if (out / "failures.csv").is_file():
        failures = pd.read_csv(out / "failures.csv", dtype=str, keep_default_na=False)
    module_names = [m["name"] for r in runs for m in r.get("modules", [])]
    if not module_names:
        module_names = sorted(p.parent.name for p in out.glob("*/predictions.csv"))
    module_names = list(dict.fromkeys(module_names))
    targets = find_targets(table, _module_columns(out, module_names))
    add_accuracy(targets, runs)
    data = RunData(out=out, merged=merged, runs=runs, states=states, table=table, qc=qc,
                   failures=failures, targets=targets, level=_level(runs, table),
                   cache=find_cache(out, states, cache))
    if covariates is not None:
        data.sex = covariate_sex(table["name"], read_covariates(covariates))
        data.sex_source = f"recorded sex from {Path(covariates).name}"
    else:
        sex_t = next((t for t in targets if t.is_sex), None)
        if sex_t is not None:
            data.sex = predicted_sex(table, sex_t)
            data.sex_source = f"sex predicted by {sex_t.module or 'the run'} " \
                              f"({sex_t.label} > 0.5: male)"
    return data


def counts(data: RunData) -> dict:
    """Subjects, predicted, failed, excluded and QC-failed, from the tables.

    ``subjects`` counts every name in the prediction or failure table; ``predicted``
    rows with at least one prediction; ``qc_failed`` subjects whose ``qc_pass`` is
    false; ``qc_not_predicted`` those left without predictions by ``--qc strict``.
    """
    t, f = data.table, data.failures
    means = [x.mean for x in data.targets]
    predicted = int(t[means].notna().any(axis=1).sum()) if means else 0
    kinds = f["kind"].astype(str) if "kind" in f.columns else pd.Series([], dtype=str)
    names = set(t["name"]) | set(f["name"].astype(str)) if "name" in f.columns \
        else set(t["name"])
    res = {"subjects": len(names), "predicted": predicted,
           "failed": int((kinds != "excluded").sum()), "excluded": int((kinds == "excluded")
                                                                      .sum())}
    if data.qc is not None and "qc_pass" in data.qc.columns:
        value, known = bool_values(data.qc["qc_pass"])
        res["qc_failed"] = int((known & ~value).sum())
        res["qc_unknown"] = int((~known).sum())
    not_pred = sum(len(r.get("qc_failed_not_predicted") or []) for r in data.runs)
    if not_pred:
        res["qc_not_predicted"] = not_pred
    return res
