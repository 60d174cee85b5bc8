"""``mimir infer`` and ``mimir modules install|list``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from mimir.cli.app import app
from mimir.cli.common import err, handle_errors, out, progress_bar
from mimir.cli.options import INPUT_OPTIONS, LIMIT_OPTIONS, add_options, limits_options

modules_app = typer.Typer(help="Install and list inference modules.", no_args_is_help=True)
app.add_typer(modules_app, name="modules")


@app.command("infer")
@handle_errors
@add_options(LIMIT_OPTIONS, into="limit_values")
@add_options(INPUT_OPTIONS, into="selection")
def infer(
    inputs: list[Path] = typer.Argument(None, help="Zips, folders of zips or list files; "
                                        "none (and no --ids): every image in --cache."),
    modules: list[str] = typer.Option(..., "--modules", "-m", help="Module folders or "
                                      "installed module names: --modules A B C (give "
                                      "INPUTS before it) or -m A -m B."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    cache: Path = typer.Option(None, "--cache", help="Image cache (default OUT/cache)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Images per batch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    workers: int = typer.Option(1, "--workers", min=1, help="Preprocessing processes."),
    ci: float = typer.Option(0.95, "--ci", help="Confidence interval level."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted run in OUT."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results in OUT."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (IEEE float32 on every "
                                  "device), or tf32/bf16/fp16 (faster on GPUs, changes "
                                  "numbers)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the networks "
                                  "(changes numbers slightly)."),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    qc: str = typer.Option("warn", "--qc", help="strict: no predictions for subjects failing "
                           "QC; warn: predictions plus QC columns; off: no QC columns."),
    shard: str = typer.Option(None, "--shard", help="I/N: this job's share of the subjects "
                              "(results in OUT/shards/I-of-N; combine with `mimir merge`)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a Dask scheduler to "
                                  "run on."),
    cluster: str = typer.Option(None, "--cluster", help="local[:N]: start a local Dask "
                                "cluster of N worker processes."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html "
                                   "(build it later with `mimir report OUT`)."),
    *,
    selection: dict,
    limit_values: dict,
):
    """Predict every module's measurements, with confidence intervals."""
    from mimir.api import infer as run

    limits = limits_options(**limit_values)
    with progress_bar() as bar:
        tasks: dict = {}

        def on_start(n_pre: int, n_pred: int):
            tasks["pre"] = bar.add_task("preprocess", total=n_pre)
            tasks["_total"] = n_pred

        def on_module(name: str, n: int):
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=tasks["_total"])
            bar.advance(tasks[name], n)

        summary = run(inputs or [], cache, modules, out_dir, batch_size, device=device,
                      workers=workers, ci=ci, resume=resume, overwrite=overwrite,
                      precision=precision, compile=compile, threads=threads, qc=qc,
                      shard=_parse_shard(shard), report=not no_report, scheduler=scheduler,
                      cluster=cluster, **selection, limits=limits,
                      command=shlex.join(["mimir"] + sys.argv[1:]),
                      on_start=on_start,
                      on_preprocessed=lambda _r: bar.advance(tasks["pre"]),
                      on_module=on_module, log=lambda m: err.print(f"[yellow]{m}[/yellow]"))
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


def _parse_shard(text: str | None):
    from mimir.errors import UsageError

    if text is None:
        return None
    i, _, n = text.partition("/")
    try:
        return int(i), int(n)
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 3/10") from None


@app.command("merge")
@handle_errors
def merge(
    sources: list[Path] = typer.Argument(..., help="The OUT of the --shard runs (with "
                                         "shards/), or shard folders."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Where to write the merged tables "
                                 "(default: the single SOURCE)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html."),
):
    """Combine the outputs of `infer --shard I/N` runs into one set of tables."""
    from mimir.api import merge as run

    res = run(sources, out_dir, overwrite=overwrite, report=not no_report)
    out.print(f"merged {res['shards']} shards: {res['subjects']} subjects in {res['out']}")
    if not no_report:
        _print_report(res["report"], res["report_error"], res["out"])


@modules_app.command("install")
@handle_errors
def modules_install(
    source: Path = typer.Argument(..., help="A module zip as downloaded, or a module folder."),
    name: str = typer.Option(None, "--name", help="Install under this name."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an installed module."),
):
    """Install a module into $MIMIR_HOME/modules (default ~/.cache/mimir/modules)."""
    from mimir.api import modules_install as install

    m = install(source, name=name, overwrite=overwrite)
    out.print(f"installed {m.name} ({m.n_targets} targets, {m.backbone}) at {m.path}")


@modules_app.command("list")
@handle_errors
def modules_list():
    """List installed modules and their targets."""
    from rich.table import Table

    from mimir.api import modules_list as installed
    from mimir.modules.registry import modules_dir

    mods = installed()
    if not mods:
        out.print(f"no modules installed in {modules_dir()}")
        return
    table = Table("module", "backbone", "targets")
    for m in mods:
        table.add_row(m.name, m.backbone, ", ".join(f"{t.name} [{t.unit}]" for t in m.targets))
    out.print(table)
