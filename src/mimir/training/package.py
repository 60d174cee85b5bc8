"""``mimir module create``: a trained run (plus its cross-validation) into a module folder.

The folder follows the published layout (snapshot, metadata, standardisation,
calibration factors) plus ``module.json``: format version, backbone, input format,
targets, provenance (training data, subjects, iterations, cross-validation metrics),
the snapshot's SHA-256, per-target uncertainty thresholds (the 99th percentile of
the calibrated predicted sd on the cross-validation's held-out predictions) and, when the
image cache is given, the training-fit check (:mod:`mimir.training.fitcheck`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mimir._version import __version__
from mimir.atomic import atomic_path, write_text
from mimir.errors import UsageError
from mimir.modules.format import (
    CALIBRATION,
    INPUT_FORMAT,
    METADATA,
    MODULE_FORMAT_VERSION,
    SNAPSHOT,
    STANDARDIZATION,
    file_sha256,
)
from mimir.modules.members import ENSEMBLE_FORMAT_VERSION, member_file
from mimir.modules.snapshot import load_state_dict
from mimir.training.ensemble import common_snapshots, ensemble_config, member_runs


def calibration_method(crossval_dir: Path) -> str:
    """The estimator a cross-validation's factors came from (``published`` or ``nll``;
    folders written before the choice existed used ``nll``)."""
    p = crossval_dir / "crossval.json"
    if p.is_file():
        return str(json.loads(p.read_text(encoding="utf-8")).get("calibration", "nll"))
    return "nll"


def member_config(runs: list[Path]) -> dict:
    """The ``config.json`` of a run's first member, after checking that every member was
    trained on the same targets, subjects and standardisation (they share the module's
    metadata and standardisation files)."""
    cfgs = []
    for r in runs:
        p = r / "config.json"
        if not p.is_file():
            raise UsageError(f"{r} is not a training run (no config.json)")
        cfgs.append(json.loads(p.read_text(encoding="utf-8")))
    for r, c in zip(runs[1:], cfgs[1:], strict=True):
        for key in ("targets", "subjects", "stand_mean", "stand_sd"):
            if c.get(key) != cfgs[0].get(key):
                raise UsageError(f"{r}: its {key} differ from those of {runs[0]}; the "
                                 "members of an ensemble share them")
    return cfgs[0]


def check_crossval_members(cv: Path, members: int) -> None:
    """Refuse calibration factors fitted on another ensemble size than the run's."""
    p = cv / "crossval.json"
    if not p.is_file():
        return
    k = int((json.loads(p.read_text(encoding="utf-8")).get("config") or {}).get("ensemble", 1))
    if k != members:
        raise UsageError(f"{cv}: its calibration factors were fitted on "
                         f"{'an ensemble of ' + str(k) + ' members' if k > 1 else 'single networks'}"
                         f", but the run has {members} member(s); cross-validate with "
                         f"--ensemble {members}")


