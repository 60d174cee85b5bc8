"""API: making modules: target tables, folds, training, cross-validation, packaging.

``train`` and ``crossval`` take the hyper-parameters of
:class:`mimir.training.train.TrainConfig` (defaults: the published method), validated
together, and check the initial weights before any data is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mimir.errors import UsageError


def targets(showcase: str | os.PathLike, field: list[str], out: str | os.PathLike,
            cache: str | os.PathLike | None = None, instance: int = 2, array: int = 0,
            overwrite: bool = False) -> dict:
    """A target table from a UK Biobank showcase export (``mimir targets``).

    Parameters
    ----------
    showcase : path-like
        CSV or TSV with ``eid`` and ``<field>-<instance>.<array>`` columns.
    field : list of str
        ``FIELD[:NAME[:UNIT[:DIVISOR]]]`` per target (``22407:VAT:L``).
    out : path-like
        The target table to write (CSV, with its ``.meta.csv``).
    cache : path-like, optional
        Keep subjects with a cached image.
    instance, array : int
        Imaging visit (2 or 3) and array index.
    overwrite : bool
        Replace an existing table.

    Returns
    -------
    dict
        ``table`` (DataFrame) and ``counts`` (``with_image``, ``with_value``, ``both``).
    """
    from mimir.training.targets import (
        TargetSpec,
        make_target_table,
        read_showcase,
        write_target_table,
    )

    if isinstance(field, str):
        field = [field]
    if not field:
        raise UsageError("name at least one target with --field/-f")
    out = Path(out)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; use --overwrite to replace it")
    specs = [TargetSpec.parse(f) for f in field]
    table, meta, counts = make_target_table(read_showcase(showcase), specs, instance, array,
                                            cache)
    write_target_table(table, meta, out)
    return {"table": table, "counts": counts}


def split(targets: str | os.PathLike, out: str | os.PathLike, k: int = 10, seed: int = 0,
          cache: str | os.PathLike | None = None, overwrite: bool = False) -> list:
    """K seeded folds of a target table's subjects (``mimir split``): ``fold_1.txt`` ..
    ``fold_K.txt`` in ``out``; returns the folds."""
    from mimir.cache.store import Cache
    from mimir.training.data import read_target_table
    from mimir.training.splits import make_folds, write_folds

    out = Path(out)
    table = read_target_table(targets)
    names = list(table["name"])
    if cache is not None:
        c = Cache(cache)
        names = [n for n in names if c.has(n)]
    if out.exists() and any(out.glob("fold_*.txt")) and not overwrite:
        raise UsageError(f"{out} already holds fold files; use --overwrite")
    folds = make_folds(names, k, seed)
    write_folds(folds, out)
    return folds


def _config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed, augment,
            init, init_weights, average_from, precision, log):
    """The TrainConfig of the train and crossval options (validated); the initial weights
    are checked, and fetched once where needed, before any data loads."""
    from mimir.training.init import resolve_init
    from mimir.training.train import TrainConfig

    cfg = TrainConfig(backbone=backbone, iterations=iterations, batch_size=batch_size,
                      lr=lr, lr_drop_at=lr_drop_at, snapshot_every=snapshot_every,
                      seed=seed, augment=augment, init=init,
                      init_weights=str(init_weights) if init_weights else None,
                      average_from=average_from, precision=precision)
    resolve_init(cfg.init, cfg.backbone, cfg.init_weights, log=log)
    return cfg


def train(cache: str | os.PathLike, targets: str | os.PathLike, out: str | os.PathLike,
          columns: str | list[str] | None = None, splits: str | os.PathLike | None = None,
          holdout: int | None = None, instance: int = 2, backbone: str = "resnet50",
          iterations: int = 10000, batch_size: int = 32, lr: float = 5e-5,
          lr_drop_at: float = 0.8, snapshot_every: int = 1000, seed: int = 0,
          device: str = "auto", threads: int | None = None, init: str = "imagenet",
          init_weights: str | os.PathLike | None = None, augment: bool = True,
          average_from: float | None = None, precision: str = "fp32",
          on_start: Callable[[int, list], None] | None = None,
          on_progress: Callable[[int, float], None] | None = None,
          log: Callable[[str], None] = print) -> Path:
    """Train a module's network (``mimir train``); rerun to resume.

    Parameters
    ----------
    cache, targets : path-like
        The image cache and the target table (``name`` plus target columns).
    out : path-like
        The run folder.
    columns : str or list, optional
        Target columns (default: those the table's ``.meta.csv`` names).
    splits, holdout, instance
        Train on the subjects of a split folder (``fold_*.txt``, or the original's
        ``images_set_*.txt`` of eids of visit ``instance``), leaving fold ``holdout`` out.
    backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed, augment, init,
    init_weights, average_from, precision
        See :class:`mimir.training.train.TrainConfig`.
    device, threads
        Torch device (auto, cpu, cuda) and CPU threads.
    on_start : callable, optional
        Called with (subjects, target columns) once the data is loaded.
    on_progress, log
        As for :func:`mimir.training.train.train`.

    Returns
    -------
    Path
        The run folder.
    """
    from mimir.training.data import load_dataset, read_target_table
    from mimir.training.splits import read_folds
    from mimir.training.targets import target_columns
    from mimir.training.train import train as run

    cfg = _config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed,
                  augment, init, init_weights, average_from, precision, log)
    table = read_target_table(targets)
    cols = target_columns(table, columns, targets)
    names = None
    if splits is not None:
        folds = read_folds(splits, instance)
        if holdout is not None:
            if not 1 <= holdout <= len(folds):
                raise UsageError(f"--holdout must be 1..{len(folds)}")
            names = sorted(n for i, f in enumerate(folds, 1) if i != holdout for n in f)
        else:
            names = sorted(n for f in folds for n in f)
    elif holdout is not None:
        raise UsageError("--holdout needs --splits")
    data = load_dataset(cache, table, cols, names)
    if on_start:
        on_start(len(data), cols)
    return run(data, out, cfg, device=device, threads=threads, on_progress=on_progress,
               log=log)


def crossval(cache: str | os.PathLike, targets: str | os.PathLike,
             splits: str | os.PathLike, out: str | os.PathLike,
             columns: str | list[str] | None = None, instance: int = 2,
             folds: str | tuple[int, int] | None = None, backbone: str = "resnet50",
             iterations: int = 10000, batch_size: int = 32, lr: float = 5e-5,
             lr_drop_at: float = 0.8, snapshot_every: int = 1000, seed: int = 0,
             device: str = "auto", threads: int | None = None, init: str = "imagenet",
             init_weights: str | os.PathLike | None = None, augment: bool = True,
             average_from: float | None = None, precision: str = "fp32",
             calibration: str = "published", plots: str = "last",
             on_progress: Callable[[int, int, float], None] | None = None,
             log: Callable[[str], None] = print) -> dict:
    """K-fold cross-validation (``mimir crossval``): train each fold, predict its held-out
    subjects with every snapshot, evaluate and calibrate; rerun to resume.

    Parameters
    ----------
    splits, instance
        The split folder (``fold_*.txt`` or the original's ``images_set_*.txt`` of eids
        of visit ``instance``).
    folds : str or (int, int), optional
        Train only folds A-B now (``"1-3"`` or ``(1, 3)``, 1-based).
    calibration : {'published', 'nll'}
        Calibration-factor estimator.
    plots : {'last', 'all'}
        Target plots of the last snapshot or of every snapshot.
    on_progress : callable, optional
        (fold, iteration, running loss).

    Other parameters are as for :func:`train`. Returns the dict of
    :func:`mimir.training.crossval.crossval` (``metrics``, ``calibration``,
    ``folds_done``).
    """
    from mimir.training.crossval import crossval as run
    from mimir.training.data import read_target_table
    from mimir.training.metrics import CALIBRATION_METHODS
    from mimir.training.splits import read_folds
    from mimir.training.targets import read_meta, target_columns

    if calibration not in CALIBRATION_METHODS:
        raise UsageError(f"--calibration must be one of {', '.join(CALIBRATION_METHODS)}")
    if plots not in ("last", "all"):
        raise UsageError("--plots must be last or all")
    fold_range = _fold_range(folds)
    cfg = _config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed,
                  augment, init, init_weights, average_from, precision, log)
    table = read_target_table(targets)
    cols = target_columns(table, columns, targets)
    return run(cache, table, cols, read_folds(splits, instance), out, cfg, device=device,
               threads=threads, fold_range=fold_range, on_progress=on_progress, log=log,
               calibration=calibration, meta=read_meta(targets, cols), plots=plots)


def _fold_range(folds) -> tuple[int, int] | None:
    if folds is None or isinstance(folds, tuple):
        return folds
    try:
        a, _, b = str(folds).partition("-")
        return int(a), int(b or a)
    except ValueError:
        raise UsageError("--folds takes A-B, e.g. 1-3") from None


def module_create(run: str | os.PathLike, out: str | os.PathLike,
                  crossval: str | os.PathLike | None = None,
                  targets: str | os.PathLike | None = None,
                  meta: str | os.PathLike | None = None, iteration: int | None = None,
                  half: bool = False, cache: str | os.PathLike | None = None,
                  note: list[str] | dict | None = None, overwrite: bool = False) -> dict:
    """Package a trained run as a module folder (``mimir module create``).

    Parameters
    ----------
    run : path-like
        The training run (``mimir train``).
    out : path-like
        The module folder to create (its name is the module's).
    crossval : path-like, optional
        A cross-validation of the same targets: calibration factors and metrics.
    targets, meta : path-like, optional
        The target table (its ``.meta.csv`` names the targets) or a meta CSV
        (``column,name,field,unit,divisor``); one of them is needed.
    iteration : int, optional
        The snapshot (default: the last).
    half : bool
        Store weights as float16.
    cache : path-like, optional
        The run's image cache: run the training-fit check (needs ``targets``).
    note : list of ``KEY=VALUE`` or dict, optional
        Recorded under ``provenance`` in ``module.json``.
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    dict
        ``path`` (the module folder) and ``flagged`` (the training-fit check's flagged
        targets: list of dicts).
    """
    import json

    import pandas as pd

    from mimir.training.data import read_target_table
    from mimir.training.package import create_module
    from mimir.training.targets import read_meta

    run, out = Path(run), Path(out)
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise UsageError(f"{run} is not a training run")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if meta is not None:
        meta_table = pd.read_csv(meta, dtype=str, keep_default_na=False)
    elif targets is not None:
        meta_table = read_meta(targets, cfg["targets"])
    else:
        raise UsageError("give --targets (its .meta.csv names the targets) or --meta")
    notes = _notes(note)
    table = None
    if cache is not None:
        if targets is None:
            raise UsageError("--cache needs --targets (the labels of the training subjects)")
        table = read_target_table(targets)
    path = create_module(run, out, meta_table, crossval, iteration, half, overwrite,
                         provenance=notes, cache=cache, table=table)
    flagged = []
    if cache is not None:
        info = json.loads((path / "module.json").read_text(encoding="utf-8"))
        flagged = [r for r in info["provenance"]["training_fit"]["targets"] if r["flagged"]]
    return {"path": path, "flagged": flagged}


def _notes(note) -> dict:
    if note is None:
        return {}
    if isinstance(note, dict):
        return dict(note)
    notes = {}
    for item in note:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise UsageError(f"--note {item!r}: expected KEY=VALUE")
        notes[key] = value
    return notes
