"""``mimir qc``: QC flags over a cohort."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mimir import api
from mimir.api.images import QC_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import handle_errors, out
from mimir.cli.examples import examples
from mimir.cli.options import spec_options


@app.command("qc", epilog=examples("qc"))
@handle_errors
@spec_options(QC_OPTIONS, into="options")
def qc(
    folder: Path = typer.Argument(..., help="An image cache or an infer output folder."),
    *,
    options: dict,
):
    """Count QC flags over a cohort, list the subjects, and draw the flagged ones."""
    res = api.qc(folder, **options)
    table, counts = res["table"], res["counts"]
    t = Table("flag", "severity", "subjects", "examples", title=f"QC of {len(table)} subjects")
    for _, r in counts.iterrows():
        names = r["names"].split()
        t.add_row(r["flag"], r["severity"], str(r["subjects"]),
                  " ".join(names[:3]) + (" ..." if len(names) > 3 else ""))
    out.print(t)
    passed = int((table["qc_pass"] == True).sum())  # noqa: E712
    out.print(f"qc_pass: {passed} of {len(table)} (cache {res['cache']})")
    if res["summary"] is None:
        out.print("nothing written: name a folder for qc_summary.csv and the picture of "
                  "the flagged subjects with --out DIR")
        return
    out.print(f"summary: {res['summary']}")
    grid = res["grid"]
    out.print(f"flagged subjects drawn in {grid}" if grid else "no subject is flagged")
