"""The backbone registry: one entry per network family a module can use.

A :class:`Backbone` says everything MIMIR needs to know about a backbone: its feature
width (the input of ``fc``, which gives 2 outputs per target), how training builds it
(with torchvision's initialisation), how prediction builds it (without random
initialisation, to receive a snapshot's weights), how its BatchNorm layers fold into
the convolutions for inference, and the name of its head (the linear layer giving 2
outputs per target). Module validation, training, the engine and the command
line's help all derive from this registry.

Adding a backbone is one file in this folder that calls :func:`register`; files here are
found and imported on first use. Declaring entries must stay cheap (no torch import at
module level), since validating a module folder consults the registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from mimir.errors import UsageError


@dataclass(frozen=True)
class Backbone:
    """One backbone.

    Attributes
    ----------
    name : str
        As written in ``module.json`` and ``--backbone`` (``resnet50``).
    features : int
        Width of the layer before the head.
    build_training : callable(n_outputs) -> torch.nn.Module
        A freshly initialised network for training (torchvision's initialisation).
    build_inference : callable(n_outputs) -> torch.nn.Module
        The same architecture and parameter names, made to receive a snapshot's weights.
    fold_batchnorm : callable(net) -> net
        Fold the eval-mode network's BatchNorm layers into its convolutions.
    head : str
        The head's name in the state dict (``fc`` for ResNets: ``fc.weight`` has shape
        (2T, features)); every other weight is the backbone's, which an ImageNet start
        replaces.
    """

    name: str
    features: int
    build_training: Callable
    build_inference: Callable
    fold_batchnorm: Callable
    head: str = "fc"

    def is_head(self, key: str) -> bool:
        """Whether a state-dict key belongs to the head."""
        return key.startswith(self.head + ".")


_REGISTRY: dict[str, Backbone] = {}
_LOADED = False


def register(backbone: Backbone) -> Backbone:
    """Add a backbone (called by the files of this folder)."""
    _REGISTRY[backbone.name] = backbone
    return backbone


def _discover() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")


def names() -> list[str]:
    """Names of every registered backbone (the published ``resnet50`` first)."""
    _discover()
    return sorted(_REGISTRY, key=lambda n: (n != "resnet50", n))


def get(name: str) -> Backbone:
    """The backbone called ``name``.

    Raises
    ------
    UsageError
        For an unknown name (listing the known ones).
    """
    _discover()
    if name not in _REGISTRY:
        raise UsageError(f"unknown backbone {name!r} (one of {', '.join(names())})")
    return _REGISTRY[name]
