"""API: making modules: target tables, folds, training, cross-validation, packaging.

``train`` and ``crossval`` take the options of :mod:`mimir.training.options` (defaults:
the published method), validated together; they check the targets, splits and cache,
then the initial weights, before any image is loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.optspec import Opt, OptionSet, api_options
from mimir.training.crossval import crossval as run_crossval
from mimir.training.data import load_dataset, read_target_table
from mimir.training.ensemble import member_runs, train_members
from mimir.training.init import resolve_init
from mimir.training.options import (
    CROSSVAL_OPTIONS,
    TRAIN_OPTIONS,
    CrossvalOptions,
    TrainOptions,
    fold_range,
)
from mimir.training.package import create_module
from mimir.training.splits import make_folds, read_folds, write_folds
from mimir.training.targets import (
    TargetSpec,
    make_target_table,
    read_meta,
    read_showcase,
    target_columns,
    write_target_table,
)
from mimir.training.train import TrainConfig

TARGETS_OPTIONS = OptionSet(
    Opt("cache", None, "Keep subjects with a cached image.", type=Path),
    Opt("instance", 2, "Imaging visit (2: first, 3: repeat).", minimum=0),
    Opt("array", 0, "Array index of the field.", minimum=0),
    Opt("overwrite", False, "Replace an existing target table."),
)


@api_options(TARGETS_OPTIONS)
def targets(showcase: str | os.PathLike, field: list[str], out: str | os.PathLike,
            **options) -> dict:
    """A target table from a UK Biobank showcase export (``mimir targets``).

    Parameters
    ----------
    showcase : path-like
        CSV or TSV with ``eid`` and ``<field>-<instance>.<array>`` columns.
    field : list of str
        ``FIELD[:NAME[:UNIT[:DIVISOR]]]`` per target (``22407:VAT:L``).
    out : path-like
        The target table to write (CSV, with its ``.meta.csv``).

    Returns
    -------
    dict
        ``table`` (DataFrame) and ``counts`` (``with_image``, ``with_value``, ``both``).
    """
    o = TARGETS_OPTIONS.build(**options)
    if isinstance(field, str):
        field = [field]
    if not field:
        raise UsageError("name at least one target with --field/-f")
    out = Path(out)
    if out.exists() and not o.overwrite:
        raise UsageError(f"{out} exists; use --overwrite to replace it")
    specs = [TargetSpec.parse(f) for f in field]
    table, meta, counts = make_target_table(read_showcase(showcase), specs, o.instance,
                                            o.array, o.cache)
    write_target_table(table, meta, out)
    return {"table": table, "counts": counts}


SPLIT_OPTIONS = OptionSet(
    Opt("k", 10, "Number of folds.", minimum=2),
    Opt("seed", 0, "Shuffle seed."),
    Opt("cache", None, "Only subjects with a cached image.", type=Path),
    Opt("overwrite", False, "Replace existing fold files."),
)


@api_options(SPLIT_OPTIONS)
def split(targets: str | os.PathLike, out: str | os.PathLike, **options) -> list:
    """K seeded folds of a target table's subjects (``mimir split``): ``fold_1.txt`` ..
    ``fold_K.txt`` in ``out``; returns the folds."""
    o = SPLIT_OPTIONS.build(**options)
    out = Path(out)
    table = read_target_table(targets)
    names = list(table["name"])
    if o.cache is not None:
        c = Cache(o.cache)
        names = [n for n in names if c.has(n)]
    if out.exists() and any(out.glob("fold_*.txt")) and not o.overwrite:
        raise UsageError(f"{out} already holds fold files; use --overwrite")
    folds = make_folds(names, o.k, o.seed)
    write_folds(folds, out)
    return folds


def _weights(cfg: TrainConfig, log) -> None:
    """The initial weights: checked, and fetched once where needed (after the targets,
    splits and cache, before any image is loaded)."""
    resolve_init(cfg.init, cfg.backbone, cfg.init_weights, log=log)


@api_options(TRAIN_OPTIONS)
def train(cache: str | os.PathLike, targets: str | os.PathLike, out: str | os.PathLike, *,
          on_start: Callable[[int, list], None] | None = None,
          on_progress: Callable[[int, float], None] | None = None,
          log: Callable[[str], None] = print, **options) -> Path:
    """Train a module's network, or with ``ensemble`` > 1 the members of a deep ensemble
    (``mimir train``); rerun to resume.

    The targets, the splits and the cache are checked first, then the initial weights,
    then the images load.

    Parameters
    ----------
    cache, targets : path-like
        The image cache and the target table (``name`` plus target columns).
    out : path-like
        The run folder.
    on_start : callable, optional
        Called with (subjects, target columns) once the data is loaded.
    on_progress, log
        As for :func:`mimir.training.train.train`.

    Returns
    -------
    Path
        The run folder.
    """
    opts = TrainOptions(**options)
    cfg = TrainConfig.of(opts)
    table = read_target_table(targets)
    cols = target_columns(table, opts.columns, targets)
    names = None
    if opts.splits is not None:
        folds = read_folds(opts.splits, opts.instance)
        if opts.holdout is not None:
            if not 1 <= opts.holdout <= len(folds):
                raise UsageError(f"--holdout must be 1..{len(folds)}")
            names = sorted(n for i, f in enumerate(folds, 1) if i != opts.holdout
                           for n in f)
        else:
            names = sorted(n for f in folds for n in f)
    elif opts.holdout is not None:
        raise UsageError("--holdout needs --splits")
    _check_cache(cache)
    _weights(cfg, log)
    data = load_dataset(cache, table, cols, names)
    if on_start:
        on_start(len(data), cols)
    return train_members(data, out, cfg, device=opts.device, threads=opts.threads,
                         on_progress=on_progress, log=log)


@api_options(CROSSVAL_OPTIONS)
def crossval(cache: str | os.PathLike, targets: str | os.PathLike,
             splits: str | os.PathLike, out: str | os.PathLike, *,
             on_progress: Callable[[int, int, float], None] | None = None,
             log: Callable[[str], None] = print, **options) -> dict:
    """K-fold cross-validation (``mimir crossval``): train each fold, predict its held-out
    subjects with every snapshot, evaluate and calibrate; rerun to resume.

    Parameters
    ----------
    cache, targets : path-like
        The image cache and the target table.
    splits : path-like
        The split folder (``fold_*.txt`` or the original's ``images_set_*.txt`` of eids
        of visit ``instance``).
    out : path-like
        The cross-validation folder.
    on_progress : callable, optional
        (fold, iteration, running loss).
    log : callable
        Messages for the user.

    Returns
    -------
    dict
        As :func:`mimir.training.crossval.crossval` (``metrics``, ``calibration``,
        ``folds_done``).
    """
    opts = CrossvalOptions(**options)
    cfg = TrainConfig.of(opts)
    table = read_target_table(targets)
    cols = target_columns(table, opts.columns, targets)
    folds = read_folds(splits, opts.instance)
    _check_cache(cache)
    _weights(cfg, log)
    return run_crossval(cache, table, cols, folds, out, cfg, device=opts.device,
                        threads=opts.threads, fold_range=fold_range(opts.folds),
                        on_progress=on_progress, log=log, calibration=opts.calibration,
                        meta=read_meta(targets, cols), plots=opts.plots, icc=opts.icc)


def _check_cache(cache) -> None:
    if not Path(cache).is_dir():
        raise UsageError(f"--cache {cache}: no such folder (make it with `mimir preprocess` "
                         "or `mimir phantom --fast`)")


MODULE_CREATE_OPTIONS = OptionSet(
    Opt("crossval", None, "Cross-validation folder for calibration factors and metrics.",
        type=Path),
    Opt("targets", None, "Target table whose .meta.csv names the targets (default: the one "
        "in --meta).", type=Path),
    Opt("meta", None, "CSV: column,name,field,unit,divisor.", type=Path),
    Opt("iteration", None, "Snapshot (default the last).", type=int, minimum=1),
    Opt("half", False, "Store weights as float16."),
    Opt("cache", None, "The run's image cache: check the snapshot on a sample of its "
        "training subjects (needs --targets) and warn about targets whose predictions are "
        "offset.", type=Path),
    Opt("note", None, "KEY=VALUE recorded under provenance in module.json (repeatable).",
        type=list),
    Opt("overwrite", False, "Replace an existing module folder."),
)


@api_options(MODULE_CREATE_OPTIONS)
def module_create(run: str | os.PathLike, out: str | os.PathLike, **options) -> dict:
    """Package a trained run as a module folder (``mimir module create``).

    Parameters
    ----------
    run : path-like
        The training run (``mimir train``).
    out : path-like
        The module folder to create (its name is the module's).

    ``targets`` or ``meta`` is needed (they name the targets); ``note`` may also be a
    dict.

    Returns
    -------
    dict
        ``path`` (the module folder) and ``flagged`` (the training-fit check's flagged
        targets: list of dicts).
    """
    note = options.pop("note", None)
    notes = _notes(note)
    o = MODULE_CREATE_OPTIONS.build(**options)
    run, out = Path(run), Path(out)
    cfg_path = member_runs(run)[0] / "config.json"
    if not cfg_path.is_file():
        raise UsageError(f"{run} is not a training run")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if o.meta is not None:
        meta_table = pd.read_csv(o.meta, dtype=str, keep_default_na=False)
    elif o.targets is not None:
        meta_table = read_meta(o.targets, cfg["targets"])
    else:
        raise UsageError("give --targets (its .meta.csv names the targets) or --meta")
    table = None
    if o.cache is not None:
        if o.targets is None:
            raise UsageError("--cache needs --targets (the labels of the training subjects)")
        table = read_target_table(o.targets)
    path = create_module(run, out, meta_table, o.crossval, o.iteration, o.half, o.overwrite,
                         provenance=notes, cache=o.cache, table=table)
    flagged = []
    if o.cache is not None:
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
