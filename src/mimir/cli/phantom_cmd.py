"""``mimir phantom``: synthetic field-20201 zips with known truth."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir import api
from mimir.api.images import PHANTOM_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import handle_errors, out, progress_bar
from mimir.cli.examples import examples
from mimir.cli.options import spec_options


@app.command("phantom", epilog=examples("phantom"))
@handle_errors
@spec_options(PHANTOM_OPTIONS, into="options")
def phantom(
    out_dir: Path = typer.Argument(..., help="Folder for the zips and truth.csv."),
    *,
    options: dict,
):
    """Write N synthetic subjects' zips (UK Biobank field-20201 layout) and truth.csv."""
    n, fast = options["n"], options["fast"]
    with progress_bar() as bar:
        task = bar.add_task("phantoms (fast)" if fast else "phantoms",
                            total=n + options["repeat"])
        api.phantom(out_dir, **options, on_subject=lambda _name: bar.advance(task))
    again = f" (and {options['repeat']} repeat visits)" if options["repeat"] else ""
    if fast:
        out.print(f"wrote {n} images{again} and truth.csv to {out_dir}")
    else:
        out.print(f"wrote {n} subjects{again} and truth.csv to {out_dir}")
