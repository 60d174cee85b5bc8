"""Where library warnings go: a log file, and the terminal only with ``-v``.

Third-party libraries (numpy, pydicom, ...) warn about things a UK Biobank zip does
routinely (odd but harmless DICOM values, divisions in empty slices). Those warnings are
appended to :func:`log_path` (``$MIMIR_HOME/mimir.log``, default
``~/.cache/mimir/mimir.log``) with the time and the process; the terminal shows them only
with ``mimir -v``. MIMIR's own messages are not affected. Worker processes inherit the
choice through the ``MIMIR_VERBOSE`` environment variable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

ENV_VERBOSE = "MIMIR_VERBOSE"
_HANDLERS: list = []


def log_path() -> Path:
    """``$MIMIR_HOME/mimir.log`` (default ``~/.cache/mimir/mimir.log``)."""
    env = os.environ.get("MIMIR_HOME")
    home = Path(env) if env else Path.home() / ".cache" / "mimir"
    return home / "mimir.log"


def capture_library_warnings(verbose: bool | None = None) -> None:
    """Send Python warnings to the log file (and to stderr when ``verbose``).

    ``verbose`` None reads ``MIMIR_VERBOSE`` (set by ``mimir -v`` for worker processes).
    Calling it again replaces the earlier set-up.
    """
    if verbose is None:
        verbose = os.environ.get(ENV_VERBOSE) == "1"
    logger = logging.getLogger("py.warnings")
    for h in _HANDLERS:
        logger.removeHandler(h)
        h.close()
    _HANDLERS.clear()
    logging.captureWarnings(True)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, encoding="utf-8", delay=True)
        fh.setFormatter(logging.Formatter("%(asctime)s pid %(process)d %(message)s"))
        _HANDLERS.append(fh)
    except OSError:
        pass  # no writable home: warnings are dropped unless verbose
    if verbose:
        sh = logging.StreamHandler()
        sh.setFormatter(logging.Formatter("%(message)s"))
        _HANDLERS.append(sh)
    if not _HANDLERS:
        _HANDLERS.append(logging.NullHandler())
    for h in _HANDLERS:
        logger.addHandler(h)
