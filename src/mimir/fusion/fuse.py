"""Overlap trimming and fusion of stations into one volume (preprocessing.md 5-6).

Stations are slice-major arrays of shape (n, rows, cols), slice 0 the top (head-most)
slice, already placed on the output grid (see :mod:`mimir.fusion.placement`). The
reference procedure indexes stations as (rows, cols, n); the slice-major layout gives
the same numbers (each slice's float32 mean is computed over the same values in the
same order) while keeping every per-slice operation contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimir.fusion.stations import Voxels

#: At most this many overlapping slices are kept between neighbouring stations.
MAX_OVERLAP = 8
#: Slices dropped at each end of the fused z axis (folding artefacts).
END_SLICES_DROPPED = 4


@dataclass(frozen=True)
class Trim:
    """Result of overlap trimming.

    Attributes
    ----------
    W, W_end, W_size : ndarray, shape (S, 3), int64
        Placement after trimming.
    cut_top, cut_bottom : ndarray, shape (S,), int64
        Slices removed from the top (first) and bottom (last) of each station.
    overlaps : list of int
        Recorded overlap between station i and i+1 (S-1 values).
    raw_overlaps : list of int
        Overlap before trimming (negative: a gap between stations).
    """

    W: np.ndarray
    W_end: np.ndarray
    W_size: np.ndarray
    cut_top: np.ndarray
    cut_bottom: np.ndarray
    overlaps: list
    raw_overlaps: list


def trim_overlaps(W: np.ndarray, W_end: np.ndarray, W_size: np.ndarray,
                  max_overlap: int = MAX_OVERLAP) -> Trim:
    """Trim overlaps between neighbouring stations to at most ``max_overlap`` slices.

    Parameters
    ----------
    W, W_end, W_size : ndarray, shape (S, 3)
        Placement of the stations (not modified).
    max_overlap : int
        Overlap kept (8 in the reference procedure).

    Returns
    -------
    Trim
    """
    W = np.array(W, dtype=np.int64)
    W_end = np.array(W_end, dtype=np.int64)
    W_size = np.array(W_size, dtype=np.int64)
    S = len(W)
    cut_top = np.zeros(S, dtype=np.int64)
    cut_bottom = np.zeros(S, dtype=np.int64)
    overlaps: list[int] = []
    raw: list[int] = []
    for i in range(S - 1):
        overlap = int(W_end[i, 2] - W[i + 1, 2])
        raw.append(overlap)
        if overlap > max_overlap:
            c = (overlap - max_overlap) / 2
            cut_a, cut_b = int(np.floor(c)), int(np.ceil(c))
            W_end[i, 2] -= cut_a
            W_size[i, 2] -= cut_a
            W[i + 1, 2] += cut_b
            W_size[i + 1, 2] -= cut_b
            cut_bottom[i] += cut_a
            cut_top[i + 1] += cut_b
            overlap = max_overlap
        overlaps.append(overlap)
    return Trim(W=W, W_end=W_end, W_size=W_size, cut_top=cut_top, cut_bottom=cut_bottom,
                overlaps=overlaps, raw_overlaps=raw)


def apply_trim(station: Voxels, cut_top: int, cut_bottom: int) -> np.ndarray:
    """Remove ``cut_top`` first and ``cut_bottom`` last slices of a station (a view)."""
    n = station.shape[0]
    return station[cut_top:n - cut_bottom]


def fade_and_correct(stations: list[np.ndarray], overlaps: list[int]) -> list[np.ndarray]:
    """Fade overlapping slices and correct intensities (section 6, steps 1-3).

    Parameters
    ----------
    stations : list of ndarray, shape (n_i, rows, cols)
        Trimmed stations, top first. They are cast to float32 (copies).
    overlaps : list of int
        Recorded overlaps from :func:`trim_overlaps`.

    Returns
    -------
    list of float32 ndarray
    """
    return fade_and_correct_inplace([np.array(a, dtype=np.float32) for a in stations],
                                    overlaps)


def fade_and_correct_inplace(st: list[np.ndarray], overlaps: list[int]) -> list[np.ndarray]:
    """:func:`fade_and_correct` on float32 stations that it may modify (no copies).

    Parameters
    ----------
    st : list of float32 ndarray, shape (n_i, rows, cols)
        Trimmed stations, top first; changed in place.
    overlaps : list of int
        Recorded overlaps from :func:`trim_overlaps`.

    Returns
    -------
    list of float32 ndarray
        ``st``.
    """
    S = len(st)
    # fade
    for i in range(S):
        n = st[i].shape[0]
        if i < S - 1:
            o = overlaps[i]
            for j in range(max(o, 0)):
                st[i][n - 1 - j] *= (j + 1) / (o + 1)
        if i > 0:
            o = overlaps[i - 1]
            for j in range(max(o, 0)):
                st[i][j] *= (j + 1) / (o + 1)
    # intensity correction
    for i in range(S - 1):
        o = overlaps[i]
        if o <= 0:
            continue
        a, b = st[i + 1], st[i]
        n = b.shape[0]
        mean_a = np.mean(a[o])
        mean_b = np.mean(b[n - 1 - o])
        for j in range(o):
            target = mean_b + (mean_a - mean_b) * (j + 1) / (o + 1)
            current = np.mean(a[j]) + np.mean(b[n - o + j])
            factor = target / current
            a[j] *= factor
            b[n - o + j] *= factor
    return st


def sum_stations(stations: list[np.ndarray], W: np.ndarray, W_end: np.ndarray) -> np.ndarray:
    """Sum stations into one float64 volume (step 6.4), slice-major.

    Returns an array of shape (max W_end[:, 2], max W_end[:, 0], max W_end[:, 1]).
    """
    rows, cols, n = (int(v) for v in np.max(W_end, axis=0))
    vol = np.zeros((n, rows, cols), dtype=np.float64)
    for a, w, we in zip(stations, W, W_end, strict=True):
        vol[w[2]:we[2], w[0]:we[0], w[1]:we[1]] += a
    return vol


def orient(vol: np.ndarray, drop: int = END_SLICES_DROPPED) -> np.ndarray:
    """Flip to foot-first, order axes (x, y, z) and drop end slices (steps 6.5-6.6).

    Parameters
    ----------
    vol : ndarray, shape (n, rows, cols)
        Slice-major fused volume, top slice first.

    Returns
    -------
    ndarray, shape (cols, rows, n - 2 * drop)
        A view: x = left-right, y = anterior-posterior, z = foot to head.
    """
    vol = vol[::-1].transpose(2, 1, 0)
    return vol[:, :, drop:vol.shape[2] - drop]


def station_extents(trim: Trim, drop: int = END_SLICES_DROPPED) -> list[list[int]]:
    """Slices each trimmed station covers in the oriented volume, counted from its head end.

    Parameters
    ----------
    trim : Trim
    drop : int
        End slices dropped by :func:`orient`.

    Returns
    -------
    list of [int, int]
        Per station (neck first), its first slice and one past its last, as indices from
        the head end of the fused z axis (row order of the 2D image). Neighbouring
        stations overlap where the next one starts before the previous one ends; the
        first and last values may lie outside ``[0, Z]`` (end slices dropped).
    """
    return [[int(a) - drop, int(b) - drop] for a, b in zip(trim.W[:, 2], trim.W_end[:, 2],
                                                          strict=True)]


def fuse_signal(stations: list[np.ndarray], trim: Trim) -> np.ndarray:
    """Fuse one signal's trimmed stations into an oriented volume (x, y, z), float64."""
    faded = fade_and_correct(stations, trim.overlaps)
    return orient(sum_stations(faded, trim.W, trim.W_end))


def fuse_prepared(stations: list[np.ndarray], trim: Trim) -> np.ndarray:
    """:func:`fuse_signal` on trimmed float32 stations that it may change in place."""
    return orient(sum_stations(fade_and_correct_inplace(stations, trim.overlaps), trim.W,
                               trim.W_end))
