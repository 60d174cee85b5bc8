"""The mean-variance regression networks: a backbone with a linear head -> 2T outputs.

Every backbone-specific fact comes from :mod:`mimir.modules.backbones`; this file builds
networks for training (:func:`build_network`) and loads snapshots for prediction
(:func:`network_from_state`), checking shapes first.
"""

from __future__ import annotations

from mimir.errors import ModuleFormatError
from mimir.modules import backbones


def feature_width(backbone: str) -> int:
    """Width of the layer before the head."""
    return backbones.get(backbone).features


def build_network(backbone: str, n_targets: int):
    """A freshly initialised network whose head is ``Linear(features, 2 * n_targets)``.

    No weights are downloaded.
    """
    return backbones.get(backbone).build_training(2 * n_targets)


def fold_batchnorm(net, backbone: str = "resnet50"):
    """Fold the BatchNorm layers of an eval-mode network of ``backbone`` into its
    convolutions (see the backbone's ``fold_batchnorm``)."""
    return backbones.get(backbone).fold_batchnorm(net)


def network_from_state(backbone: str, n_targets: int, state: dict, where: str):
    """Build the network and load ``state`` into it, checking shapes first.

    Raises
    ------
    ModuleFormatError
        When the head does not give 2 outputs per target or weights do not fit.
    """
    bb = backbones.get(backbone)
    key = f"{bb.head}.weight"
    w = state.get(key)
    if w is None:
        raise ModuleFormatError(f"{where}: no {key} in the snapshot; not a {backbone}")
    want = (2 * n_targets, bb.features)
    if tuple(w.shape) != want:
        raise ModuleFormatError(
            f"{where}: {key} has shape {tuple(w.shape)}, but metadata.txt lists "
            f"{n_targets} targets, which needs {want} for a {backbone}")
    import torch  # lazy: validating a module folder needs no torch

    # built without memory or random initialisation (the snapshot replaces every
    # weight); tensors are float32 whatever the stored precision
    net = bb.build_inference(2 * n_targets)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for k in net.state_dict():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros((), dtype=torch.long)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:
        raise ModuleFormatError(f"{where}: weights do not fit a {backbone}: "
                                f"{str(exc).splitlines()[-1].strip()}") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModuleFormatError(f"{where}: weights do not fit a {backbone} (missing "
                                f"{missing[:3]}, unexpected {unexpected[:3]})")
    net.eval()
    return net
