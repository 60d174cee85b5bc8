"""``mimir report``: (re)build the cohort report of an infer output folder."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import handle_errors, out


@app.command("report")
@handle_errors
def report(
    out_dir: Path = typer.Argument(..., help="An output folder of `mimir infer` or "
                                   "`mimir merge`."),
    covariates: Path = typer.Option(None, "--covariates", help="CSV/TSV with eid and sex "
                                    "columns: histograms split by recorded sex."),
    cache: Path = typer.Option(None, "--cache", help="The image cache, if not where the run "
                               "recorded it."),
):
    """Write OUT/report.html (replacing it): the run, targets, outliers, QC, failures."""
    import time

    from mimir.api import report as build

    t0 = time.perf_counter()
    path = build(out_dir, covariates=covariates, cache=cache)
    size = path.stat().st_size / 2**20
    out.print(f"report: {path} ({size:.1f} MiB, {time.perf_counter() - t0:.1f} s)")
