"""Fat fraction and body mask (preprocessing.md section 7)."""

from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu


def signal_sum(water: np.ndarray, fat: np.ndarray) -> np.ndarray:
    """``water + fat`` in float64 with every exact 0 replaced by 1."""
    s = np.add(water, fat, dtype=np.float64)
    s[s == 0] = 1
    return s


def fat_fraction(fat: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Fat fraction in per mille: ``1000 * fat / total``."""
    return 1000 * fat / total


def otsu_thresholds(volume: np.ndarray) -> np.ndarray:
    """Otsu's threshold (scikit-image defaults) of each coronal plane ``volume[:, y, :]``.

    Measured: scikit-image's own histogram is as fast as a vectorised re-implementation
    (0.16 s for 174 planes of 224 x 370), so it is used directly.
    """
    return np.array([threshold_otsu(volume[:, y, :]) for y in range(volume.shape[1])],
                    dtype=np.float64)


def body_mask(total: np.ndarray) -> tuple[np.ndarray, float]:
    """Body mask ``total >= t``, t the mean per-y Otsu threshold of the coronal planes.

    Returns
    -------
    mask : ndarray of bool
    t : float
    """
    t = float(np.mean(otsu_thresholds(total)))
    return total >= t, t
