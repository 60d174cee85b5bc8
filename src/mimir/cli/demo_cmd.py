"""``mimir demo``: the whole job, offline, with the built-in module."""

from __future__ import annotations

import typer
from rich.table import Table

from mimir import api
from mimir.api.predict import DEMO_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out
from mimir.cli.examples import examples
from mimir.cli.options import spec_options


@app.command("demo", epilog=examples("demo"))
@handle_errors
@spec_options(DEMO_OPTIONS, into="options")
def demo(*, options: dict):
    """Make N phantom zips, run `infer` with the built-in demo module, write report.html."""
    res = api.demo(**options, on_stage=lambda s: err.print(f"[bold]demo:[/bold] {s}"))
    t = Table("target", "unit", "n", "ICC", "MAE", "in 95% interval",
              title="Demo module against phantom truth")
    for _, r in res["summary"].iterrows():
        t.add_row(r["target"], r["unit"], str(r["n"]), f"{r['icc']:.3f}", f"{r['mae']:.3g}",
                  f"{r['coverage95']:.2f}")
    out.print(t)
    out.print(f"report: {res['report']}")
    raise typer.Exit(0 if res["infer"].ok else 1)
