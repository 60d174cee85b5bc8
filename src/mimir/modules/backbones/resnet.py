"""ResNet18, ResNet34 and ResNet50 (torchvision's v1.5), the published MIMIR backbones.

Training builds them with torchvision; prediction builds the same layers from
:mod:`mimir.modules.resnet` (no torchvision import, oneDNN convolutions on x86-64).
"""

from __future__ import annotations

from functools import partial

from mimir.modules.backbones import Backbone, register

#: feature width of each ResNet
FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def build_training(name: str, n_outputs: int):
    """torchvision's ResNet with ``fc = Linear(features, n_outputs)``, randomly
    initialised (no weights are downloaded here; see :mod:`mimir.training.init`)."""
    import torch  # lazy: torch loads only where it is used
    import torchvision  # lazy: torchvision loads only where it is used

    net = getattr(torchvision.models, name)(weights=None)
    net.fc = torch.nn.Linear(FEATURES[name], n_outputs)
    return net


def build_inference(name: str, n_outputs: int):
    """The prediction ResNet, built on the meta device (no memory, no initialisation):
    load a state dict with ``assign=True``."""
    import torch  # lazy: torch loads only where it is used

    from mimir.modules.resnet import ResNet  # lazy: imports torch

    with torch.device("meta"):
        return ResNet(name, n_outputs)


def fold_batchnorm(net):
    """Fold every BatchNorm of an eval-mode ResNet into its convolution.

    Each ``conv -> bn`` pair becomes one convolution with rescaled weights and a bias:
    the same function up to float rounding (outputs agree to about 1e-6 relative), with
    one pass over the activations fewer per layer. Returns the same network, modified.
    """
    import torch  # lazy: torch loads only where it is used

    if net.training:
        raise ValueError("fold BatchNorm only into a network in eval mode")
    threads = torch.get_num_threads()
    # small element-wise products: one thread is several times faster than a team that
    # waits for a busy core at every layer (as on a machine preprocessing at the time)
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            _fold_all(net)
    finally:
        torch.set_num_threads(threads)
    return net


def _fold_all(net) -> None:
    import torch  # lazy: torch loads only where it is used

    _fold(net.conv1, net.bn1)
    net.bn1 = torch.nn.Identity()
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in layer:
            for c, b in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                if hasattr(block, c) and hasattr(block, b):
                    _fold(getattr(block, c), getattr(block, b))
                    setattr(block, b, torch.nn.Identity())
            if block.downsample is not None:
                conv, bn = block.downsample[0], block.downsample[1]
                _fold(conv, bn)
                block.downsample = torch.nn.Sequential(conv)


def _fold(conv, bn) -> None:
    """Fold ``bn`` into ``conv`` in place: torch's ``fuse_conv_bn_weights`` (the
    arithmetic of ``fuse_conv_bn_eval``) without copying the convolution first."""
    from torch.nn.utils.fusion import (
        fuse_conv_bn_weights,  # lazy: torch loads only where it is used
    )

    conv.weight, conv.bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)


for _name, _width in FEATURES.items():
    register(Backbone(name=_name, features=_width,
                      build_training=partial(build_training, _name),
                      build_inference=partial(build_inference, _name),
                      fold_batchnorm=fold_batchnorm))
