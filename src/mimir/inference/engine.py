"""A module loaded on a device, predicting batches of 2D images.

Defaults are chosen for speed without changing the numbers beyond float rounding
(about 1e-6 relative): ``torch.inference_mode``, BatchNorm folded into the preceding
convolutions, channels-last memory format (oneDNN's fast convolution path on CPUs,
tensor-core friendly on GPUs), images converted to float32 on the device. On an x86-64
CPU at ``precision='fp32'`` a ResNet runs as fused oneDNN convolutions
(:class:`mimir.modules.resnet.FusedResNet`: bias, ReLU and the shortcut sum inside each
convolution, weights reordered once). ``precision='fp32'`` is IEEE float32 on every
device: TF32 is switched off around the forward passes (:mod:`mimir.inference.precision`).
Options that change numbers (``precision='tf32'``, ``'bf16'`` or ``'fp16'``,
``compile=True``) are opt-in and recorded in ``run.json``.

Batch size: :meth:`LoadedModule.raw` runs one forward pass over the images it is given,
on every device, unless :attr:`EngineOptions.max_batch` caps it; ``mimir infer`` hands
it one chunk of ``--batch-size`` subjects at a time, so ``--batch-size`` is the number of
images per forward pass. (Before the fused path, CPU passes were cut into 4 images
whatever the batch size; with it, a ResNet50's CPU throughput is about the same from 2
to 32 images per pass: docs/benchmarks.md.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mimir.errors import UsageError
from mimir.inference.ensemble import combine_outputs, member_stack
from mimir.inference.formulas import to_predictions
from mimir.inference.precision import PRECISIONS, float32_mode
from mimir.modules.format import Module
from mimir.modules.network import fold_batchnorm, network_from_state
from mimir.modules.snapshot import load_state_dict


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``."""
    import torch  # lazy: torch loads only where it is used

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA GPU is available")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r} (auto, cpu or cuda)")
    return device


def set_threads(threads: int | None, workers: int = 0) -> int:
    """Torch intra-op threads: given, or the CPUs not used by preprocessing workers."""
    import torch  # lazy: torch loads only where it is used

    if threads is None:
        threads = max(1, (os.cpu_count() or 1) - max(0, workers - 1))
    torch.set_num_threads(threads)
    return threads


@dataclass
class EngineOptions:
    """How modules run: device, precision and graph compilation."""

    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = True
    fold_bn: bool = True
    compile: bool = False
    #: at most this many images per forward pass (0: every image :meth:`LoadedModule.raw`
    #: is given, in one pass)
    max_batch: int = 0
    #: run ResNets as fused oneDNN convolutions where that is possible (x86-64 CPU, fp32,
    #: BatchNorm folded, channels-last, no ``compile``)
    fused: bool = True


def run_network(net, images: np.ndarray, device: str, batch_size: int = 32,
                channels_last: bool = True, precision: str = "fp32") -> np.ndarray:
    """Outputs (N, 2T) float64 of an eval-mode network for uint8 images (N, 3, 256, 256),
    ``batch_size`` images per forward pass, at ``precision`` (see
    :func:`mimir.inference.precision.float32_mode`)."""
    import torch  # lazy: torch loads only where it is used

    outs = []
    with torch.inference_mode(), float32_mode(precision):
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size]))
            x = x.to(device).float()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if precision == "fp16":
                y = net(x.half())
            elif precision == "bf16":
                with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
                    y = net(x)
            else:
                y = net(x)
            outs.append(y.float().cpu().numpy().astype(np.float64))
    return np.concatenate(outs) if outs else np.zeros((0, 0))


class LoadedModule:
    """A module's network on a device.

    Parameters
    ----------
    module : Module
        A validated module folder.
    options : EngineOptions
    """

    def __init__(self, module: Module, options: EngineOptions):
        import torch  # lazy: torch loads only where it is used

        if options.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        self.module = module
        self.options = options
        if module.members:  # a deep ensemble: every member in one network
            net = member_stack(module, options.fold_bn)
        else:
            state = load_state_dict(module.snapshot_path)
            net = network_from_state(module.backbone, module.n_targets, state,
                                     str(module.snapshot_path))
            if options.fold_bn:
                net = fold_batchnorm(net, module.backbone)
        net = net.to(options.device)
        if options.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if options.precision == "fp16":
            net = net.half()
        from mimir.modules.resnet import FusedResNet, ResNet, fused_available  # lazy: imports torch

        self.fused = bool(options.fused and options.device == "cpu"
                          and options.precision == "fp32" and options.fold_bn
                          and options.channels_last and not options.compile
                          and isinstance(net, ResNet) and fused_available())
        self.net: Callable = (FusedResNet(net) if self.fused else
                              torch.compile(net) if options.compile else net)
        self.params = module.arrays()

    def raw(self, images: np.ndarray) -> np.ndarray:
        """Network outputs (N, 2T) as float64 for uint8 images (N, 3, 256, 256)."""
        opt = self.options
        if len(images) == 0:
            return np.zeros((0, 2 * self.module.n_targets))
        step = opt.max_batch if opt.max_batch > 0 else len(images)
        out = run_network(self.net, images, opt.device, step, opt.channels_last,
                          opt.precision)
        return combine_outputs(out, len(self.module.members)) if self.module.members else out

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means and variances (N, T) in reporting units."""
        p = self.params
        return to_predictions(self.raw(images), p["mean"], p["sd"], p["calibration"],
                              p["divisor"])
