"""Quality-control measurements taken while preprocessing (pure functions).

They are cheap by-products of fusion and the body mask, stored in each subject's cache
sidecar (``facts``) so QC costs nothing later; :mod:`mimir.qc.flags` turns them into
flags.
"""

from __future__ import annotations

import numpy as np


def overlap_swap_scores(water: list[np.ndarray], fat: list[np.ndarray],
                        overlaps: list[int], min_signal: float = 50.0) -> list[dict]:
    """Agreement of the fat fraction of neighbouring stations where they overlap.

    Overlapping slices of stations i and i+1 image the same tissue, so their voxel-wise
    fat fractions correlate strongly; if one of the two stations has water and fat
    swapped, its fat fraction is ``1 - ff`` and the correlation turns negative. Scores
    are computed for the whole overlap and for its left and right halves (a swap of one
    leg in stations 5-6).

    Parameters
    ----------
    water, fat : list of ndarray, (n_i, rows, cols)
        Trimmed stations (top first), before fading.
    overlaps : list of int
        Overlap (slices) kept between station i and i+1.

    Returns
    -------
    list of dict
        Per boundary: ``corr``, ``corr_left``, ``corr_right`` (nan where the overlap is
        empty or has too little signal).
    """
    out = []
    for i, o in enumerate(overlaps):
        if o > 0:
            out.append(overlap_swap_score(water[i][-o:], fat[i][-o:], water[i + 1][:o],
                                          fat[i + 1][:o], min_signal))
        else:
            out.append(overlap_swap_score(None, None, None, None))
    return out


def overlap_swap_score(water_a: np.ndarray | None, fat_a: np.ndarray | None,
                       water_b: np.ndarray | None, fat_b: np.ndarray | None,
                       min_signal: float = 50.0) -> dict:
    """:func:`overlap_swap_scores` of one overlap, from its slices in both stations.

    Parameters
    ----------
    water_a, fat_a : ndarray, (o, rows, cols)
        The overlap's slices in the upper station (its last o slices), before fading.
    water_b, fat_b : ndarray, (o, rows', cols')
        The same slices in the lower station (its first o slices). None for all four:
        no overlap.

    Returns
    -------
    dict
        ``corr``, ``corr_left``, ``corr_right``.
    """
    rec = {"corr": float("nan"), "corr_left": float("nan"), "corr_right": float("nan")}
    if water_a is None or len(water_a) == 0:
        return rec
    assert fat_a is not None and water_b is not None and fat_b is not None
    # every second row and column: plenty of voxels, a quarter of the work
    wa, fa = water_a[:, ::2, ::2], fat_a[:, ::2, ::2]
    wb, fb = water_b[:, ::2, ::2], fat_b[:, ::2, ::2]
    r = min(wa.shape[1], wb.shape[1])
    c = min(wa.shape[2], wb.shape[2])
    wa, fa, wb, fb = (np.asarray(a[:, :r, :c], dtype=np.float64) for a in (wa, fa, wb, fb))
    sa, sb = wa + fa, wb + fb
    body = (sa > min_signal) & (sb > min_signal)
    ffa = np.divide(fa, sa, out=np.zeros_like(fa), where=sa > 0)
    ffb = np.divide(fb, sb, out=np.zeros_like(fb), where=sb > 0)
    half = c // 2
    for key, sel in (("corr", slice(None)), ("corr_left", slice(0, half)),
                     ("corr_right", slice(half, None))):
        m = body[:, :, sel]
        if np.count_nonzero(m) >= 200:
            x, y = ffa[:, :, sel][m], ffb[:, :, sel][m]
            if np.std(x) > 0 and np.std(y) > 0:
                rec[key] = float(np.corrcoef(x, y)[0, 1])
    return rec


def coverage_measures(mask: np.ndarray) -> dict:
    """Where the body meets the edges of the field of view.

    Parameters
    ----------
    mask : ndarray of bool, (X, Y, Z), z from the feet up
        The body mask.

    Returns
    -------
    dict
        ``bottom_ratio``: the body's cross-section in the lowest 5 slices relative to its
        widest cross-section in the lower third of the volume. The legs are narrowest
        at the knees, so the ratio is small when the field of view reaches them and large
        when it ends on the thighs. ``lateral_edge``: share of slices where the body
        touches the left or right edge; ``anterior_edge``: share of slices where it
        touches the anterior edge.
    """
    return coverage_from_counts(mask.sum(axis=(0, 1)),
                                np.asarray(mask[0].any(axis=0) | mask[-1].any(axis=0)),
                                np.asarray(mask[:, 0, :].any(axis=0)))


def coverage_from_counts(area: np.ndarray, lateral: np.ndarray, anterior: np.ndarray) -> dict:
    """:func:`coverage_measures` from per-slice facts of the mask.

    Parameters
    ----------
    area : ndarray of int, shape (Z,)
        Mask voxels per z slice.
    lateral, anterior : ndarray of bool, shape (Z,)
        Per z slice: the mask touches the first or last x index; the first y index.
    """
    area = np.asarray(area).astype(np.float64)
    n = len(area)
    lower = area[:max(n // 3, 1)]
    ratio = float(area[:5].mean() / lower.max()) if n >= 5 and lower.max() > 0 else float("nan")
    occupied = area > 0
    lat = lateral & occupied
    ant = anterior & occupied
    k = max(int(occupied.sum()), 1)
    return {"bottom_ratio": ratio, "lateral_edge": float(lat.sum() / k),
            "anterior_edge": float(ant.sum() / k)}
