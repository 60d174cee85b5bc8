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
    import torch
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    net.fc = torch.nn.Linear(FEATURES[name], n_outputs)
    return net


def build_inference(name: str, n_outputs: int):
    """The prediction ResNet, built on the meta device (no memory, no initialisation):
    load a state dict with ``assign=True``."""
    import torch

    from mimir.modules.resnet import ResNet

    with torch.device("meta"):
        return ResNet(name, n_outputs)


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


for _name, _width in FEATURES.items():
    register(Backbone(name=_name, features=_width,
                      build_training=partial(build_training, _name),
                      build_inference=partial(build_inference, _name),
                      fold_batchnorm=fold_batchnorm))
