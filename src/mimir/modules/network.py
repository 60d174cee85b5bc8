"""The mean-variance regression networks: torchvision ResNets with ``fc`` -> 2T."""

from __future__ import annotations

from mimir.errors import ModuleFormatError

FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def build_network(backbone: str, n_targets: int):
    """A randomly initialised ResNet with ``fc = Linear(features, 2 * n_targets)``.

    No weights are downloaded.
    """
    import torch
    import torchvision

    if backbone not in FEATURES:
        raise ValueError(f"unknown backbone {backbone!r}")
    net = getattr(torchvision.models, backbone)(weights=None)
    net.fc = torch.nn.Linear(FEATURES[backbone], 2 * n_targets)
    return net


def network_from_state(backbone: str, n_targets: int, state: dict, where: str):
    """Build the network and load ``state`` into it, checking shapes first.

    Raises
    ------
    ModuleFormatError
        When the head does not give 2 outputs per target or weights do not fit.
    """
    w = state.get("fc.weight")
    if w is None:
        raise ModuleFormatError(f"{where}: no fc.weight in the snapshot; not a {backbone}")
    want = (2 * n_targets, FEATURES[backbone])
    if tuple(w.shape) != want:
        raise ModuleFormatError(
            f"{where}: fc.weight has shape {tuple(w.shape)}, but metadata.txt lists "
            f"{n_targets} targets, which needs {want} for a {backbone}")
    net = build_network(backbone, n_targets)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModuleFormatError(f"{where}: weights do not fit a {backbone}: "
                                f"{str(exc).splitlines()[-1].strip()}") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModuleFormatError(f"{where}: weights do not fit a {backbone} (missing "
                                f"{missing[:3]}, unexpected {unexpected[:3]})")
    net.eval()
    return net
