"""EfficientNet-B0 (torchvision's): a small, fast backbone (not a published MIMIR one).

About a quarter of ResNet50's parameters and a tenth of its arithmetic per image; its
head is ``classifier.1`` (after a dropout of 0.2 that is inactive at prediction) on 1,280
features. Training and prediction both build torchvision's network; its BatchNorm layers
fold into the convolutions before them.
"""

from __future__ import annotations

from mimir.modules.backbones import Backbone, register


def build_training(n_outputs: int):
    """torchvision's EfficientNet-B0 with a head of ``n_outputs``, randomly initialised
    (no weights are downloaded here; see :mod:`mimir.training.init`)."""
    import torchvision  # lazy: declaring the backbone must stay cheap

    return torchvision.models.efficientnet_b0(weights=None, num_classes=n_outputs)


def build_inference(n_outputs: int):
    """The same network on the meta device (no memory, no initialisation): load a state
    dict with ``assign=True``."""
    import torch  # lazy: declaring the backbone must stay cheap

    with torch.device("meta"):
        return build_training(n_outputs)


def fold_batchnorm(net):
    """Fold every BatchNorm that directly follows a convolution in a ``Sequential``
    (torchvision's ``Conv2dNormActivation`` blocks) into that convolution.

    The same function up to float rounding; returns the same network, modified.
    """
    import torch  # lazy: declaring the backbone must stay cheap
    from torch.nn.utils.fusion import fuse_conv_bn_eval  # lazy: torch loads only where it is used

    if net.training:
        raise ValueError("fold BatchNorm only into a network in eval mode")
    for seq in [m for m in net.modules() if isinstance(m, torch.nn.Sequential)]:
        keys = list(seq._modules)
        for a, b in zip(keys, keys[1:], strict=False):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = torch.nn.Identity()
    return net


register(Backbone(name="efficientnet_b0", features=1280, build_training=build_training,
                  build_inference=build_inference, fold_batchnorm=fold_batchnorm,
                  head="classifier.1"))
