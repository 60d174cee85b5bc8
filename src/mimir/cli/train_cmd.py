"""``mimir targets``, ``split``, ``train``, ``crossval`` and ``module create``: parsing,
then :mod:`mimir.api`."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.options import (
    CACHE_IN,
    COLUMNS,
    SPLIT_INSTANCE,
    TARGETS,
    TRAINING_OPTIONS,
    add_options,
    training_keywords,
)


def _log(message: str) -> None:
    err.print(message)


@app.command("split")
@handle_errors
def split(
    targets: Path = TARGETS,
    k: int = typer.Option(10, "--k", min=2, help="Number of folds."),
    seed: int = typer.Option(0, "--seed", help="Shuffle seed."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for fold_1.txt .. fold_K.txt."),
    cache: Path = typer.Option(None, "--cache", help="Only subjects with a cached image."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing fold files."),
):
    """Make K folds (seeded) of the subjects in a target table."""
    from mimir.api import split as run

    folds = run(targets, out_dir, k=k, seed=seed, cache=cache, overwrite=overwrite)
    out.print(f"{sum(map(len, folds))} subjects in {k} folds of {min(map(len, folds))}-"
              f"{max(map(len, folds))} written to {out_dir}")


@app.command("train")
@handle_errors
@add_options(TRAINING_OPTIONS, into="training")
def train(
    cache: Path = CACHE_IN,
    targets: Path = TARGETS,
    columns: str = COLUMNS,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run folder (rerun to resume)."),
    splits: Path = typer.Option(None, "--splits", help="Split folder (fold_*.txt, or the "
                                "original's images_set_*.txt of eids)."),
    holdout: int = typer.Option(None, "--holdout", help="Fold (1-based) left out of training."),
    instance: int = SPLIT_INSTANCE,
    *,
    training: dict,
):
    """Train a module's network (mean-variance ResNet); rerun to resume."""
    from mimir.api import train as run

    kw = training_keywords(training)
    with progress_bar("it") as bar:
        task = bar.add_task("train", total=kw["iterations"])

        def on_start(n: int, cols: list):
            err.print(f"training {kw['backbone']} on {n} subjects, {len(cols)} targets: "
                      f"{', '.join(cols)}")

        def on_progress(it: int, loss: float):
            bar.update(task, completed=it, description=f"train loss {loss:7.3f}")

        run(cache, targets, out_dir, columns=columns, splits=splits, holdout=holdout,
            instance=instance, **kw, on_start=on_start, on_progress=on_progress, log=_log)
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
    from mimir.api import targets as run

    res = run(showcase, field, out_path, cache=cache, instance=instance, array=array,
              overwrite=overwrite)
    counts = res["counts"]
    img = counts["with_image"]
    out.print(f"subjects with an image: {img if img is not None else 'n/a (no --cache)'}; "
              f"with a value: {counts['with_value']}; both: {counts['both']}; wrote "
              f"{len(res['table'])} rows to {out_path}")


@app.command("crossval")
@handle_errors
@add_options(TRAINING_OPTIONS, into="training")
def crossval(
    cache: Path = CACHE_IN,
    targets: Path = TARGETS,
    columns: str = COLUMNS,
    splits: Path = typer.Option(..., "--splits", help="Split folder (fold_*.txt, or the "
                                "original's images_set_*.txt of eids)."),
    instance: int = SPLIT_INSTANCE,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Cross-validation folder (rerun to "
                                 "resume)."),
    folds: str = typer.Option(None, "--folds", help="Train only folds A-B (1-based) now."),
    calibration: str = typer.Option("published", "--calibration", help="Calibration "
                                    "factors: published (the calibration-curve criterion) "
                                    "or nll (minimise the Gaussian NLL)."),
    plots: str = typer.Option("last", "--plots", help="Target plots for the last snapshot "
                              "or for all snapshots."),
    *,
    training: dict,
):
    """Train each fold, predict held-out subjects with every snapshot, evaluate and
    calibrate (metrics.csv, metrics_by_fold.csv, calibration_factors.csv, plots,
    report.html)."""
    from rich.table import Table

    from mimir.api import crossval as run

    kw = training_keywords(training)
    with progress_bar("it") as bar:
        task = bar.add_task("crossval", total=kw["iterations"])

        def on_progress(k: int, it: int, loss: float):
            bar.update(task, completed=it, description=f"fold {k} loss {loss:7.3f}")

        res = run(cache, targets, splits, out_dir, columns=columns, instance=instance,
                  folds=folds, **kw, calibration=calibration, plots=plots,
                  on_progress=on_progress, log=_log)
    last = res["metrics"][res["metrics"]["iteration"] == res["metrics"]["iteration"].max()]
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
    targets: Path = typer.Option(None, "--targets", help="Target table whose .meta.csv "
                                 "names the targets (default: the one in --meta)."),
    meta: Path = typer.Option(None, "--meta", help="CSV: column,name,field,unit,divisor."),
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
    from mimir.api import module_create as run

    res = run(run_dir, out_dir, crossval=crossval_dir, targets=targets, meta=meta,
              iteration=iteration, half=half, cache=cache, note=note, overwrite=overwrite)
    for r in res["flagged"]:
        err.print(f"[yellow]warning:[/] {r['target']}: on {r['n']} of its training "
                  f"subjects the network's predictions are offset by "
                  f"{r['offset_sd']:+.2f} predicted sd (mean error "
                  f"{r['mean_error']:+.4g}); its 95 % intervals would cover about "
                  f"{r['coverage95_if_shifted']:.2f}. The cross-validation's "
                  "calibration may not hold for this network (docs/training.md, "
                  "'The training-fit check').")
    out.print(f"module written to {res['path']}")
