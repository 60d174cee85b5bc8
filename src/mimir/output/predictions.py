"""Prediction tables: the published per-module layout and the combined table.

Published (kept for users' existing scripts): ``<module>/predictions.csv`` with header
``name`` then, per target in metadata order, ``<Name>_mean_in_<Unit>`` and
``<Name>_variance_in_<Unit>``.

Combined (``predictions.csv`` and ``predictions.parquet``): one row per subject with
``name``, ``eid`` and ``instance`` (parsed from ``<eid>_20201_<instance>_0``; empty for
other names) and, per target, ``<Name>_mean_in_<Unit>``, ``<Name>_sd_in_<Unit>``,
``<Name>_variance_in_<Unit>``, ``<Name>_lower<L>_in_<Unit>`` and
``<Name>_upper<L>_in_<Unit>`` (L the interval level in percent). A target name that
two modules share is prefixed with the module name (``module_age.age``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mimir.inference.formulas import interval
from mimir.qc.flags import uncertainty_threshold
from mimir.reading.archive import id_columns


def level_label(level: float) -> str:
    """95 for 0.95, 99.5 for 0.995."""
    pct = level * 100
    return f"{pct:.10g}"


def published_columns(targets) -> list[str]:
    cols = ["name"]
    for t in targets:
        cols += [f"{t.name}_mean_in_{t.unit}", f"{t.name}_variance_in_{t.unit}"]
    return cols


def published_table(targets, names: list[str], mean: np.ndarray,
                    variance: np.ndarray) -> pd.DataFrame:
    """The published layout for one module."""
    data: dict = {"name": list(names)}
    for j, t in enumerate(targets):
        data[f"{t.name}_mean_in_{t.unit}"] = mean[:, j]
        data[f"{t.name}_variance_in_{t.unit}"] = variance[:, j]
    return pd.DataFrame(data, columns=published_columns(targets))


def target_labels(modules) -> dict:
    """(module name, target name) -> label used in the combined table."""
    counts: dict = {}
    for m in modules:
        for t in m.targets:
            counts[t.name] = counts.get(t.name, 0) + 1
    return {(m.name, t.name): (t.name if counts[t.name] == 1 else f"{m.name}.{t.name}")
            for m in modules for t in m.targets}


def combined_table(modules, results: dict, level: float, qc: pd.DataFrame | None = None,
                   extra_names: Sequence[str] = (), order=None) -> pd.DataFrame:
    """One row per subject with mean, sd, variance and interval bounds of every target.

    Parameters
    ----------
    modules : list of Module
    results : dict
        module name -> (names, mean (N, T), variance (N, T)).
    level : float
        Interval level (e.g. 0.95).
    qc : DataFrame, optional
        QC flags by subject (``qc_pass``, ``qc_flags``): added as columns, and each
        target gets ``<Name>_uncertain`` (predicted sd above the module's threshold, see
        :func:`mimir.qc.flags.uncertainty_threshold`).
    extra_names : list of str
        Subjects to list even without predictions (e.g. failed QC in strict mode).
    order : callable, optional
        Sort key of the rows (default: by name).
    """
    labels = target_labels(modules)
    lab = level_label(level)
    names = sorted({n for ns, _, _ in results.values() for n in ns} | set(extra_names),
                   key=order)
    table = pd.DataFrame({"name": names, **id_columns(names)})
    if qc is not None:
        q = qc.set_index("name")
        table["qc_pass"] = [q["qc_pass"].get(n) for n in names]
        table["qc_flags"] = [q["qc_flags"].get(n, "") for n in names]
    cols = {}
    for m in modules:
        if m.name not in results:
            continue
        ns, mean, var = results[m.name]
        idx = pd.Index(names).get_indexer(ns)
        lo, hi = interval(mean, var, level)
        for j, t in enumerate(m.targets):
            label, u = labels[(m.name, t.name)], t.unit
            for stat, values in (("mean", mean[:, j]), ("sd", np.sqrt(var[:, j])),
                                 ("variance", var[:, j]), (f"lower{lab}", lo[:, j]),
                                 (f"upper{lab}", hi[:, j])):
                col = np.full(len(names), np.nan)
                col[idx] = values
                cols[f"{label}_{stat}_in_{u}"] = col
            if qc is not None:
                th, _ = uncertainty_threshold(m, t)
                flag = np.full(len(names), None, dtype=object)
                flag[idx] = np.sqrt(var[:, j]) > th
                cols[f"{label}_uncertain"] = flag
    return pd.concat([table, pd.DataFrame(cols)], axis=1)
