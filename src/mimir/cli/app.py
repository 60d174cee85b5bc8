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
                                       help="Show the version and exit.")):
    """MIMIR command line."""


def _register() -> None:
    from mimir.cli import (  # noqa: F401
        demo_cmd,
        infer_cmd,
        phantom_cmd,
        preprocess_cmd,
        qc_cmd,
        train_cmd,
    )


_register()


def main() -> None:
    """Console-script entry point."""
    app()
