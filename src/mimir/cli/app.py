"""The typer application and its subcommands."""

from __future__ import annotations

import typer

from mimir._version import __version__

app = typer.Typer(
    name="mimir",
    help="MIMIR: measurements with confidence intervals from UK Biobank neck-to-knee "
         "body MRI (field 20201).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"mimir {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show library "
                                       "warnings (numpy, pydicom) on the terminal; they "
                                       "always go to the log ($MIMIR_HOME/mimir.log).")):
    """MIMIR command line."""
    import os

    from mimir.logs import ENV_VERBOSE, capture_library_warnings

    os.environ[ENV_VERBOSE] = "1" if verbose else "0"
    capture_library_warnings(verbose)


def _register() -> None:
    from mimir.cli import (  # noqa: F401
        cache_cmd,
        demo_cmd,
        explain_cmd,
        infer_cmd,
        phantom_cmd,
        preprocess_cmd,
        qc_cmd,
        report_cmd,
        train_cmd,
    )


_register()


def expand_list_options(argv: list[str], names=("--modules", "-m")) -> list[str]:
    """Let ``--modules A B C`` mean ``--modules A --modules B --modules C``.

    Click options take one value each; the original MIMIR listed modules after one flag.
    Every token after the flag up to the next option is taken as a module.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        out.append(tok)
        i += 1
        if tok in names:
            first = True
            while i < len(argv) and (first or not argv[i].startswith("-")):
                if not first:
                    out.append(tok)
                out.append(argv[i])
                first = False
                i += 1
    return out


def main() -> None:
    """Console-script entry point."""
    import sys

    app(args=expand_list_options(sys.argv[1:]))
