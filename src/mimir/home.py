"""Where MIMIR keeps things between runs: ``$MIMIR_HOME`` and the shared image cache.

``$MIMIR_HOME`` (default ``~/.cache/mimir``) holds installed modules, the log and, unless
``$MIMIR_CACHE`` names another folder, the image cache that ``infer`` uses when no
``--cache`` is given. Images are keyed by subject and checked against their source zip,
so one cache serves every output folder: a second ``infer`` into a new folder reuses
the images the first one made.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variables: MIMIR's home folder, and the default image cache.
ENV_HOME = "MIMIR_HOME"
ENV_CACHE = "MIMIR_CACHE"


def mimir_home() -> Path:
    """``$MIMIR_HOME``, or ``~/.cache/mimir``."""
    env = os.environ.get(ENV_HOME)
    return Path(env) if env else Path.home() / ".cache" / "mimir"


def default_cache() -> Path:
    """The image cache used when none is named: ``$MIMIR_CACHE``, else
    ``$MIMIR_HOME/cache``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else mimir_home() / "cache"
