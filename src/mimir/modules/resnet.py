"""The ResNet architecture for prediction, built without importing torchvision.

Modules are torchvision ResNets (``resnet18``, ``resnet34``, ``resnet50``: ResNet v1.5,
stride in the 3x3 convolution of a bottleneck) whose ``fc`` gives 2 outputs per target.
Training builds and initialises them with torchvision (``network.build_network``). For
prediction this file defines the same layers with the same parameter names, so a
module's state dict loads unchanged and gives the same outputs (tested against
torchvision). The reason is start-up time: importing torchvision imports
``torch._dynamo`` (about 1 s of CPU in every ``infer`` run, taken from preprocessing on a
small machine).

Convolutions here are :class:`Conv2d`, which on an x86-64 CPU in float32 always calls
oneDNN. PyTorch otherwise sends a 1x1 convolution with fewer than 16 images on one
thread to its slow fallback kernel, which made a ResNet50 about 1.4 times slower at the
batch sizes ``infer`` uses while preprocessing workers hold the other cores.

:class:`FusedResNet` runs a ResNet whose BatchNorms are folded as oneDNN convolutions
with their bias, ReLU and shortcut sum fused into each convolution (the operators
PyTorch's own compiler emits for CPUs, called directly: no compilation at start-up), with
weights reordered once into oneDNN's blocked layout instead of at every call.
"""

from __future__ import annotations

import platform

import torch
from torch import nn

#: the oneDNN call is measured on x86-64; elsewhere (Apple silicon, ARM servers)
#: PyTorch's own choice of kernel stands
_X86 = platform.machine().lower() in ("x86_64", "amd64")

#: blocks per stage and block type of each backbone
LAYOUT = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
          "resnet50": ("bottleneck", (3, 4, 6, 3))}


def _onednn_ok(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return bool(_X86 and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled and not torch.is_autocast_enabled("cpu"))


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that uses oneDNN for every float32 CPU inference call.

    Other cases (GPU, reduced precision, gradients enabled) take the ordinary path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode == "zeros" and _onednn_ok(x, self.weight):
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, self.padding,
                                                     self.stride, self.dilation, self.groups)
        return super().forward(x)


def fused_available() -> bool:
    """Whether :class:`FusedResNet` can run here (x86-64, PyTorch with oneDNN)."""
    mkldnn = torch.ops.mkldnn
    return bool(_X86 and torch.backends.mkldnn.is_available()
                and all(hasattr(op, name) for op, name in (
                    (mkldnn, "_convolution_pointwise"), (mkldnn, "_convolution_pointwise_"),
                    (mkldnn, "_reorder_convolution_weight"))))


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> Conv2d:
    return Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (ResNet18/34)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = _conv(cin, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand, and a shortcut (ResNet50)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = _conv(cin, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, out, 1)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet with torchvision's parameter names and an ``fc`` of ``n_outputs``.

    Weights are left as PyTorch's layer defaults: load a state dict before use.
    """

    def __init__(self, backbone: str, n_outputs: int):
        super().__init__()
        if backbone not in LAYOUT:
            raise ValueError(f"unknown backbone {backbone!r}")
        kind, blocks = LAYOUT[backbone]
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        self.conv1 = Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = []
            for j in range(n):
                layer.append(block(cin, planes, stride if j == 0 else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class _FusedConv:
    """One folded convolution as a oneDNN call, with its post-operations fused.

    The weight is reordered into oneDNN's blocked layout on first use for an input of
    that plane size (once per network for MIMIR's fixed 256 x 256 images); the layout
    fits every batch size.
    """

    def __init__(self, conv: nn.Conv2d):
        self.padding = list(conv.padding)
        self.stride = list(conv.stride)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.weight = conv.weight.detach().contiguous(memory_format=torch.channels_last)
        out = self.weight.shape[0]
        self.bias = (conv.bias.detach() if conv.bias is not None
                     else torch.zeros(out, dtype=self.weight.dtype))
        self._packed: dict[tuple, torch.Tensor] = {}

    def _weight(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape[1:])
        w = self._packed.get(key)
        if w is None:
            w = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight, self.padding, self.stride, self.dilation, self.groups,
                [4, *key])
            self._packed = {key: w}  # one plane size at a time: bounded memory
        return w

    def __call__(self, x: torch.Tensor, relu: bool) -> torch.Tensor:
        """``relu(conv(x) + bias)`` (or without the ReLU)."""
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._weight(x), self.bias, self.padding, self.stride, self.dilation,
            self.groups, "relu" if relu else "none", [], "")

    def add_relu_(self, shortcut: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``shortcut = relu(conv(x) + bias + shortcut)``, in place."""
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            shortcut, x, self._weight(x), self.bias, self.padding, self.stride,
            self.dilation, self.groups, "add", 1.0, "relu", [], "")


class FusedResNet(nn.Module):
    """A folded :class:`ResNet` run as fused oneDNN convolutions (x86-64 CPU, float32).

    Each convolution carries its folded BatchNorm as a bias, and the ReLU that follows it
    or the shortcut sum and ReLU that end a block, in one oneDNN call; the shortcut is
    summed into in place. Same function as the network (outputs agree with eager
    torchvision to about 1e-6 relative), for float32 CPU tensors in channels-last layout,
    under ``torch.inference_mode``.

    Parameters
    ----------
    net : ResNet
        In eval mode, BatchNorms folded (``fold_batchnorm``).

    Raises
    ------
    ValueError
        When a BatchNorm is left, or the oneDNN operators are not available here.
    """

    def __init__(self, net: ResNet):
        super().__init__()
        if not fused_available():
            raise ValueError("fused oneDNN convolutions need PyTorch with oneDNN on x86-64")
        if any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
            raise ValueError("fold the BatchNorms into the convolutions first")
        self.stem = _FusedConv(net.conv1)
        self.blocks = []
        for i in range(1, 5):
            for b in getattr(net, f"layer{i}"):
                convs = [_FusedConv(b.conv1), _FusedConv(b.conv2)]
                if isinstance(b, Bottleneck):
                    convs.append(_FusedConv(b.conv3))
                down = None if b.downsample is None else _FusedConv(b.downsample[0])
                self.blocks.append((convs, down))
        self.fc_weight = net.fc.weight.detach()
        self.fc_bias = net.fc.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(self.stem(x, True), 3, 2, 1)
        for convs, down in self.blocks:
            shortcut = x if down is None else down(x, False)
            out = x
            for conv in convs[:-1]:
                out = conv(out, True)
            x = convs[-1].add_relu_(shortcut, out)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return nn.functional.linear(x, self.fc_weight, self.fc_bias)
