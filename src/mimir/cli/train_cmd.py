"""``mimir targets``, ``split``, ``train``, ``crossval`` and ``module create``."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar


def _target_columns(table, columns: str | None, table_path: Path) -> list[str]:
    """The target columns: ``--columns``, else those the table's ``.meta.csv`` names
    (written by ``mimir targets`` and ``mimir phantom``), else every numeric column
    except ``eid``."""
    import pandas as pd

    from mimir.errors import UsageError
    from mimir.training.targets import meta_path

    if columns:
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise UsageError(f"target table has no columns {missing}")
        return cols
    mp = meta_path(table_path)
    if mp.is_file():
        named = pd.read_csv(mp, dtype=str, keep_default_na=False)["column"].tolist()
        missing = [c for c in named if c not in table.columns]
        if missing:
            raise UsageError(f"{mp} names columns {missing} that {table_path} lacks")
        return named
    return [c for c in table.columns if c not in {"name", "eid"}
            and table[c].dtype.kind in "fiub"]


@app.command("split")
@handle_errors
def split(
    targets: Path = typer.Option(..., "--targets", help="Target table (CSV with 'name')."),
    k: int = typer.Option(10, "--k", min=2, help="Number of folds."),
    seed: int = typer.Option(0, "--seed", help="Shuffle seed."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for fold_1.txt .. fold_K.txt."),
    cache: Path = typer.Option(None, "--cache", help="Only subjects with a cached image."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing fold files."),
):
    """Make K folds (seeded) of the subjects in a target table."""
    from mimir.cache.store import Cache
    from mimir.errors import UsageError
    from mimir.training.data import read_target_table
    from mimir.training.splits import make_folds, write_folds

    table = read_target_table(targets)
    names = list(table["name"])
    if cache is not None:
        c = Cache(cache)
        names = [n for n in names if c.has(n)]
    if out_dir.exists() and any(out_dir.glob("fold_*.txt")) and not overwrite:
        raise UsageError(f"{out_dir} already holds fold files; use --overwrite")
    folds = make_folds(names, k, seed)
    write_folds(folds, out_dir)
    out.print(f"{len(names)} subjects in {k} folds of {min(map(len, folds))}-"
              f"{max(map(len, folds))} written to {out_dir}")


AVERAGE_HELP = ("Not in the published method: from this fraction of the iterations on, "
                "snapshots hold the mean of the weights since then, with batch-norm "
                "statistics recomputed (docs/training.md). Off by default.")


def _backbone_help() -> str:
    from mimir.modules.backbones import names

    return f"Network: {', '.join(names())} (resnet50 as published)."


BACKBONE_HELP = _backbone_help()
TRAIN_PRECISION_HELP = ("fp32 (IEEE on every device), tf32 (TF32 on CUDA GPUs) or bf16 "
                        "(bfloat16 autocast); the latter two are faster on GPUs and change "
                        "the numbers.")
INIT_HELP = ("Initial backbone weights: imagenet (published; torchvision's weights from "
             "torch's cache, downloaded once) or random.")
INIT_WEIGHTS_HELP = "A local state dict for the backbone instead (e.g. ImageNet weights)."
INSTANCE_HELP = ("Imaging visit of the eids in original split files (images_set_*.txt).")


def _train_config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed,
                  no_augment, init, init_weights, average_from, precision):
    """The TrainConfig of the train and crossval options (one place for both); the
    initial weights are checked (and fetched once) before any data loads."""
    from mimir.training.init import resolve_init
    from mimir.training.train import TrainConfig

    cfg = TrainConfig(backbone=backbone, iterations=iterations, batch_size=batch_size,
                      lr=lr, lr_drop_at=lr_drop_at, snapshot_every=snapshot_every,
                      seed=seed, augment=not no_augment, init=init,
                      init_weights=str(init_weights) if init_weights else None,
                      average_from=average_from, precision=precision)
    resolve_init(cfg.init, cfg.backbone, cfg.init_weights, log=lambda m: err.print(m))
    return cfg


@app.command("train")
@handle_errors
def train(
    cache: Path = typer.Option(..., "--cache", help="Image cache."),
    targets: Path = typer.Option(..., "--targets", help="Target table (CSV with 'name')."),
    columns: str = typer.Option(None, "--columns", help="Comma-separated target columns "
                                "(default: every numeric column)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run folder (rerun to resume)."),
    splits: Path = typer.Option(None, "--splits", help="Split folder (fold_*.txt, or the "
                                "original's images_set_*.txt of eids)."),
    holdout: int = typer.Option(None, "--holdout", help="Fold (1-based) left out of training."),
    instance: int = typer.Option(2, "--instance", help=INSTANCE_HELP),
    backbone: str = typer.Option("resnet50", "--backbone", help=BACKBONE_HELP),
    iterations: int = typer.Option(10000, "--iterations", min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    lr: float = typer.Option(5e-5, "--lr", help="Adam learning rate (divided by 10 after "
                             "--lr-drop-at of the iterations)."),
    lr_drop_at: float = typer.Option(0.8, "--lr-drop-at", min=0.0, max=1.0,
                                     help="Fraction of the iterations after which the "
                                     "learning rate is divided by 10 (0.8 as published)."),
    snapshot_every: int = typer.Option(1000, "--snapshot-every", min=1),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    threads: int = typer.Option(None, "--threads", min=1),
    init: str = typer.Option("imagenet", "--init", help=INIT_HELP),
    init_weights: Path = typer.Option(None, "--init-weights", help=INIT_WEIGHTS_HELP),
    no_augment: bool = typer.Option(False, "--no-augment", help="No random translation."),
    average_from: float = typer.Option(None, "--average-from", min=0.0, max=1.0,
                                       help=AVERAGE_HELP),
    precision: str = typer.Option("fp32", "--precision", help=TRAIN_PRECISION_HELP),
):
    """Train a module's network (mean-variance ResNet); rerun to resume."""
    from mimir.training.data import load_dataset, read_target_table
    from mimir.training.splits import read_folds
    from mimir.training.train import train as run

    cfg = _train_config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed,
                        no_augment, init, init_weights, average_from, precision)
    table = read_target_table(targets)
    cols = _target_columns(table, columns, targets)
    names = None
    if splits is not None:
        folds = read_folds(splits, instance)
        if holdout is not None:
            if not 1 <= holdout <= len(folds):
                from mimir.errors import UsageError
                raise UsageError(f"--holdout must be 1..{len(folds)}")
            names = sorted(n for i, f in enumerate(folds, 1) if i != holdout for n in f)
        else:
            names = sorted(n for f in folds for n in f)
    data = load_dataset(cache, table, cols, names)
    err.print(f"training {backbone} on {len(data)} subjects, {len(cols)} targets: "
              f"{', '.join(cols)}")
    with progress_bar("it") as bar:
        task = bar.add_task("train", total=iterations)

        def on_progress(it: int, loss: float):
            bar.update(task, completed=it, description=f"train loss {loss:7.3f}")

        run(data, out_dir, cfg, device=device, threads=threads, on_progress=on_progress,
            log=lambda m: err.print(m))
    out.print(f"run complete: {out_dir}")


