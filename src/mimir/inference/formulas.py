"""From network outputs to predictions (modules.md, "From network output to a prediction").

For N images the network gives N x 2T numbers, viewed as (N, T, 2): ``[..., 0]`` the
mean and ``[..., 1]`` the log variance, in standardised units. With standardisation
(mu, sd), calibration factor c and divisor d per target:

- mean = (out_mean * sd + mu) / d
- variance = exp(out_logvar) * sd**2 * c / d**2

The earlier implementation divided the variance by d instead of d**2, which is wrong
whenever d != 1 (variance scales with the square of the unit); MIMIR uses d**2.

A module can give numbers that are not finite (an overflowing output, ``exp`` of a
huge log variance, NaN weights). :func:`nonfinite_subjects` finds the subjects with any
such value, so that they fail as ``non-finite prediction`` instead of being written as
``inf`` or ``nan`` (see :mod:`mimir.errors`).
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
    with np.errstate(over="ignore", invalid="ignore"):  # see nonfinite_subjects
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


#: The largest z of any interval level ``--ci`` accepts (levels below 1 - 2**-53 give
#: z < 8.3): bounds finite at this z are finite at every level.
Z_MAX = 9.0


def nonfinite_subjects(mean: np.ndarray, variance: np.ndarray,
                       z: float = Z_MAX) -> dict[int, str]:
    """Subjects for which a prediction is not a finite number.

    Checks the mean, the variance (which must also be >= 0), the sd and the interval
    bounds mean -/+ z sd (with the default ``z``, at every level ``--ci`` accepts).

    Parameters
    ----------
    mean, variance : ndarray, shape (N, T)

    Returns
    -------
    dict
        Row index -> what is not finite, for people (e.g. ``target 2: variance inf``);
        empty when every value is finite.

    Examples
    --------
    >>> nonfinite_subjects(np.array([[1.0], [np.nan]]), np.array([[1.0], [1.0]]))
    {1: 'target 1: mean nan'}
    """
    m = np.asarray(mean, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    with np.errstate(all="ignore"):
        half = z * np.sqrt(v)
        ok = (np.isfinite(m) & np.isfinite(v) & (v >= 0) & np.isfinite(half)
              & np.isfinite(m - half) & np.isfinite(m + half))
    out = {}
    for i in np.flatnonzero(~ok.all(axis=1)):
        j = int(np.flatnonzero(~ok[i])[0])
        what = (f"mean {m[i, j]:g}" if not np.isfinite(m[i, j])
                else f"variance {v[i, j]:g}" if not (np.isfinite(v[i, j]) and v[i, j] >= 0)
                else f"interval bound (mean {m[i, j]:g}, variance {v[i, j]:g})")
        more = int((~ok[i]).sum()) - 1
        out[int(i)] = f"target {j + 1}: {what}" + (f" (and {more} more)" if more else "")
    return out
