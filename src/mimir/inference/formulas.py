"""From network outputs to predictions (modules.md, "From network output to a prediction").

For N images the network gives N x 2T numbers, viewed as (N, T, 2): ``[..., 0]`` the
mean and ``[..., 1]`` the log variance, in standardised units. With standardisation
(mu, sd), calibration factor c and divisor d per target:

- mean = (out_mean * sd + mu) / d
- variance = exp(out_logvar) * sd**2 * c / d**2

The earlier implementation divided the variance by d instead of d**2, which is wrong
whenever d != 1 (variance scales with the square of the unit); MIMIR uses d**2.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def to_predictions(out: np.ndarray, mean: np.ndarray, sd: np.ndarray,
                   calibration: np.ndarray, divisor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances in reporting units from raw outputs.

    Parameters
    ----------
    out : ndarray, shape (N, 2T)
        Network outputs.
    mean, sd, calibration, divisor : ndarray, shape (T,)

    Returns
    -------
    mean, variance : ndarray, shape (N, T), float64
    """
    out = np.asarray(out, dtype=np.float64)
    T = len(mean)
    if out.ndim != 2 or out.shape[1] != 2 * T:
        raise ValueError(f"outputs of shape {out.shape}, expected (N, {2 * T})")
    o = out.reshape(len(out), T, 2)
    m = (o[..., 0] * sd + mean) / divisor
    v = np.exp(o[..., 1]) * sd ** 2 * calibration / divisor ** 2
    return m, v


def z_value(level: float) -> float:
    """z of a central interval at ``level`` (1.959964 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf((1 + level) / 2)


def interval(mean: np.ndarray, variance: np.ndarray, level: float = 0.95):
    """Lower and upper bounds of the central interval: mean -/+ z sqrt(variance)."""
    half = z_value(level) * np.sqrt(variance)
    return mean - half, mean + half
