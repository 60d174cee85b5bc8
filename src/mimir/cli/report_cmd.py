"""``mimir report``: (re)build the cohort report of an infer output folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from mimir import api
from mimir.api.predict import REPORT_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import handle_errors, out
from mimir.cli.examples import examples
from mimir.cli.options import spec_options


@app.command("report", epilog=examples("report"))
@handle_errors
@spec_options(REPORT_OPTIONS, into="options")
def report(
    out_dir: Path = typer.Argument(..., help="An output folder of `mimir infer` or "
                                   "`mimir merge`."),
    *,
    options: dict,
):
    """Write OUT/report.html (replacing it): the run, targets, outliers, QC, failures."""
    t0 = time.perf_counter()
    path = api.report(out_dir, **options)
    size = path.stat().st_size / 2**20
    out.print(f"report: {path} ({size:.1f} MiB, {time.perf_counter() - t0:.1f} s)")
