"""The ``mimir`` command line: a thin layer over the Python API.

Each subcommand lives in its own module under :mod:`mimir.cli` (``*_cmd.py``) and calls
the same functions a Python user would; importing this package registers them all on
:data:`app`. Exit status: 0 success, 1 some subjects or modules failed (everything else
written), 2 usage error.
"""

import importlib.util
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
    _workers_skip_the_script()
    app(args=prepare_argv(sys.argv[1:]))


def _workers_skip_the_script() -> None:
    """Spare worker processes a re-run of the ``mimir`` console script.

    A process started with ``spawn`` (preprocessing workers, a local Dask cluster) first
    re-runs its parent's main script, unless the parent was started as a module
    (``python -m``). The console script only imports this package: about a second of
    imports (pandas, the API) in every worker, which then imports what its task needs
    anyway. Giving the script the module spec of ``python -m mimir.cli`` makes the
    workers skip it, as they do under ``python -m mimir.cli``. Only the console script
    is changed: a user's own script still runs as multiprocessing documents.
    """
    script = sys.modules.get("__main__")
    if script is None or getattr(script, "__spec__", None) is not None \
            or getattr(script, "main", None) is not main:
        return
    script.__spec__ = importlib.util.find_spec("mimir.cli.__main__")


__all__ = ["app", "main"]
