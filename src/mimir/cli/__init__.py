"""The ``mimir`` command line: a thin layer over the Python API.

Each subcommand lives in its own module under :mod:`mimir.cli` and calls the same
functions a Python user would. Exit status: 0 success, 1 some subjects or modules
failed (everything else written), 2 usage error.
"""

from mimir.cli.app import app, main

__all__ = ["app", "main"]
