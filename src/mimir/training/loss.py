"""The mean-variance regression loss with missing labels."""

from __future__ import annotations


def gaussian_nll(output, labels):
    """Mean over all (subject, target) entries of ``exp(-logvar) (y - mean)^2 + logvar``.

    Parameters
    ----------
    output : Tensor, shape (N, 2T)
        Network outputs; viewed as (N, T, 2) = (mean, log variance), standardised units.
    labels : Tensor, shape (N, T)
        Standardised labels, NaN where missing. Missing entries contribute 0 but count
        in the mean (the mean is over all N x T entries of the batch).

    Returns
    -------
    Tensor (scalar)
    """
    import torch  # lazy: torch loads only where it is used

    N, T = labels.shape
    o = output.view(N, T, 2)
    mean, logvar = o[..., 0], o[..., 1]
    known = ~torch.isnan(labels)
    y = torch.where(known, labels, torch.zeros_like(labels))
    per = torch.exp(-logvar) * (y - mean) ** 2 + logvar
    per = torch.where(known, per, torch.zeros_like(per))
    return per.sum() / (N * T)
