"""The mean-variance regression networks: torchvision ResNets with ``fc`` -> 2T.

Training builds them with torchvision (:func:`build_network`, torchvision's
initialisation); prediction loads snapshots into the same architecture defined in
:mod:`mimir.modules.resnet` (:func:`network_from_state`), which does not import
torchvision.
"""

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
    import torch

    from mimir.modules.resnet import ResNet

    # built without memory or random initialisation (the snapshot replaces every
    # weight); tensors are float32 whatever the stored precision
    with torch.device("meta"):
        net = ResNet(backbone, 2 * n_targets)
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


def fold_batchnorm(net):
    """Fold every BatchNorm of an eval-mode ResNet into its convolution.

    Each ``conv -> bn`` pair becomes one convolution with rescaled weights and a bias:
    the same function up to float rounding (outputs agree to about 1e-6 relative), with
    one pass over the activations fewer per layer. Returns the same network, modified.
    """
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if net.training:
        raise ValueError("fold BatchNorm only into a network in eval mode")
    net.conv1 = fuse_conv_bn_eval(net.conv1, net.bn1)
    net.bn1 = torch.nn.Identity()
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in layer:
            for c, b in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                if hasattr(block, c) and hasattr(block, b):
                    setattr(block, c, fuse_conv_bn_eval(getattr(block, c), getattr(block, b)))
                    setattr(block, b, torch.nn.Identity())
            if block.downsample is not None:
                conv, bn = block.downsample[0], block.downsample[1]
                block.downsample = torch.nn.Sequential(fuse_conv_bn_eval(conv, bn))
    return net
