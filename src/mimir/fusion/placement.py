"""Placing stations on the output grid (preprocessing.md section 4).

Placement (:func:`place_stations`) is pure: positions, shapes and spacings in, new
arrays out. The output voxel size is :data:`OUTPUT_SPACING`. Resampling each station
onto that grid is :mod:`mimir.fusion.resample`.
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
