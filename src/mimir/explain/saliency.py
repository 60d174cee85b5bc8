"""Gradient x input saliency of one target's predicted mean and variance.

For an image x (3 x 256 x 256, the uint8 values as float) and a network output f(x),
the attribution of pixel (c, i, j) is ``x[c, i, j] * df/dx[c, i, j]`` (gradient x input;
Shrikumar et al. 2016, Ancona et al. 2018): the first-order share of f that the pixel
carries relative to a black image. It is computed for two outputs of the target:

- the predicted mean in the module's reporting unit, ``(m sd + mu) / d``, so a
  pixel's attribution is in that unit (positive: the pixel raises the prediction);
- the predicted log-variance ``s`` (natural log, standardised units; the reported
  variance is ``exp(s) sd^2 c / d^2``, so attributions of ``s`` are relative changes of
  the variance whatever the unit and calibration).

For an ensemble module, f is the members' mixture (:mod:`mimir.inference.ensemble`):
the mean of the members' means, and the log of the mean of their variances plus the
variance of their means.

Cost: one forward pass and two backward passes per batch (each backward pass costs
about two forward passes), on float32 networks with batch normalisation in evaluation
mode. On the CPU the arithmetic is deterministic for a given machine and thread count
(``torch.use_deterministic_algorithms`` is switched on around the passes).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from mimir.inference.ensemble import member_nets
from mimir.modules.format import Module

#: Images per forward/backward pass.
BATCH = 8


@dataclass
class Attribution:
    """Saliency of a batch of subjects for one target.

    Attributes
    ----------
    mean, logvar : ndarray, float32, shape (N, 3, 256, 256)
        Gradient x input of the predicted mean (reporting unit) and of the predicted
        log-variance.
    prediction : ndarray, shape (N,)
        The predicted mean (reporting unit, the same number ``infer`` gives).
    """

    mean: np.ndarray
    logvar: np.ndarray
    prediction: np.ndarray


class Explainer:
    """A module's networks, differentiable, for the saliency of one target.

    Parameters
    ----------
    module : Module
    target : int
        Index of the target in the module's metadata order.
    """

    def __init__(self, module: Module, target: int):
        import torch  # lazy: torch loads only where it is used

        if not 0 <= target < module.n_targets:
            raise ValueError(f"target index {target} outside 0-{module.n_targets - 1}")
        self.module = module
        self.target = target
        self.nets = [net.float().eval() for net in member_nets(module, fold_bn=False)]
        for net in self.nets:
            for p in net.parameters():
                p.requires_grad_(False)
        t = module.targets[target]
        self.scale = t.sd / t.divisor
        self.offset = t.mean / t.divisor
        self._torch = torch

    def _outputs(self, x):
        """Mean (standardised) and log-variance of the target: the mixture's for an
        ensemble."""
        torch = self._torch
        j = self.target
        outs = [net(x) for net in self.nets]
        means = torch.stack([o[:, 2 * j] for o in outs])
        logvars = torch.stack([o[:, 2 * j + 1] for o in outs])
        if len(outs) == 1:
            return means[0], logvars[0]
        mean = means.mean(0)
        var = torch.exp(logvars).mean(0) + ((means - mean) ** 2).mean(0)
        return mean, torch.log(var)

    def attribute(self, images: np.ndarray) -> Attribution:
        """Gradient x input of the mean and log-variance for uint8 images (N, 3, H, W)."""
        torch = self._torch
        parts: list[tuple] = []
        with _deterministic():
            for i in range(0, len(images), BATCH):
                x = torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])).float()
                x.requires_grad_(True)
                mean, logvar = self._outputs(x)
                # subjects are independent in evaluation mode: the gradient of the sum
                # is each subject's own gradient
                g_mean, = torch.autograd.grad(mean.sum(), x, retain_graph=True)
                g_var, = torch.autograd.grad(logvar.sum(), x)
                xd = x.detach()
                parts.append(((xd * g_mean * self.scale).numpy().astype(np.float32),
                              (xd * g_var).numpy().astype(np.float32),
                              mean.detach().double().numpy() * self.scale + self.offset))
        if not parts:
            empty = np.zeros((0,) + images.shape[1:], dtype=np.float32)
            return Attribution(empty, empty.copy(), np.zeros(0))
        return Attribution(np.concatenate([p[0] for p in parts]),
                           np.concatenate([p[1] for p in parts]),
                           np.concatenate([p[2] for p in parts]))


@contextlib.contextmanager
def _deterministic():
    import torch  # lazy: torch loads only where it is used

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
