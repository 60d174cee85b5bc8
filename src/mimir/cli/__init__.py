"""The ``mimir`` command line: a thin layer over the Python API.

Each subcommand lives in its own module under :mod:`mimir.cli` (``*_cmd.py``) and calls
the same functions a Python user would; importing this package registers them all on
:data:`app`. Exit status: 0 success, 1 some subjects or modules failed (everything else
written), 2 usage error.
"""

import sys

from mimir.cli import (  # noqa: F401  (each module adds its commands to the app)
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
from mimir.cli.app import app, prepare_argv


def main() -> None:
    """Console-script entry point."""
    app(args=prepare_argv(sys.argv[1:]))


__all__ = ["app", "main"]
