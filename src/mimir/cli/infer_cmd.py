"""``mimir infer`` and ``mimir modules install|list``."""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mimir import api
from mimir.api.predict import MERGE_OPTIONS, MODULES_INSTALL_OPTIONS
from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.examples import examples
from mimir.cli.options import spec_options, typer_option
from mimir.execution.options import INFER_OPTIONS
from mimir.modules.registry import modules_dir

modules_app = typer.Typer(help="Install, list and describe inference modules.",
                          no_args_is_help=True)
app.add_typer(modules_app, name="modules")


@app.command("infer", epilog=examples("infer"))
@handle_errors
@spec_options(INFER_OPTIONS, into="options", skip=("batch_size",))
def infer(
    inputs: list[Path] = typer.Argument(None, help="Zips, folders of zips or list files of "
                                        "zips (each must exist); none (and no --ids): "
                                        "every image in --cache."),
    modules: list[str] = typer.Option(..., "--modules", "-m", help="A module folder or an "
                                      "installed module's name; repeat for several (-m A "
                                      "-m B), or list modules after one flag (--modules A "
                                      "B)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    cache: Path = typer.Option(None, "--cache", help="Image cache (default: the shared one, "
                               "$MIMIR_CACHE or else $MIMIR_HOME/cache, reused by every "
                               "run)."),
    batch_size: int = typer_option(INFER_OPTIONS["batch_size"]),
    *,
    options: dict,
):
    """Predict every module's measurements, with confidence intervals."""
    with progress_bar() as bar:
        tasks: dict = {}

        def on_start(n_pre: int, n_pred: int):
            tasks["pre"] = bar.add_task("preprocess", total=n_pre, worked=0)
            tasks["_total"] = n_pred

        def on_preprocessed(rec) -> None:
            tasks["worked"] = tasks.get("worked", 0) + (rec.status == "done")
            bar.update(tasks["pre"], advance=1, worked=tasks["worked"])

        def on_module(name: str, n: int):
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=tasks["_total"])
            bar.advance(tasks[name], n)

        summary = api.infer(inputs or [], cache, modules, out_dir, batch_size, **options,
                            command=shlex.join(["mimir"] + sys.argv[1:]),
                            on_start=on_start,
                            on_preprocessed=on_preprocessed,
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


@app.command("merge", epilog=examples("merge"))
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


@modules_app.command("install", epilog=examples("modules install"))
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


@modules_app.command("list", epilog=examples("modules list"))
@handle_errors
def modules_list():
    """List installed modules and their targets (with units)."""
    mods = api.modules_list()
    if not mods:
        out.print(f"no modules installed in {escape(str(modules_dir()))}; the published "
                  "modules: see `mimir modules published` and the README")
        return
    table = Table("module", "backbone", "targets")
    for m in mods:
        table.add_row(escape(m.name), escape(m.backbone),
                      escape(", ".join(f"{t.name} [{t.unit}]" for t in m.targets)))
    out.print(table)


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}g}"


@modules_app.command("info", epilog=examples("modules info"))
@handle_errors
def modules_info(
    module: str = typer.Argument(..., help="An installed module's name or a module folder."),
):
    """Each target of a module: UK Biobank field, unit, the module's own cross-validation
    accuracy (module.json) and the published accuracy of the matching target."""
    tab = api.modules_info(module)
    t = Table("target", "field", "unit", "own ICC", "own MAE", "published", "ICC", "R2",
              "MAE", "MAPE %", "n", title=f"{escape(str(module))}: accuracy per target")
    for _, r in tab.iterrows():
        t.add_row(escape(str(r["target"])), escape(str(r["field"] or "-")),
                  escape(str(r["unit"])), _num(r["own_icc"]), _num(r["own_mae"]),
                  escape(str(r.get("published_source") or "no published match")),
                  _num(r.get("published_icc")), _num(r.get("published_r2")),
                  _num(r.get("published_mae")), _num(r.get("published_mape_percent"), 2),
                  _num(r.get("published_n")))
    out.print(t)
    out.print("own: the module's cross-validation (module.json); published: the original "
              "MIMIR's figures for the target of the same UK Biobank field (else name); "
              "ICC as the original computed it, MAE in the unit shown.")


@modules_app.command("published", epilog=examples("modules published"))
@handle_errors
def modules_published():
    """Every published target with its UK Biobank field, unit and accuracy (the original
    MIMIR's 10-fold cross-validation, and its later test of 12 fields)."""
    tab = api.modules_published()
    t = Table("source", "target", "field", "unit", "n", "ICC", "R2", "MAE", "MAPE %")
    for _, r in tab.iterrows():
        src = "cross-val." if r["source"].startswith("10-fold") else "later test"
        t.add_row(src, escape(r["target"]), r["field"] or "-", escape(r["unit"]),
                  str(r["n"]), _num(r["icc"]), _num(r["r2"]), _num(r["mae"]),
                  _num(r["mape_percent"], 2))
    out.print(t)
