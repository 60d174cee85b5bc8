"""Loading untrusted module snapshots: tensors and plain containers only.

A snapshot is a pickle, and unpickling can run arbitrary code. MIMIR loads snapshots
with PyTorch's restricted ``weights_only`` unpickler, which builds only tensors, numbers,
strings and plain containers and refuses any other global. Refusals are reported as a
:class:`mimir.errors.ModuleFormatError` saying why; nothing else in the file runs.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from mimir.errors import ModuleFormatError
from mimir.limits import GiB

MAX_SNAPSHOT_BYTES = 2 * GiB


def load_state_dict(path: str | os.PathLike, max_bytes: int = MAX_SNAPSHOT_BYTES) -> dict:
    """The network weights in a snapshot file.

    Accepts a dict with ``state_dict`` (the published format) or a bare state dict;
    strips a ``module.`` prefix left by ``DataParallel``.

    Raises
    ------
    ModuleFormatError
        When the file is too large, not a snapshot, or needs more than tensors.
    """
    import torch

    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ModuleFormatError(f"{path}: {size} bytes, more than the snapshot limit of "
                                f"{max_bytes}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        reason = next((ln for ln in first if "Unsupported global" in ln or "GLOBAL" in ln),
                      first[0] if first else "")
        raise ModuleFormatError(
            f"{path}: refused: loading it would need more than tensors and plain containers "
            f"(MIMIR never runs code from a snapshot). {reason.strip()}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError,
            TypeError) as exc:
        raise ModuleFormatError(f"{path}: not a readable PyTorch snapshot "
                                f"({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ModuleFormatError(f"{path}: holds no state_dict")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModuleFormatError(f"{path}: state_dict holds values that are not tensors")
    keys = list(obj)
    if all(k.startswith("module.") for k in keys):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj
