"""Placing stations on the output grid and resampling them (preprocessing.md section 4).

All functions are pure: they take positions, shapes and spacings as arrays and return
new arrays. The output voxel size is :data:`OUTPUT_SPACING`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Output voxel size in mm: (row, column, slice) = (2.23214293, 2.23214293, 3.0).
OUTPUT_SPACING = np.array([2.23214293, 2.23214293, 3.0], dtype=np.float64)


@dataclass(frozen=True)
class Placement:
    """Where each station lands on the output grid.

    Attributes
    ----------
    R, R_end : ndarray, shape (S, 3), float64
        Exact start and end of each station in output voxels (row, column, slice down).
    W, W_end, W_size : ndarray, shape (S, 3), int64
        Rounded start, end and size.
    resample : ndarray, shape (S,), bool
        Whether each station must be resampled to ``W_size``.
    """

    R: np.ndarray
    R_end: np.ndarray
    W: np.ndarray
    W_end: np.ndarray
    W_size: np.ndarray
    resample: np.ndarray


def place_stations(positions: np.ndarray, dims: np.ndarray, spacings: np.ndarray,
                   out_spacing: np.ndarray = OUTPUT_SPACING) -> Placement:
    """Compute the placement of stations on the output grid (section 4, steps 1-4).

    Parameters
    ----------
    positions : ndarray, shape (S, 3)
        Station positions (x, y, z) in mm as float32, ordered neck first.
    dims : ndarray, shape (S, 3)
        Station shapes (rows, cols, n).
    spacings : ndarray, shape (S, 3)
        Station spacings (row, column, slice) in mm.
    out_spacing : ndarray, shape (3,)
        Output voxel size.

    Returns
    -------
    Placement
    """
    P = np.asarray(positions)
    dims = np.asarray(dims, dtype=np.int64)
    sp = np.asarray(spacings)
    s = np.asarray(out_spacing, dtype=np.float64)
    R = (P - P[0]) / s
    R[:, 0] -= np.min(R[:, 0])
    R[:, 1] -= np.min(R[:, 1])
    R[:, 2] *= -1
    R = R[:, [1, 0, 2]]
    R_end = R + dims * sp / s
    W = np.round(R).astype(np.int64)
    W_end = np.round(R_end).astype(np.int64)
    W_size = W_end - W
    frac = np.maximum(np.max(np.abs(R - np.round(R)), axis=1),
                      np.max(np.abs(R_end - np.round(R_end)), axis=1))
    resample = (frac > 0.01) | (np.sum(W_size - dims, axis=1) != 0)
    return Placement(R=R, R_end=R_end, W=W, W_end=W_end, W_size=W_size, resample=resample)


def _resample_axis(A: np.ndarray, axis: int, size: int, scale: float, offset: float) -> np.ndarray:
    """Linear resampling along one axis with clamp-to-edge (section 4, step 5).

    For output index i the source coordinate is ``a = (i - offset) / scale``;
    ``i0 = trunc(a)``, ``i1 = i0 + 1``, a, i0 and i1 clamped into [0, n-1],
    ``d = a - i0`` and the value ``d * A[i1] + (1 - d) * A[i0]``.
    """
    n = A.shape[axis]
    i = np.arange(size, dtype=np.float64)
    a = (i - offset) / scale
    i0 = np.trunc(a).astype(np.int64)
    i1 = i0 + 1
    a = np.clip(a, 0, n - 1)
    i0 = np.clip(i0, 0, n - 1)
    i1 = np.clip(i1, 0, n - 1)
    d = a - i0
    if size == n and np.all(d == 0) and np.array_equal(i0, np.arange(n)):
        # identity pass: d * A[i1] + (1 - d) * A[i0] == A[i0] exactly
        return A.astype(np.float64, copy=False)
    shape = [1] * A.ndim
    shape[axis] = size
    d = d.reshape(shape)
    out = np.multiply(_gather(A, i1, axis), d)  # float64 (d is float64)
    out += _gather(A, i0, axis) * (1 - d)
    return out


def _gather(A: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """``np.take(A, idx, axis)``, as a view when ``idx`` is a run of consecutive indices
    (the usual case in-plane, where stations sit almost on the output grid), with a
    repeated last index (clamp-to-edge) appended by a small copy."""
    n = len(idx)
    k = n
    while k > 1 and idx[k - 1] == idx[k - 2] and idx[k - 1] == A.shape[axis] - 1:
        k -= 1
    run = idx[:k]
    if k and np.all(np.diff(run) == 1):
        sl = [slice(None)] * A.ndim
        sl[axis] = slice(int(run[0]), int(run[-1]) + 1)
        view = A[tuple(sl)]
        if k == n:
            return view
        tail = np.take(A, idx[k:], axis=axis)
        return np.concatenate([view, tail], axis=axis)
    return np.take(A, idx, axis=axis)


def resample_station(A: np.ndarray, R: np.ndarray, R_end: np.ndarray, W: np.ndarray,
                     W_size: np.ndarray) -> np.ndarray:
    """Resample one station to ``W_size`` (trilinear, clamp-to-edge, in float64).

    Parameters
    ----------
    A : ndarray, shape (n, rows, cols)
        Station voxels, slice-major (slice 0 is the top slice).
    R, R_end : ndarray, shape (3,)
        Exact start and end of the station in output voxels, (row, column, slice).
    W, W_size : ndarray, shape (3,)
        Rounded start and size, (row, column, slice).

    Returns
    -------
    ndarray of shape (W_size[2], W_size[0], W_size[1]), float64
    """
    # float32 input is widened inside the first pass (exactly: float32 -> float64 is exact)
    dims = np.array([A.shape[1], A.shape[2], A.shape[0]], dtype=np.float64)
    scale = (R_end - R) / dims
    offset = R - W
    # (row, column, slice) -> array axes (1, 2, 0); in-plane passes first, while the
    # station still has its own (usually fewer) slices
    for k, axis in ((0, 1), (1, 2), (2, 0)):
        A = _resample_axis(A, axis, int(W_size[k]), float(scale[k]), float(offset[k]))
    return A
