"""``mimir targets``, ``split``, ``train``, ``crossval`` and ``module create``: parsing,
then :mod:`mimir.api`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mimir import api
from mimir.api.training import MODULE_CREATE_OPTIONS, SPLIT_OPTIONS, TARGETS_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.examples import examples
from mimir.cli.options import CACHE_IN, TARGETS, spec_options
from mimir.training.options import CROSSVAL_OPTIONS, TRAIN_OPTIONS


def _log(message: str) -> None:
    err.print(message)


def _opt(v, spec: str) -> str:
    """A number, or "-" for a missing one."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if f != f else format(f, spec)


@app.command("split", epilog=examples("split"))
@handle_errors
@spec_options(SPLIT_OPTIONS, into="options")
def split(
    targets: Path = TARGETS,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for fold_1.txt .. fold_K.txt."),
    *,
    options: dict,
):
    """Make K folds (seeded) of the subjects in a target table."""
    folds = api.split(targets, out_dir, **options)
    out.print(f"{sum(map(len, folds))} subjects in {len(folds)} folds of "
              f"{min(map(len, folds))}-{max(map(len, folds))} written to {out_dir}")


@app.command("train", epilog=examples("train"))
@handle_errors
@spec_options(TRAIN_OPTIONS, into="options")
def train(
    cache: Path = CACHE_IN,
    targets: Path = TARGETS,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run folder (rerun to resume)."),
    *,
    options: dict,
):
    """Train a module's network (mean-variance ResNet); rerun to resume."""
    with progress_bar("it") as bar:
        task = bar.add_task("train", total=options["iterations"])

        def on_start(n: int, cols: list):
            err.print(f"training {options['backbone']} on {n} subjects, {len(cols)} "
                      f"targets: {', '.join(cols)}")

        def on_progress(it: int, loss: float):
            bar.update(task, completed=it, description=f"train loss {loss:7.3f}")

        api.train(cache, targets, out_dir, **options, on_start=on_start,
                  on_progress=on_progress, log=_log)
    out.print(f"run complete: {out_dir}")


@app.command("targets", epilog=examples("targets"))
@handle_errors
@spec_options(TARGETS_OPTIONS, into="options")
def targets(
    showcase: Path = typer.Argument(..., help="UK Biobank showcase export (CSV or TSV with "
                                    "eid and <field>-<instance>.<array> columns)."),
    field: list[str] = typer.Option(..., "--field", "-f", help="FIELD[:NAME[:UNIT[:DIVISOR]]]; "
                                    "repeat for several targets."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Target table to write (CSV)."),
    *,
    options: dict,
):
    """Make a target table from a showcase export, joined with the image cache."""
    res = api.targets(showcase, field, out_path, **options)
    counts = res["counts"]
    img = counts["with_image"]
    out.print(f"subjects with an image: {img if img is not None else 'n/a (no --cache)'}; "
              f"with a value: {counts['with_value']}; both: {counts['both']}; wrote "
              f"{len(res['table'])} rows to {out_path}")


@app.command("crossval", epilog=examples("crossval"))
@handle_errors
@spec_options(CROSSVAL_OPTIONS, into="options")
def crossval(
    cache: Path = CACHE_IN,
    targets: Path = TARGETS,
    splits: Path = typer.Option(..., "--splits", help="Split folder (fold_*.txt, or the "
                                "original's images_set_*.txt of eids)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Cross-validation folder (rerun to "
                                 "resume)."),
    *,
    options: dict,
):
    """Train each fold, predict held-out subjects with every snapshot, evaluate and
    calibrate (metrics.csv, metrics_by_fold.csv, calibration_factors.csv, plots,
    report.html)."""
    calibration = options["calibration"]
    with progress_bar("it") as bar:
        task = bar.add_task("crossval", total=options["iterations"])

        def on_progress(k: int, it: int, loss: float):
            bar.update(task, completed=it, description=f"fold {k} loss {loss:7.3f}")

        res = api.crossval(cache, targets, splits, out_dir, **options,
                           on_progress=on_progress, log=_log)
    last = res["metrics"][res["metrics"]["iteration"] == res["metrics"]["iteration"].max()]
    t = Table("target", "unit", "n", f"ICC ({options['icc']})", "R2", "MAE", "MAPE %",
              "AUCE cal.", "cov95 cal.", f"factor ({calibration})", "published ICC",
              "published MAE")
    for _, r in last.iterrows():
        pub_mae = r.get("published_mae")
        t.add_row(escape(str(r["target"])), escape(str(r["unit"])), str(r["n"]),
                  f"{r['icc']:.3f}", f"{r['r2']:.3f}", f"{r['mae']:.4g}", f"{r['mape']:.3g}",
                  f"{r['auce_calibrated']:.3f}", f"{r['coverage95_calibrated']:.3f}",
                  f"{r['calibration_factor']:.3g}", _opt(r.get("published_icc"), ".3f"),
                  _opt(pub_mae, ".4g") + (f" {escape(str(r['published_unit']))}"
                                          if _opt(pub_mae, ".4g") != "-" else ""))
    out.print(t)
    comp = res.get("ensemble_comparison")
    if comp is not None:
        t = Table("target", "model", "MAE", "ICC", "AUCE cal.", "cov95 cal.", "AUSE",
                  title="single member against ensemble (ensemble_comparison.csv)")
        for _, r in comp.iterrows():
            t.add_row(r["target"], r["model"], f"{r['mae']:.4g}", f"{r['icc']:.3f}",
                      f"{r['auce_calibrated']:.3f}", f"{r['coverage95_calibrated']:.3f}",
                      f"{r['ause']:.3f}")
        out.print(t)
    out.print("published: the original MIMIR's 10-fold cross-validation of the target with "
              "the same UK Biobank field (else name); its ICC uses the original's formula "
              "(--icc published for the same here).")
    out.print(f"folds finished: {res['folds_done']}; report: {out_dir / 'report.html'}")


module_app = typer.Typer(help="Create modules from training runs.", no_args_is_help=True)
app.add_typer(module_app, name="module")


@module_app.command("create", epilog=examples("module create"))
@handle_errors
@spec_options(MODULE_CREATE_OPTIONS, into="options")
def module_create(
    run_dir: Path = typer.Option(..., "--run", help="Training run folder (mimir train)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Module folder to create."),
    *,
    options: dict,
):
    """Package a trained run as a module folder that `mimir infer` loads."""
    res = api.module_create(run_dir, out_dir, **options)
    for r in res["flagged"]:
        err.print(f"[yellow]warning:[/] {r['target']}: on {r['n']} of its training "
                  f"subjects the network's predictions are offset by "
                  f"{r['offset_sd']:+.2f} predicted sd (mean error "
                  f"{r['mean_error']:+.4g}); its 95 % intervals would cover about "
                  f"{r['coverage95_if_shifted']:.2f}. The cross-validation's "
                  "calibration may not hold for this network (docs/training.md, "
                  "'The training-fit check').")
    out.print(f"module written to {res['path']}")
