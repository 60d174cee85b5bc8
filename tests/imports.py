"""What a fresh interpreter has imported after running a snippet (start-up checks)."""

from __future__ import annotations

import subprocess
import sys


def loads_module(code: str, module: str) -> bool:
    """Whether ``module`` is in ``sys.modules`` after ``code`` runs in a fresh Python."""
    probe = f"{code}\nimport sys\nprint({module!r} in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip() == "True"
