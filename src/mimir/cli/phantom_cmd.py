"""``mimir phantom``: synthetic field-20201 zips with known truth."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import handle_errors, out, progress_bar


@app.command("phantom")
@handle_errors
def phantom(
    out_dir: Path = typer.Argument(..., help="Folder for the zips and truth.csv."),
    n: int = typer.Option(8, "--n", min=1, help="Number of subjects."),
    seed: int = typer.Option(0, "--seed", help="Seed: same seed and options give "
                             "byte-identical zips."),
    superimposed: int = typer.Option(None, "--superimposed", min=1, max=6, help="Repeat "
                                     "station K (the first copy corrupted, the later clean)."),
    mismatch: int = typer.Option(None, "--mismatch", min=1, max=6, help="Fat series of station "
                                 "K with 4 fewer rows than water."),
    missing_station: int = typer.Option(None, "--missing-station", min=1, max=6,
                                        help="Leave out station K."),
    missing_fat: int = typer.Option(None, "--missing-fat", min=1, max=6,
                                    help="Leave out the fat series of station K."),
    swap: int = typer.Option(None, "--swap", min=1, max=6, help="Swap water and fat in "
                             "station K."),
    manifest_csv: bool = typer.Option(False, "--manifest-csv", help="Name the manifest "
                                      "manifest.csv instead of manifest.cvs."),
    crlf: bool = typer.Option(False, "--crlf", help="CRLF line ends in the manifest."),
    no_manifest: bool = typer.Option(False, "--no-manifest", help="Leave out the manifest."),
    truncated: bool = typer.Option(False, "--truncated", help="Cut each zip to 60%."),
    corrupt_member: bool = typer.Option(False, "--corrupt-member", help="Replace one water "
                                        "slice with unreadable bytes."),
    knee_cut: bool = typer.Option(False, "--knee-cut", help="Position subjects so the knees lie "
                                  "120 mm below the field of view."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    fast: bool = typer.Option(False, "--fast", help="Write 2D images straight into OUT_DIR as "
                              "an image cache (fast path, no zips; for training data)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes writing subjects."),
):
    """Write N synthetic subjects' zips (UK Biobank field-20201 layout) and truth.csv."""
    from mimir.api import phantom as run

    with progress_bar() as bar:
        task = bar.add_task("phantoms (fast)" if fast else "phantoms", total=n)
        run(out_dir, n=n, seed=seed, superimposed=superimposed, mismatch=mismatch,
            missing_station=missing_station, missing_fat=missing_fat, swap=swap,
            manifest_csv=manifest_csv, crlf=crlf, no_manifest=no_manifest,
            truncated=truncated, corrupt_member=corrupt_member, knee_cut=knee_cut,
            overwrite=overwrite, fast=fast, workers=workers,
            on_subject=lambda _name: bar.advance(task))
    if fast:
        out.print(f"wrote {n} images and truth.csv to {out_dir}")
    else:
        out.print(f"wrote {n} subjects and truth.csv to {out_dir}")
