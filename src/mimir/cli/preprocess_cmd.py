"""``mimir preprocess`` and ``mimir show``."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.options import INPUT_OPTIONS, LIMIT_OPTIONS, add_options, limits_options


@app.command("preprocess")
@handle_errors
@add_options(LIMIT_OPTIONS, into="limit_values")
@add_options(INPUT_OPTIONS, into="selection")
def preprocess(
    inputs: list[Path] = typer.Argument(None, help="Zip files, folders of zips, or text "
                                        "files listing one path per line."),
    cache: Path = typer.Option(..., "--cache", help="Folder for the 2D images."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    volumes: Path = typer.Option(None, "--volumes", help="Also write fused water, fat, fat "
                                 "fraction and mask as NIfTI here."),
    *,
    selection: dict,
    limit_values: dict,
):
    """Make the MIMIR 2D image of every subject (cached subjects are skipped)."""
    from mimir.api import preprocess as run

    limits = limits_options(**limit_values)
    with progress_bar() as bar:
        task = None

        def on_start(total: int):
            nonlocal task
            task = bar.add_task("preprocess", total=total)

        def on_record(_rec):
            bar.advance(task)

        summary = run(inputs or [], cache, workers=workers, volumes=volumes, **selection,
                      limits=limits, on_start=on_start, on_record=on_record)
    for rec in summary.failed[:10]:
        err.print(f"[red]failed[/red] {rec.message}")
    if len(summary.failed) > 10:
        err.print(f"... and {len(summary.failed) - 10} more (see {cache / 'failures.csv'})")
    out.print(summary.line())
    raise typer.Exit(1 if summary.failed else 0)


@app.command("show")
@handle_errors
def show(
    image: Path = typer.Argument(..., help="A cached 2D image (.npy)."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
):
    """Draw the three channels of a 2D image side by side, labelled, as a PNG."""
    from mimir.api import show as run

    out.print(f"wrote {run(image, output, overwrite=overwrite)}")