@app.command("targets")
@handle_errors
def targets(
    showcase: Path = typer.Argument(..., help="UK Biobank showcase export (CSV or TSV with "
                                    "eid and <field>-<instance>.<array> columns)."),
    field: list[str] = typer.Option(..., "--field", "-f", help="FIELD[:NAME[:UNIT[:DIVISOR]]]; "
                                    "repeat for several targets."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Target table to write (CSV)."),
    cache: Path = typer.Option(None, "--cache", help="Keep subjects with a cached image."),
    instance: int = typer.Option(2, "--instance", help="Imaging visit (2 or 3)."),
    array: int = typer.Option(0, "--array", help="Array index."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Make a target table from a showcase export, joined with the image cache."""
    from mimir.errors import UsageError
    from mimir.training.targets import (
        TargetSpec,
        make_target_table,
        read_showcase,
        write_target_table,
    )

    if out_path.exists() and not overwrite:
        raise UsageError(f"{out_path} exists; use --overwrite to replace it")
    specs = [TargetSpec.parse(f) for f in field]
    table, meta, counts = make_target_table(read_showcase(showcase), specs, instance, array,
                                            cache)
    write_target_table(table, meta, out_path)
    img = counts["with_image"]
    out.print(f"subjects with an image: {img if img is not None else 'n/a (no --cache)'}; "
              f"with a value: {counts['with_value']}; both: {counts['both']}; wrote "
              f"{len(table)} rows to {out_path}")


@app.command("crossval")
@handle_errors
def crossval(
    cache: Path = typer.Option(..., "--cache", help="Image cache."),
    targets_path: Path = typer.Option(..., "--targets", help="Target table."),
    columns: str = typer.Option(None, "--columns", help="Comma-separated target columns."),
    splits: Path = typer.Option(..., "--splits", help="Split folder (fold_*.txt, or the "
                                "original's images_set_*.txt of eids)."),
    instance: int = typer.Option(2, "--instance", help=INSTANCE_HELP),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Cross-validation folder (rerun to "
                                 "resume)."),
    folds: str = typer.Option(None, "--folds", help="Train only folds A-B (1-based) now."),
    backbone: str = typer.Option("resnet50", "--backbone", help=BACKBONE_HELP),
    iterations: int = typer.Option(10000, "--iterations", min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    lr: float = typer.Option(5e-5, "--lr"),
    lr_drop_at: float = typer.Option(0.8, "--lr-drop-at", min=0.0, max=1.0),
    snapshot_every: int = typer.Option(1000, "--snapshot-every", min=1),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    threads: int = typer.Option(None, "--threads", min=1),
    init: str = typer.Option("imagenet", "--init", help=INIT_HELP),
    init_weights: Path = typer.Option(None, "--init-weights", help=INIT_WEIGHTS_HELP),
    no_augment: bool = typer.Option(False, "--no-augment"),
    average_from: float = typer.Option(None, "--average-from", min=0.0, max=1.0,
                                       help=AVERAGE_HELP),
    precision: str = typer.Option("fp32", "--precision", help=TRAIN_PRECISION_HELP),
    calibration: str = typer.Option("published", "--calibration", help="Calibration "
                                    "factors: published (the calibration-curve criterion) "
                                    "or nll (minimise the Gaussian NLL)."),
    plots: str = typer.Option("last", "--plots", help="Target plots for the last snapshot "
                              "or for all snapshots."),
):
    """Train each fold, predict held-out subjects with every snapshot, evaluate and
    calibrate (metrics.csv, calibration_factors.csv, plots, report.html)."""
    from mimir.errors import UsageError
    from mimir.training.crossval import crossval as run
    from mimir.training.data import read_target_table
    from mimir.training.metrics import CALIBRATION_METHODS
    from mimir.training.splits import read_folds
    from mimir.training.targets import read_meta

    if calibration not in CALIBRATION_METHODS:
        raise UsageError(f"--calibration must be one of {', '.join(CALIBRATION_METHODS)}")
    if plots not in ("last", "all"):
        raise UsageError("--plots must be last or all")
    cfg = _train_config(backbone, iterations, batch_size, lr, lr_drop_at, snapshot_every, seed,
                        no_augment, init, init_weights, average_from, precision)
    table = read_target_table(targets_path)
    cols = _target_columns(table, columns, targets_path)
    fold_list = read_folds(splits, instance)
    rng = None
    if folds:
        try:
            a, _, b = folds.partition("-")
            rng = (int(a), int(b or a))
        except ValueError:
            raise UsageError("--folds takes A-B, e.g. 1-3") from None
    with progress_bar("it") as bar:
        task = bar.add_task("crossval", total=iterations)

        def on_progress(k: int, it: int, loss: float):
            bar.update(task, completed=it, description=f"fold {k} loss {loss:7.3f}")

        res = run(cache, table, cols, fold_list, out_dir, cfg, device=device, threads=threads,
                  fold_range=rng, on_progress=on_progress, log=lambda m: err.print(m),
                  calibration=calibration, meta=read_meta(targets_path, cols), plots=plots)
    last = res["metrics"][res["metrics"]["iteration"] == res["metrics"]["iteration"].max()]
    from rich.table import Table

    t = Table("target", "unit", "n", "ICC", "R2", "MAE", "AUCE", "AUCE cal.", "cov95 cal.",
              f"factor ({calibration})")
    for _, r in last.iterrows():
        t.add_row(r["target"], str(r["unit"]), str(r["n"]), f"{r['icc']:.3f}",
                  f"{r['r2']:.3f}", f"{r['mae']:.4g}", f"{r['auce']:.3f}",
                  f"{r['auce_calibrated']:.3f}", f"{r['coverage95_calibrated']:.3f}",
                  f"{r['calibration_factor']:.3g}")
    out.print(t)
    out.print(f"folds finished: {res['folds_done']}; report: {out_dir / 'report.html'}")


module_app = typer.Typer(help="Create modules from training runs.", no_args_is_help=True)
app.add_typer(module_app, name="module")


@module_app.command("create")
@handle_errors
def module_create(
    run_dir: Path = typer.Option(..., "--run", help="Training run folder (mimir train)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Module folder to create."),
    crossval_dir: Path = typer.Option(None, "--crossval", help="Cross-validation folder for "
                                      "calibration factors and metrics."),
    targets_path: Path = typer.Option(None, "--targets", help="Target table whose .meta.csv "
                                      "names the targets (default: the one in --meta)."),
    meta_path: Path = typer.Option(None, "--meta", help="CSV: column,name,field,unit,divisor."),
    iteration: int = typer.Option(None, "--iteration", help="Snapshot (default the last)."),
    half: bool = typer.Option(False, "--half", help="Store weights as float16."),
    cache: Path = typer.Option(None, "--cache", help="The run's image cache: check the "
                               "snapshot on a sample of its training subjects (needs "
                               "--targets) and warn about targets whose predictions are "
                               "offset."),
    note: list[str] = typer.Option(None, "--note", help="KEY=VALUE recorded under "
                                   "provenance in module.json (repeatable)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Package a trained run as a module folder that `mimir infer` loads."""
    import json

    import pandas as pd

    from mimir.errors import UsageError
    from mimir.training.package import create_module
    from mimir.training.targets import read_meta

    cfg = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json"
                                                                ).is_file() else None
    if cfg is None:
        raise UsageError(f"{run_dir} is not a training run")
    if meta_path is not None:
        meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
    elif targets_path is not None:
        meta = read_meta(targets_path, cfg["targets"])
    else:
        raise UsageError("give --targets (its .meta.csv names the targets) or --meta")
    notes = {}
    for item in note or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--note {item!r}: expected KEY=VALUE")
        notes[key] = value
    table = None
    if cache is not None:
        if targets_path is None:
            raise UsageError("--cache needs --targets (the labels of the training subjects)")
        from mimir.training.data import read_target_table

        table = read_target_table(targets_path)
    m = create_module(run_dir, out_dir, meta, crossval_dir, iteration, half, overwrite,
                      provenance=notes, cache=cache, table=table)
    if cache is not None:
        fit = json.loads((m / "module.json").read_text())["provenance"]["training_fit"]
        for r in fit["targets"]:
            if r["flagged"]:
                err.print(f"[yellow]warning:[/] {r['target']}: on {r['n']} of its training "
                          f"subjects the network's predictions are offset by "
                          f"{r['offset_sd']:+.2f} predicted sd (mean error "
                          f"{r['mean_error']:+.4g}); its 95 % intervals would cover about "
                          f"{r['coverage95_if_shifted']:.2f}. The cross-validation's "
                          "calibration may not hold for this network (docs/training.md, "
                          "'The training-fit check').")
    out.print(f"module written to {m}")
