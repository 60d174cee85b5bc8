"""``mimir infer`` and ``mimir modules install|list``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer
from rich.table import Table

from mimir import api
from mimir.api.predict import MERGE_OPTIONS, MODULES_INSTALL_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.options import spec_options, typer_option
from mimir.execution.options import INFER_OPTIONS
from mimir.modules.registry import modules_dir

modules_app = typer.Typer(help="Install and list inference modules.", no_args_is_help=True)
app.add_typer(modules_app, name="modules")


@app.command("infer")
@handle_errors
@spec_options(INFER_OPTIONS, into="options", skip=("batch_size",))
def infer(
    inputs: list[Path] = typer.Argument(None, help="Zips, folders of zips or list files; "
                                        "none (and no --ids): every image in --cache."),
    modules: list[str] = typer.Option(..., "--modules", "-m", help="Module folders or "
                                      "installed module names: --modules A B C (give "
                                      "INPUTS before it) or -m A -m B."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    cache: Path = typer.Option(None, "--cache", help="Image cache (default OUT/cache)."),
    batch_size: int = typer_option(INFER_OPTIONS["batch_size"]),
    *,
    options: dict,
):
    """Predict every module's measurements, with confidence intervals."""
    with progress_bar() as bar:
        tasks: dict = {}

        def on_start(n_pre: int, n_pred: int):
            tasks["pre"] = bar.add_task("preprocess", total=n_pre)
            tasks["_total"] = n_pred

        def on_module(name: str, n: int):
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=tasks["_total"])
            bar.advance(tasks[name], n)

        summary = api.infer(inputs or [], cache, modules, out_dir, batch_size, **options,
                            command=shlex.join(["mimir"] + sys.argv[1:]),
                            on_start=on_start,
                            on_preprocessed=lambda _r: bar.advance(tasks["pre"]),
                            on_module=on_module,
                            log=lambda m: err.print(f"[yellow]{m}[/yellow]"))
    for f in summary.module_failures:
        err.print(f"[red]module failed[/red] {f['message']}")
    for f in summary.failed[:10]:
        err.print(f"[red]{f['kind']}[/red] {f['message']}")
    if len(summary.failed) > 10:
        err.print(f"... and {len(summary.failed) - 10} more (see {out_dir / 'failures.csv'})")
    out.print(summary.line())
    _print_report(summary.report, summary.report_error, summary.out)
    raise typer.Exit(0 if summary.ok else 1)


def _print_report(path, error: str | None, folder) -> None:
    if path is not None:
        out.print(f"report: {path}")
    elif error is not None:
        err.print(f"[yellow]report.html not written[/yellow] ({error}); the results are "
                  f"complete; rebuild it with `mimir report {folder}`")


@app.command("merge")
@handle_errors
@spec_options(MERGE_OPTIONS, into="options")
def merge(
    sources: list[Path] = typer.Argument(..., help="The OUT of the --shard runs (with "
                                         "shards/), or shard folders."),
    *,
    options: dict,
):
    """Combine the outputs of `infer --shard I/N` runs into one set of tables."""
    res = api.merge(sources, **options)
    out.print(f"merged {res['shards']} shards: {res['subjects']} subjects in {res['out']}")
    if options["report"]:
        _print_report(res["report"], res["report_error"], res["out"])


@modules_app.command("install")
@handle_errors
@spec_options(MODULES_INSTALL_OPTIONS, into="options")
def modules_install(
    source: Path = typer.Argument(..., help="A module zip as downloaded, or a module folder."),
    *,
    options: dict,
):
    """Install a module into $MIMIR_HOME/modules (default ~/.cache/mimir/modules)."""
    m = api.modules_install(source, **options)
    out.print(f"installed {m.name} ({m.n_targets} targets, {m.backbone}) at {m.path}")


@modules_app.command("list")
@handle_errors
def modules_list():
    """List installed modules and their targets."""
    mods = api.modules_list()
    if not mods:
        out.print(f"no modules installed in {modules_dir()}")
        return
    table = Table("module", "backbone", "targets")
    for m in mods:
        table.add_row(m.name, m.backbone, ", ".join(f"{t.name} [{t.unit}]" for t in m.targets))
    out.print(table)
