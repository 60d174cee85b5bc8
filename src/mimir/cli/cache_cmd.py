"""``mimir cache verify``: check every entry of an image cache."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out

cache_app = typer.Typer(help="Check image caches.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("verify")
@handle_errors
def verify(
    cache: Path = typer.Argument(..., help="The image cache folder."),
    no_sources: bool = typer.Option(False, "--no-sources", help="Do not compare entries "
                                    "with their source zips' size and time."),
):
    """Check every cached image against its record (content hash, shape, sidecar, source
    zip); exit 1 when any entry is damaged or stale (`preprocess`/`infer` with the zips
    rebuild those)."""
    from mimir.api import cache_verify

    res = cache_verify(cache, check_sources=not no_sources)
    for name, why in res["problems"][:20]:
        err.print(f"[red]bad[/red] {name}: {why}")
    if len(res["problems"]) > 20:
        err.print(f"... and {len(res['problems']) - 20} more")
    if res["orphans"]:
        err.print(f"{len(res['orphans'])} sidecar(s) without an image (ignored): "
                  f"{', '.join(res['orphans'][:5])}")
    out.print(f"{res['entries']} entries: {res['ok']} ok, {len(res['problems'])} damaged or "
              "stale")
    raise typer.Exit(1 if res["problems"] else 0)
