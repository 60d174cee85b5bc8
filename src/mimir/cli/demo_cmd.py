"""``mimir demo``: the whole job, offline, with the built-in module."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out


@app.command("demo")
@handle_errors
def demo(
    out_dir: Path = typer.Option(Path("mimir-demo"), "--out", "-o", help="Output folder."),
    n: int = typer.Option(8, "--n", min=1, help="Number of phantom subjects."),
    seed: int = typer.Option(7, "--seed", help="Phantom seed."),
    workers: int = typer.Option(1, "--workers", min=1, help="Preprocessing processes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier demo results "
                                   "in --out."),
):
    """Make N phantom zips, run `infer` with the built-in demo module, write report.html."""
    from rich.table import Table

    from mimir.api import demo as run

    res = run(out_dir, n=n, seed=seed, workers=workers, overwrite=overwrite,
              on_stage=lambda s: err.print(f"[bold]demo:[/bold] {s}"))
    t = Table("target", "unit", "n", "ICC", "MAE", "in 95% interval",
              title="Demo module against phantom truth")
    for _, r in res["summary"].iterrows():
        t.add_row(r["target"], r["unit"], str(r["n"]), f"{r['icc']:.3f}", f"{r['mae']:.3g}",
                  f"{r['coverage95']:.2f}")
    out.print(t)
    out.print(f"report: {res['report']}")
    raise typer.Exit(0 if res["infer"].ok else 1)
