"""``mimir explain``: saliency maps of a finished infer output."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir import api
from mimir.api.explain import EXPLAIN_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.examples import examples
from mimir.cli.options import spec_options


@app.command("explain", epilog=examples("explain"))
@handle_errors
@spec_options(EXPLAIN_OPTIONS, into="options")
def explain(
    out_dir: Path = typer.Argument(..., help="An output folder of `mimir infer` or "
                                   "`mimir merge`."),
    *,
    options: dict,
):
    """Saliency maps (gradient x input) of a target's predicted mean and variance: per
    subject and averaged over the cohort, as PNG and .npy under OUT/explain/<target>/;
    report.html is rebuilt to show the cohort maps."""
    with progress_bar() as bar:
        tasks: dict = {}

        def on_start(label: str, n: int):
            tasks["now"] = bar.add_task(f"explain {label}", total=n)

        res = api.explain(out_dir, **options, on_start=on_start,
                          on_subject=lambda _n: bar.advance(tasks["now"]))
    for r in res:
        out.print(f"{r['target']}: {len(r['subjects'])} subjects, "
                  f"{r['seconds_per_subject']:.2f} s each, in {Path(out_dir) / 'explain'}")
    if res and res[0].get("report_error"):
        err.print(f"[yellow]report.html not rebuilt:[/] {res[0]['report_error']} (run "
                  "`mimir report OUT`)")
    elif res and res[0].get("report"):
        out.print(f"report: {res[0]['report']}")
