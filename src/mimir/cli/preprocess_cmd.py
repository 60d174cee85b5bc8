"""``mimir preprocess`` and ``mimir show``."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir import api
from mimir.api.images import SHOW_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.examples import examples
from mimir.cli.options import spec_options
from mimir.limits import usable_cpus
from mimir.pipeline.options import PREPROCESS_OPTIONS


@app.command("preprocess", epilog=examples("preprocess"))
@handle_errors
@spec_options(PREPROCESS_OPTIONS, into="options")
def preprocess(
    inputs: list[Path] = typer.Argument(None, help="Zip files, folders of zips, or text "
                                        "files listing one zip per line (each must "
                                        "exist)."),
    cache: Path = typer.Option(..., "--cache", help="Folder for the 2D images."),
    *,
    options: dict,
):
    """Make the MIMIR 2D image of every subject (cached subjects are skipped)."""
    if options["workers"] > usable_cpus():
        err.print(f"[yellow]--workers {options['workers']}: this machine has "
                  f"{usable_cpus()} CPUs; at most {usable_cpus()} worker processes will "
                  "run[/yellow]")
    with progress_bar() as bar:
        task = None
        worked = 0

        def on_start(total: int):
            nonlocal task
            task = bar.add_task("preprocess", total=total, worked=0)

        def on_record(rec):
            nonlocal worked
            worked += rec.status == "done"
            bar.update(task, advance=1, worked=worked)

        summary = api.preprocess(inputs or [], cache, **options, on_start=on_start,
                                 on_record=on_record)
    for rec in summary.failed[:10]:
        err.print(f"[red]failed[/red] {rec.message}")
    tables = options["out"]
    if len(summary.failed) > 10:
        where = f"see {tables / 'failures.csv'}" if tables else "write them all with --out DIR"
        err.print(f"... and {len(summary.failed) - 10} more ({where})")
    out.print(summary.line())
    if tables:
        out.print(f"tables: {tables}")
    raise typer.Exit(1 if summary.failed else 0)


@app.command("show", epilog=examples("show"))
@handle_errors
@spec_options(SHOW_OPTIONS, into="options")
def show(
    image: Path = typer.Argument(..., help="A cached 2D image (.npy)."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write."),
    *,
    options: dict,
):
    """Draw the three channels of a 2D image side by side, labelled, as a PNG."""
    out.print(f"wrote {api.show(image, output, **options)}")
