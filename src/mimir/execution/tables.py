"""Writing a run's final tables from its journals (``infer`` and ``merge``).

Every table is written atomically; ``run.json`` is written last by the caller, so an
interrupted run leaves only its journal, never a table that looks complete but is not.
A full disk stops the writing with one clear message; the journal stays, and
``--resume`` writes the tables once there is space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mimir.atomic import atomic_path
from mimir.cache.store import Cache
from mimir.errors import NO_SPACE, Kind, disk_full, failure_row
from mimir.output.changes import write_changes
from mimir.output.dictionary import describe, write_dictionary
from mimir.output.predictions import combined_table, published_table
from mimir.output.records import FAILURE_COLUMNS, merge_records
from mimir.qc.flags import qc_table, uncertainty_threshold


def unaccounted_rows(expected: set[str], table: pd.DataFrame, failures: list[dict],
                     skipped: set[str], by_name: dict) -> list[dict]:
    """Failure rows for subjects of the run that are in no table (a safety net: every
    input must appear in predictions, failures or exclusions)."""
    seen = set(table["name"]) | {f["name"] for f in failures} | skipped
    return [failure_row(n, Kind.INTERNAL_ERROR, f"subject {n}: no result was recorded for "
                        "it; rerun with --resume, and please report this", by_name.get(n))
            for n in sorted(expected - seen)]


def write_outputs(out: Path, modules: list, entries: dict, cache: Cache, opts,
                  skipped: set[str], failures: list, handled: set[str],
                  expected: set[str] | None = None, by_name: dict | None = None,
                  order: list[str] | None = None):
    """Write every final table from journal entries, and ``columns.csv`` describing
    their columns.

    Rows follow ``order`` (the subjects in the order they were named); subjects not in
    it come after, by name.

    Parameters
    ----------
    entries : dict
        module name -> {subject: (mean, variance)}.
    opts : InferOptions
        The run's options (``ci``, ``qc``, ``digits``; any object with those attributes).
    skipped : set of str
        Subjects not predicted because they failed QC (strict mode): listed with flags.
    failures : list of dict
        This run's failure rows; merged into ``failures.csv`` (rows of ``handled``
        subjects replaced).
    expected : set of str, optional
        Every subject the run must account for; any missing from the tables gets a
        failure row.
    by_name : dict, optional
        Subject -> path, for those rows.
    order : list of str, optional
        The row order (default: by name).

    Returns
    -------
    (DataFrame, DataFrame)
        The combined prediction table and the failure table as written.

    Raises
    ------
    mimir.errors.DiskFullError
        When the disk (or a file-size limit) is full.
    """
    try:
        return _write(out, modules, entries, cache, opts, skipped, failures, handled,
                      expected, by_name or {}, order or [])
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full(exc, out) from None
        raise


def row_order(order: list[str]):
    """A sort key: the position in ``order``, then the name (for names not in it)."""
    rank = {n: i for i, n in enumerate(order)}
    return lambda n: (rank.get(n, len(rank)), n)


def _write(out, modules, entries, cache, opts, skipped, failures, handled, expected,
           by_name, order):
    digits = f"%.{opts.digits}g"  # significant digits of every value written as text
    key = row_order(order)
    results = {}
    for m in modules:
        e = entries[m.name]
        ns = sorted(e, key=key)
        mean = np.array([e[n][0] for n in ns]).reshape(len(ns), m.n_targets)
        var = np.array([e[n][1] for n in ns]).reshape(len(ns), m.n_targets)
        results[m.name] = (ns, mean, var)
        (out / m.name).mkdir(exist_ok=True)
        with atomic_path(out / m.name / "predictions.csv") as tmp:
            published_table(m.targets, ns, mean, var).to_csv(tmp, index=False,
                                                             float_format=digits)
    qc_tab = None
    if opts.qc != "off":
        listed = sorted({n for ns, _, _ in results.values() for n in ns} | skipped, key=key)
        qc_tab = qc_table(cache, [n for n in listed if cache.has(n)])
        with atomic_path(out / "qc.csv") as tmp:
            qc_tab.to_csv(tmp, index=False)
    table = combined_table(modules, results, opts.ci, qc=qc_tab, extra_names=sorted(skipped),
                           order=key)
    with atomic_path(out / "predictions.csv") as tmp:
        table.to_csv(tmp, index=False, float_format=digits)
    with atomic_path(out / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    write_changes(out, table, opts.ci, digits)  # subjects seen at two visits
    if expected is not None:
        failures = failures + unaccounted_rows(expected, table, failures, skipped, by_name)
    merged = merge_records(out / "failures.csv", failures, handled, FAILURE_COLUMNS,
                           order=key)
    write_dictionary(out, dictionary_rows(modules, table, qc_tab, merged))
    return table, merged


def dictionary_rows(modules: list, table: pd.DataFrame, qc_tab: pd.DataFrame | None,
                    failures: pd.DataFrame) -> list[dict]:
    """``columns.csv`` of an ``infer`` or ``merge`` folder: every column of the combined
    table (CSV and Parquet alike), of each module's published table, of ``qc.csv`` and
    of ``failures.csv``."""
    from mimir.output.predictions import published_columns  # lazy: imports pandas

    th = {(m.name, t.name): uncertainty_threshold(m, t)[0] for m in modules for t in m.targets}
    rows = describe("predictions.csv", table.columns, modules, thresholds=th)
    for m in modules:
        rows += describe(f"{m.name}/predictions.csv", published_columns(m.targets), modules,
                         module=m.name)
    if qc_tab is not None:
        rows += describe("qc.csv", qc_tab.columns, modules)
    rows += describe("failures.csv", failures.columns, modules)
    return rows
