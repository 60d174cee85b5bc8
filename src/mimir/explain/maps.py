"""From attributions to maps: per-subject relevance, the cohort map, region shares.

A subject's map is the square of its attribution summed over the three channels,
``(sum_c a[c, i, j])^2`` (the channels share one pixel grid: water, fat and fat fraction
of the same place), scaled to sum 1 over the image, so that every subject weighs the
same in the cohort map. Squaring, as in sensitivity analysis's relevance
``(df/dx_i)^2`` (Montavon et al. 2018), weighs the strong, concentrated evidence a
prediction rests on above the weak attributions spread over the whole body: on the
demo module's liver-fat predictions the absolute values ``|a|`` put about a quarter of
their sum inside the liver and the rest thinly over the trunk, the squares about two
thirds (``docs/explain.md``). The cohort map is the mean of the subjects' maps, in the fixed
2D image space (the same pixel is the same place in the 2D layout, not in the body:
bodies differ in size and position, so the cohort map is a blurred summary, as in the
published cohort saliency figures). It sums to 1: the share of the map inside a
region is its "mass" there (:func:`region_share`).
"""

from __future__ import annotations

import numpy as np


def relevance(attribution: np.ndarray) -> np.ndarray:
    """``(sum over channels)^2`` of attributions (N, C, H, W) -> (N, H, W), float64."""
    a = np.asarray(attribution, dtype=np.float64)
    return a.sum(axis=1) ** 2


def normalised(maps: np.ndarray) -> np.ndarray:
    """Each map (N, H, W) scaled to sum 1 (a map of zeros stays zero)."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = maps / total[:, None, None]
    out[total == 0] = 0.0
    return out


def cohort_map(attribution: np.ndarray) -> np.ndarray:
    """The cohort map (H, W) of attributions (N, C, H, W): the mean of the subjects'
    normalised relevance maps; it sums to 1 (0 for no subject)."""
    if len(attribution) == 0:
        return np.zeros(np.asarray(attribution).shape[2:])
    return normalised(relevance(attribution)).mean(axis=0)


def region_share(map2d: np.ndarray, mask: np.ndarray) -> float:
    """The share of a map's mass inside a boolean mask of the same shape."""
    m = np.asarray(map2d, dtype=np.float64)
    total = m.sum()
    if m.shape != np.shape(mask):
        raise ValueError(f"map {m.shape} and mask {np.shape(mask)} differ in shape")
    return float(m[np.asarray(mask, dtype=bool)].sum() / total) if total > 0 else float("nan")
