"""Loading untrusted module snapshots: tensors and plain containers only.

A snapshot is a pickle, and unpickling can run arbitrary code. MIMIR loads snapshots
with PyTorch's restricted ``weights_only`` unpickler, which builds only tensors, numbers,
strings and plain containers and refuses any other global. Refusals are reported as a
:class:`mimir.errors.ModuleFormatError` saying why; nothing else in the file runs. The
file is opened as a regular file only (a link only within its folder, see
:mod:`mimir.safeio`) and its size checked first. :func:`check_head` checks that the
output layer gives two numbers per target without building the network.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from mimir.errors import ModuleFormatError
from mimir.limits import GiB
from mimir.modules import backbones
from mimir.safeio import UntrustedFile, regular_file

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
    import torch  # lazy: torch loads only where it is used

    path = Path(path)
    try:
        with regular_file(path, root=path.parent) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise ModuleFormatError(f"{path}: {size} bytes, more than the snapshot limit "
                                        f"of {max_bytes}")
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModuleFormatError(f"{path}: missing") from None
    except UntrustedFile as exc:
        raise ModuleFormatError(str(exc)) from None
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


def check_head(state: dict, backbone: str, n_targets: int, where: str | os.PathLike) -> None:
    """Require the backbone's head (``fc`` for ResNets; the registry names it) to give 2
    numbers per target (mean and log variance): ``<head>.weight`` of shape (2T,
    features) and ``<head>.bias`` of shape (2T,). Only the shapes are read; no network
    is built.

    Raises
    ------
    ModuleFormatError
        Naming the shape found and the one ``metadata.txt`` needs.
    """
    bb = backbones.get(backbone)
    for key, want in ((f"{bb.head}.weight", (2 * n_targets, bb.features)),
                      (f"{bb.head}.bias", (2 * n_targets,))):
        t = state.get(key)
        if t is None:
            raise ModuleFormatError(f"{where}: no {key} in the snapshot; not a {backbone}")
        if tuple(t.shape) != want:
            raise ModuleFormatError(
                f"{where}: {key} has shape {tuple(t.shape)}, but metadata.txt lists "
                f"{n_targets} targets, which needs {want} for a {backbone} (2 outputs per "
                "target)")