def create_module(run_dir: str | os.PathLike, out_dir: str | os.PathLike, meta: pd.DataFrame,
                  crossval_dir: str | os.PathLike | None = None, iteration: int | None = None,
                  half: bool = False, overwrite: bool = False,
                  provenance: dict | None = None, cache: str | os.PathLike | None = None,
                  table: pd.DataFrame | None = None) -> Path:
    """Write a module folder from a finished training run.

    Parameters
    ----------
    run_dir : path-like
        A training run (``mimir train``).
    out_dir : path-like
        The module folder to create (its name is the module's name).
    meta : DataFrame
        Per target column: ``column``, ``name``, ``field``, ``unit``, ``divisor``.
    crossval_dir : path-like, optional
        A cross-validation of the same targets: its ``calibration_factors.csv``,
        metrics and held-out predictions go into the module. Without it every
        calibration factor is 1 (said in module.json).
    iteration : int, optional
        Snapshot to package (default the last).
    half : bool
        Store weights as float16 (loading restores float32).
    overwrite : bool
        Replace an existing folder.
    provenance : dict, optional
        Extra facts for module.json (e.g. the commands that made it).
    cache, table : optional
        The run's image cache and target table: run the training-fit check of the
        packaged snapshot and record it under ``provenance.training_fit``.
    """
    import torch  # lazy: torch loads only where it is used

    run = Path(run_dir)
    out = Path(out_dir)
    runs = member_runs(run)
    cfg = member_config(runs)
    targets = cfg["targets"]
    per_it = dict(common_snapshots(runs))
    if not per_it:
        raise UsageError(f"{run} has no snapshots" + (" common to all its members"
                                                      if len(runs) > 1 else ""))
    it = iteration if iteration is not None else max(per_it)
    if it not in per_it:
        raise UsageError(f"{run} has no snapshot at iteration {it} (has {sorted(per_it)})")
    snaps = {it: per_it[it][0]}
    meta = meta.set_index("column")
    missing = [t for t in targets if t not in meta.index]
    if missing:
        raise UsageError(f"no metadata (name, unit, divisor) for target columns {missing}")
    factors = {t: 1.0 for t in targets}
    cv_info: dict = {"calibration": "none: all factors 1"}
    thresholds = {}
    if crossval_dir is not None:
        cv = Path(crossval_dir)
        check_crossval_members(cv, len(runs))
        cf = pd.read_csv(cv / "calibration_factors.csv").set_index("target")
        for t in targets:
            if t not in cf.index:
                raise UsageError(f"{cv / 'calibration_factors.csv'} has no factor for {t}")
            factors[t] = float(cf.loc[t, "calibration_factor"])
        metrics = pd.read_csv(cv / "metrics.csv")
        last = metrics[metrics["iteration"] == metrics["iteration"].max()]
        cv_info = {"folder": str(cv), "calibration": "pooled held-out predictions",
                   "calibration_method": calibration_method(cv),
                   "metrics": last.to_dict("records")}
        pooled = pd.read_csv(cv / "pooled_predictions.csv")
        for t in targets:
            d = float(meta.loc[t, "divisor"])
            sd = np.sqrt(pooled[f"{t}_var"].to_numpy() * factors[t]) / d
            thresholds[str(meta.loc[t, "name"])] = float(np.nanpercentile(sd, 99))
    if out.exists():
        if not overwrite:
            raise UsageError(f"{out} exists; use --overwrite to replace it")
    fit = None
    if cache is not None:
        if table is None:
            raise UsageError("the training-fit check needs the target table")
        from mimir.training.fitcheck import MAX_OFFSET, training_fit  # lazy: imports scipy, pandas

        fit = {"max_offset_sd": MAX_OFFSET,
               "targets": training_fit(run, snaps[it], cache, table, factors,
                                       members=list(zip(runs, per_it[it], strict=True))
                                       ).to_dict("records")}
    out.mkdir(parents=True, exist_ok=True)
    for k, snap in enumerate(per_it[it], 1):
        state = load_state_dict(snap)
        if half:
            state = {n: (v.half() if v.is_floating_point() else v) for n, v in state.items()}
        with atomic_path(out / member_file(k)) as tmp:
            torch.save({"state_dict": state, "iteration": it}, tmp)
    ensemble = None
    if len(runs) > 1:
        ensemble = [{"snapshot": member_file(k), "sha256": file_sha256(out / member_file(k)),
                     "seed": json.loads((r / "config.json").read_text(encoding="utf-8"))
                     ["config"]["seed"]} for k, r in enumerate(runs, 1)]
    lines = ["Name,Field,Unit,Divisor"]
    for t in targets:
        r = meta.loc[t]
        lines.append(f"{r['name']},{r['field']},{r['unit']},{float(r['divisor']):g}")
    write_text(out / METADATA, "\n".join(lines) + "\n")
    lines = ["stand_mean,stand_stdev"] + [f"{m!r},{s!r}" for m, s in
                                          zip(cfg["stand_mean"], cfg["stand_sd"], strict=True)]
    write_text(out / STANDARDIZATION, "\n".join(lines) + "\n")
    write_text(out / CALIBRATION, "\n".join(["calibration_factor"] +
                                            [repr(factors[t]) for t in targets]) + "\n")
    info = {
        "format_version": ENSEMBLE_FORMAT_VERSION if ensemble else MODULE_FORMAT_VERSION,
        "backbone": cfg["config"]["backbone"],
        "input_format": INPUT_FORMAT,
        "weights_dtype": "float16" if half else "float32",
        "targets": [str(meta.loc[t, "name"]) for t in targets],
        "target_columns": targets,
        "provenance": {"engine": f"mimir {__version__}", "run": str(run), "iteration": it,
                       "training": ensemble_config(run) if ensemble else cfg["config"],
                       "init": cfg.get("init"),
                       "n_subjects": len(cfg["subjects"]),
                       "crossval": cv_info,
                       **({"training_fit": fit} if fit is not None else {}),
                       **(provenance or {})},
        "uncertainty_thresholds": thresholds,
        "checksums": {SNAPSHOT: file_sha256(out / SNAPSHOT)},
        **({"members": ensemble} if ensemble else {}),
    }
    write_text(out / "module.json", json.dumps(info, indent=1))
    return out
