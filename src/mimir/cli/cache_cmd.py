"""``mimir cache verify``: check every entry of an image cache."""

from __future__ import annotations

from pathlib import Path

import typer

from mimir import api
from mimir.api.images import CACHE_VERIFY_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out
from mimir.cli.examples import examples
from mimir.cli.options import spec_options

cache_app = typer.Typer(help="Check image caches.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("verify", epilog=examples("cache verify"))
@handle_errors
@spec_options(CACHE_VERIFY_OPTIONS, into="options")
def verify(
    cache: Path = typer.Argument(..., help="The image cache folder."),
    *,
    options: dict,
):
    """Check every cached image against its record (content hash, shape, sidecar, source
    zip); exit 1 when any entry is damaged or stale (`preprocess`/`infer` with the zips
    rebuild those)."""
    res = api.cache_verify(cache, **options)
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
