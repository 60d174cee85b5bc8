"""The typer application (the ``*_cmd`` modules add their commands to it; the package
``mimir.cli`` imports them all)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mimir._version import CITATION, __version__
from mimir.logs import ENV_VERBOSE, capture_library_warnings
from mimir.modules.format import METADATA
from mimir.modules.registry import modules_dir

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
        typer.echo(f"mimir {__version__}\n\n{CITATION}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and what to cite, and exit."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show library "
                                       "warnings (numpy, pydicom) on the terminal; they "
                                       "always go to the log ($MIMIR_HOME/mimir.log).")):
    """MIMIR command line."""
    os.environ[ENV_VERBOSE] = "1" if verbose else "0"
    capture_library_warnings(verbose)


def is_module(token: str) -> bool:
    """Whether ``token`` names a module: a folder holding ``metadata.txt``, or the name of
    an installed module."""
    p = Path(token)
    try:
        if (p / METADATA).is_file():
            return True
        return "/" not in token and bool(token) and (modules_dir() / token / METADATA).is_file()
    except OSError:
        return False


def expand_list_options(argv: list[str], names=("--modules", "-m")) -> list[str]:
    """Let ``--modules A B C`` mean ``--modules A --modules B --modules C``.

    Click options take one value each; the original MIMIR listed modules after one flag.
    The token right after the flag is always its value; each further token up to the
    next option is taken as a module only when it is one (a folder with
    ``metadata.txt``, or an installed module's name), so ``-m MOD /data/zips`` keeps
    ``/data/zips`` as an input.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        out.append(tok)
        i += 1
        if tok == "--":
            out.extend(argv[i:])
            break
        if tok in names and i < len(argv):
            out.append(argv[i])
            i += 1
            while i < len(argv) and not argv[i].startswith("-") and is_module(argv[i]):
                out += [tok, argv[i]]
                i += 1
    return out


#: Options of the ``mimir`` command itself that may also come after the subcommand.
ROOT_FLAGS = ("-v", "--verbose")


def hoist_root_flags(argv: list[str]) -> list[str]:
    """Move ``-v``/``--verbose`` given anywhere on the line (before a ``--``) to the front,
    where the ``mimir`` command reads them."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in ROOT_FLAGS]
    rest = [a for a in argv[:end] if a not in ROOT_FLAGS]
    return flags + rest + argv[end:]


def prepare_argv(argv: list[str]) -> list[str]:
    """The command line as the typer application reads it (see
    :func:`expand_list_options` and :func:`hoist_root_flags`)."""
    return expand_list_options(hoist_root_flags(list(argv)))
