"""Prediction tables: the published per-module layout and the combined table.

Published (kept for users' existing scripts): ``<module>/predictions.csv`` with header
``name`` then, per target in metadata order, ``<Name>_mean_in_<Unit>`` and
``<Name>_variance_in_<Unit>``.

Combined (``predictions.csv`` and ``predictions.parquet``): one row per subject and,
per target, ``<Name>_mean_in_<Unit>``, ``<Name>_sd_in_<Unit>``,
``<Name>_variance_in_<Unit>``, ``<Name>_lower<L>_in_<Unit>`` and
``<Name>_upper<L>_in_<Unit>`` (L the interval level in percent). A target name that
two modules share is prefixed with the module name (``module_age.age``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mimir.inference.formulas import interval


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
    data = {"name": list(names)}
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


def combined_table(modules, results: dict, level: float) -> pd.DataFrame:
    """One row per subject with mean, sd, variance and interval bounds of every target.

    Parameters
    ----------
    modules : list of Module
    results : dict
        module name -> (names, mean (N, T), variance (N, T)).
    level : float
        Interval level (e.g. 0.95).
    """
    labels = target_labels(modules)
    lab = level_label(level)
    names = sorted({n for ns, _, _ in results.values() for n in ns})
    table = pd.DataFrame({"name": names})
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
    return pd.concat([table, pd.DataFrame(cols)], axis=1)
