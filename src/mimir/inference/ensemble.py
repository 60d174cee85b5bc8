"""Deep ensembles at prediction time: members in one network, combined as a mixture.

An ensemble module (``module.json`` lists its ``members``, see
:mod:`mimir.modules.members`) holds K networks trained with one recipe and different
seeds. Each gives a mean m_k and a variance v_k per target; the ensemble's prediction
is their equal-weight Gaussian mixture, summarised by its first two moments:

- mean = (1/K) sum_k m_k
- variance = (1/K) sum_k v_k + (1/K) sum_k (m_k - mean)^2

(the mean of the members' variances plus the population variance, ddof = 0, of their
means: the members' disagreement).

Where the mixture is formed: in standardised units, on the networks' outputs, before
the standardisation, calibration factor and divisor (:func:`combine_outputs`), and the
result is written back as one mean and log-variance per target, so the published
formulas (:func:`mimir.inference.formulas.to_predictions`) apply to it unchanged. The
standardisation and the divisor are affine maps shared by every member (they are
trained on the same subjects), so they commute with the mixture; the calibration
factor does not: it scales the whole mixture variance, disagreement included, because
it was fitted on the mixtures of the members' held-out predictions
(``crossval --ensemble``). Scaling only the members' own variances would apply it to
another quantity than the one it was fitted on.

Members run in one batch pass: :class:`MemberStack` is one ``torch.nn.Module`` whose
forward gives every member's outputs for the same input batch, so images are read,
converted and moved to the device once per batch for all members, and only one
member's activations exist at a time (every member's weights stay on the device).
"""

from __future__ import annotations

import functools

import numpy as np

from mimir.modules.format import Module
from mimir.modules.network import fold_batchnorm, network_from_state
from mimir.modules.snapshot import load_state_dict


def mixture(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two moments of the equal-weight Gaussian mixture of K members.

    Parameters
    ----------
    means, variances : ndarray, shape (K, ...)
        Each member's means and variances (the same shape after the first axis).

    Returns
    -------
    mean, variance : ndarray, shape (...)
        ``mean(means)`` and ``mean(variances) + var(means, ddof=0)``.
    """
    means = np.asarray(means, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    if means.shape != variances.shape or means.ndim < 1 or len(means) == 0:
        raise ValueError(f"means {means.shape} and variances {variances.shape} must have "
                         "the same shape, members first")
    mean = means.mean(axis=0)
    return mean, variances.mean(axis=0) + ((means - mean) ** 2).mean(axis=0)


def combine_outputs(out: np.ndarray, members: int) -> np.ndarray:
    """K members' raw outputs side by side, (N, K * 2T), into one (N, 2T) output.

    Each member's block is (N, 2T) viewed as (N, T, 2): mean and log-variance in
    standardised units. The result holds the mixture's mean and the log of its variance
    (:func:`mixture`), so it reads like a single network's output.
    """
    out = np.asarray(out, dtype=np.float64)
    n, width = out.shape
    if members < 1 or width % (2 * members):
        raise ValueError(f"outputs of width {width} do not split into {members} members")
    t = width // (2 * members)
    o = out.reshape(n, members, t, 2).transpose(1, 0, 2, 3)
    mean, var = mixture(o[..., 0], np.exp(o[..., 1]))
    return np.stack([mean, np.log(var)], axis=-1).reshape(n, 2 * t)


def member_nets(module: Module, fold_bn: bool = True) -> list:
    """Every member's eval-mode network (weights loaded with the restricted unpickler,
    shapes checked against the module's targets)."""
    nets = []
    for path in module.member_paths():
        net = network_from_state(module.backbone, module.n_targets, load_state_dict(path),
                                 str(path))
        nets.append(fold_batchnorm(net, module.backbone) if fold_bn else net)
    return nets


def member_stack(module: Module, fold_bn: bool = True):
    """A :class:`MemberStack` of the module's members."""
    return MemberStack(member_nets(module, fold_bn))


@functools.cache
def _stack_class():
    import torch  # lazy: the module is imported without torch

    class _MemberStack(torch.nn.Module):
        """Members side by side: ``forward(x)`` is ``cat([member(x) ...], dim=1)``,
        shape (N, K * 2T)."""

        def __init__(self, nets: list):
            super().__init__()
            self.members = torch.nn.ModuleList(nets)

        def forward(self, x):
            return torch.cat([net(x) for net in self.members], dim=1)

    return _MemberStack


def MemberStack(nets: list):  # noqa: N802 (a class made on first use: torch is lazy)
    """One network running every member on the same batch (see the module docstring)."""
    return _stack_class()(nets)
