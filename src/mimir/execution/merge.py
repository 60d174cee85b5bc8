"""Combining the outputs of ``infer --shard I/N`` runs into one set of tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from mimir.atomic import write_text
from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.execution.journal import journals_for, read_names, skipped_path
from mimir.execution.options import INFER_OPTIONS
from mimir.execution.outdir import STATE_DIR, RunLock, ensure_folder, read_state
from mimir.execution.tables import write_outputs
from mimir.modules.format import load_module


def merge(sources: list, out: str | os.PathLike, overwrite: bool = False) -> dict:
    """Combine the outputs of ``--shard`` runs into one set of tables.

    Parameters
    ----------
    sources : list of path-like
        Shard output folders, or a run folder holding ``shards/*`` (``OUT`` of the shard
        runs).
    out : path-like
        Where to write the merged tables (may be the run folder itself).
    overwrite : bool
        Replace merged tables already in ``out``.

    Returns
    -------
    dict
        ``shards``, ``subjects``, ``missing`` (shard numbers not found or incomplete).
    """
    dirs: list[Path] = []
    for s in sources:
        s = Path(s)
        if (s / "shards").is_dir():
            dirs += sorted(p for p in (s / "shards").iterdir() if p.is_dir())
        elif (s / STATE_DIR / "state.json").is_file():
            dirs.append(s)
        else:
            raise UsageError(f"{s} is neither a shard output nor a folder with shards/")
    if not dirs:
        raise UsageError("no shard outputs found")
    states = [read_state(d) or {} for d in dirs]
    ref = states[0]
    for d, s in zip(dirs, states, strict=True):
        for key in ("modules", "batch_size", "ci", "qc"):
            if s.get(key) != ref.get(key):
                raise UsageError(f"{d}: {key} {s.get(key)} differs from {dirs[0]}'s "
                                 f"{ref.get(key)}; these shards are not one run")
        if not s.get("shard"):
            raise UsageError(f"{d} is not a shard output (run with --shard I/N)")
    n_shards = ref["shard"][1]
    seen = {s["shard"][0] for s, d in zip(states, dirs, strict=True)
            if (d / "run.json").is_file()}
    missing = sorted(set(range(1, n_shards + 1)) - seen)
    if missing:
        raise UsageError(f"shards {missing} of {n_shards} are missing or unfinished")
    out = Path(out)
    if (out / "predictions.csv").exists() and not overwrite:
        raise UsageError(f"{out} already holds merged results; use --overwrite")
    ensure_folder(out, "output folder")
    with RunLock(out) as lock:
        lock.acquire("merge")
        return _merge(dirs, ref, out)


def _options(state: dict) -> SimpleNamespace:
    """The shard runs' options as they recorded them (defaults for any they predate)."""
    values = {o.name: o.default for o in INFER_OPTIONS}
    values.update(ci=state["ci"], qc=state["qc"])
    values.update(state.get("options") or {})
    return SimpleNamespace(**values)


def _merge(dirs: list[Path], ref: dict, out: Path) -> dict:
    mods = [load_module(p) for p in ref["module_paths"]]
    entries: dict = {m.name: {} for m in mods}
    skipped: set[str] = set()
    failures: list = []
    for d in dirs:
        for name, e in ((m.name, j.read()) for m, j in zip(
                mods, journals_for(d, mods).values(), strict=True)):
            entries[name].update(e)
        skipped |= read_names(skipped_path(d))
        if (d / "failures.csv").is_file():
            failures += pd.read_csv(d / "failures.csv", dtype=str,
                                    keep_default_na=False).to_dict("records")
    (out / "failures.csv").unlink(missing_ok=True)
    from mimir.execution.run import (
        read_order,  # the shards share the run's order  # lazy: imports cv2, pandas
    )

    table, _ = write_outputs(out, mods, entries, Cache(ref["cache"]), _options(ref),
                             skipped, failures, set(), order=read_order(dirs[0]))
    write_text(out / "merged.json", json.dumps({"shards": [str(d) for d in dirs],
                                                "subjects": len(table)}, indent=1))
    return {"shards": len(dirs), "subjects": len(table), "missing": []}
