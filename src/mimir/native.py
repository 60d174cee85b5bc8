"""The compiled kernels (``mimir._kernels``) and the switch between them and numpy.

Preprocessing runs its element-wise float64 arithmetic (resampling, the signal sum and
its plane ranges, the histogram estimate of the Otsu thresholds) either as numpy array
operations or as the fused C loops of ``src/mimir/_kernels.c``, which do the same
operations in the same order and give the same bits with fewer passes over memory. The
kernels are built when the package is installed and a C compiler is there; without them
(or with ``MIMIR_NATIVE=0`` in the environment, read when a kernel is first asked for)
numpy runs instead. :func:`status` says which one is in use.
"""

from __future__ import annotations

import os
from types import ModuleType

_ENV = "MIMIR_NATIVE"
_state: dict[str, ModuleType | None] = {}


def _switched_off() -> bool:
    return os.environ.get(_ENV, "1").strip().lower() in ("0", "false", "no", "off")


def _load() -> ModuleType | None:
    if _switched_off():
        return None
    try:
        import mimir._kernels as _kernels  # type: ignore[import-not-found]  # lazy: built or not
    except ImportError:
        return None
    return _kernels


def kernels() -> ModuleType | None:
    """The kernel module, or None where numpy does the arithmetic."""
    if "k" not in _state:
        _state["k"] = _load()
    return _state["k"]


def set_enabled(enabled: bool) -> None:
    """Use the kernels (where built) or numpy from now on, in this process."""
    _state["k"] = _load() if enabled else None


def status() -> str:
    """``"compiled kernels"`` or ``"numpy"``, with why where the kernels are not used."""
    if kernels() is not None:
        return "compiled kernels"
    if _switched_off():
        return f"numpy ({_ENV}=0)"
    try:
        import mimir._kernels  # type: ignore[import-not-found]  # noqa: F401  # lazy: built or not
    except ImportError:
        return "numpy (the compiled kernels were not built)"
    return "numpy (switched off in this process)"
