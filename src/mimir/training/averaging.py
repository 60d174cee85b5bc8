"""Weight averaging over the low-rate phase, and batch-norm statistics recomputed for it.

An opt-in addition to the published training method (``--average-from``). With short
schedules and a high learning rate the weights at the last iteration still wander: two
snapshots of the same run, 400 iterations apart in the low-rate phase, can both be
several predicted standard deviations off on a whole target, each in a different
direction (docs/training.md shows the measurement). Cross-validation cannot see such an
offset of the network trained on all data, so its intervals miss. Averaging the weights
over the iterations of the low-rate phase (stochastic weight averaging, Izmailov et al.
2018) removes most of that wander.

The batch-norm running statistics of an averaged network belong to none of the networks
that were averaged, so they are recomputed: one pass in training mode, without
gradients, over a fixed sample of training images with the training augmentation,
accumulating an equal-weight mean and variance (``momentum=None``).
"""

from __future__ import annotations

import copy

import numpy as np

from mimir.training.data import random_shifts, translate

#: Training images used to recompute the batch-norm statistics of an averaged network.
BN_IMAGES = 1024


class WeightAverage:
    """Equal-weight running mean of a network's floating-point parameters and buffers.

    Integer buffers (``num_batches_tracked``) are taken from the latest network.
    """

    def __init__(self, state: dict | None = None, count: int = 0):
        self.state = state
        self.count = count

    def update(self, net) -> None:
        """Add the current weights of ``net`` to the mean."""
        import torch  # lazy: torch loads only where it is used

        with torch.no_grad():
            cur = net.state_dict()
            if self.state is None or self.count == 0:
                self.state = {k: v.detach().clone() for k, v in cur.items()}
                self.count = 1
                return
            self.count += 1
            for k, v in cur.items():
                if v.is_floating_point():
                    self.state[k] += (v.detach() - self.state[k]) / self.count
                else:
                    self.state[k].copy_(v)

    def averaged_network(self, net):
        """A copy of ``net`` holding the averaged weights."""
        avg = copy.deepcopy(net)
        avg.load_state_dict(self.state)
        return avg


def recompute_batchnorm(net, images: np.ndarray, device, rng: np.random.Generator,
                        max_shift: int | None, batch_size: int = 32) -> None:
    """Recompute every batch-norm layer's running mean and variance of ``net`` in place.

    Parameters
    ----------
    net : torch.nn.Module
        The network (left in eval mode).
    images : ndarray
        (N, C, H, W) training images.
    device : torch.device
    rng : numpy Generator
        Draws the augmentation shifts.
    max_shift : int or None
        Training augmentation (random translation of up to ``max_shift`` pixels); None
        for none.
    batch_size : int
        Images per forward pass.
    """
    import torch  # lazy: torch loads only where it is used

    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                imgs = images[i:i + batch_size]
                if max_shift:
                    imgs = translate(imgs, random_shifts(rng, len(imgs), max_shift))
                x = torch.from_numpy(imgs).to(device).float()
                net(x.contiguous(memory_format=torch.channels_last))
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
        net.eval()


def bn_sample(n: int, rng: np.random.Generator, size: int = BN_IMAGES) -> np.ndarray:
    """Sorted indices of the training images used for the batch-norm pass."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))
