"""Sections 7 and 8 in two sweeps over the fused volumes, a few slices at a time.

The procedure reads the fused volumes many times: the signal sum, its per-plane ranges
and histograms, the body mask, the water and fat projections, the mask counts. Done
volume by volume, each of these streams hundreds of MB through memory. Here they are
grouped into sweeps over z (the axis the fused volumes are stored along), so that each
block of slices is read once while it sits in cache:

- :func:`sum_sweep`: signal sum (with exact zeros replaced by 1), the range of every
  coronal plane of it, and the coronal and sagittal projections of water and fat;
- :func:`mask_sweep`: body mask and the counts the image and quality control need.

Every number equals the one the volume-at-a-time functions give, bit for bit: sums run
over the same axis in the same order (a block of z slices reduces exactly as the whole
volume does), and counts are integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: z slices per block: a few hundred kB per volume block.
BLOCK_SLICES = 2


def _storage_view(volume: np.ndarray) -> np.ndarray:
    """(X, Y, Z) as (Z, Y, X): one z slice after another, as fused volumes are stored."""
    return volume.transpose(2, 1, 0)


@dataclass
class SumSweep:
    """What :func:`sum_sweep` measures.

    Attributes
    ----------
    total : ndarray, float64, shape (X, Y, Z)
        ``water + fat`` with exact zeros replaced by 1.
    lo, hi : ndarray, float64, shape (Y,)
        Minimum and maximum of every coronal plane ``total[:, y, :]``.
    coronal, sagittal : dict
        ``"water"`` and ``"fat"``: the sums over y (shape (X, Z)) and over x (shape
        (Y', Z)) of the volume with its last ``crop`` y indices dropped.
    """

    total: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    coronal: dict
    sagittal: dict


def sum_sweep(water: np.ndarray, fat: np.ndarray, crop: int,
              block: int = BLOCK_SLICES) -> SumSweep:
    """Signal sum, its plane ranges and the water and fat projections in one sweep.

    Parameters
    ----------
    water, fat : ndarray, float64, shape (X, Y, Z)
        Fused volumes.
    crop : int
        Posterior y indices left out of the projections (the table).
    block : int
        z slices per block.

    Returns
    -------
    SumSweep
    """
    ws, fs = _storage_view(water), _storage_view(fat)
    Z, Y, X = ws.shape
    keep = max(Y - crop, 0)
    total_s = np.empty((Z, Y, X), dtype=np.float64)
    lo = np.full(Y, np.inf)
    hi = np.full(Y, -np.inf)
    cor = {k: np.empty((Z, X)) for k in ("water", "fat")}
    sag = {k: np.empty((Z, keep)) for k in ("water", "fat")}
    zero = np.empty((block, Y, X), dtype=bool)
    for z0 in range(0, Z, block):
        z1 = min(z0 + block, Z)
        t = total_s[z0:z1]
        np.add(ws[z0:z1], fs[z0:z1], out=t)
        zk = zero[:z1 - z0]
        np.equal(t, 0, out=zk)
        np.copyto(t, 1.0, where=zk)
        np.minimum(lo, np.min(np.min(t, axis=2), axis=0), out=lo)
        np.maximum(hi, np.max(np.max(t, axis=2), axis=0), out=hi)
        for name, src in (("water", ws), ("fat", fs)):
            part = src[z0:z1, :keep, :]
            np.sum(part, axis=1, out=cor[name][z0:z1])
            np.sum(part, axis=2, out=sag[name][z0:z1])
    if Z == 0:
        lo[:] = hi[:] = np.nan
    return SumSweep(total=total_s.transpose(2, 1, 0), lo=lo, hi=hi,
                    coronal={k: v.T for k, v in cor.items()},
                    sagittal={k: v.T for k, v in sag.items()})


@dataclass
class MaskSweep:
    """What :func:`mask_sweep` measures.

    Attributes
    ----------
    mask : ndarray of bool, shape (X, Y, Z)
        ``total >= t``.
    per_y, per_x : ndarray of int64
        Mask voxels per y index and per x index of the table-cropped mask.
    area : ndarray of int64, shape (Z,)
        Mask voxels per z slice (whole mask).
    lateral, anterior : ndarray of bool, shape (Z,)
        Per z slice: the mask touches the first or last x index; the first y index.
    """

    mask: np.ndarray
    per_y: np.ndarray
    per_x: np.ndarray
    area: np.ndarray
    lateral: np.ndarray
    anterior: np.ndarray


def mask_sweep(total: np.ndarray, t: float, crop: int, block: int = 4 * BLOCK_SLICES) -> MaskSweep:
    """Body mask ``total >= t`` and its counts in one sweep.

    Parameters
    ----------
    total : ndarray, shape (X, Y, Z)
        Signal sum.
    t : float
        Threshold.
    crop : int
        Posterior y indices left out of ``per_y`` and ``per_x`` (the table).
    block : int
        z slices per block.

    Returns
    -------
    MaskSweep
    """
    ts = _storage_view(total)
    Z, Y, X = ts.shape
    keep = max(Y - crop, 0)
    mask_s = np.empty((Z, Y, X), dtype=bool)
    rows = np.empty((Z, Y), dtype=np.int64)
    per_x = np.zeros(X, dtype=np.int64)
    for z0 in range(0, Z, block):
        z1 = min(z0 + block, Z)
        m = mask_s[z0:z1]
        np.greater_equal(ts[z0:z1], t, out=m)
        rows[z0:z1] = np.count_nonzero(m, axis=2)
        per_x += np.count_nonzero(m[:, :keep, :], axis=(0, 1))
    mask = mask_s.transpose(2, 1, 0)
    return MaskSweep(mask=mask, per_y=rows[:, :keep].sum(axis=0), per_x=per_x,
                     area=rows.sum(axis=1),
                     lateral=mask_s[:, :, 0].any(axis=1) | mask_s[:, :, X - 1].any(axis=1)
                     if X else np.zeros(Z, dtype=bool),
                     anterior=mask_s[:, 0, :].any(axis=1) if Y else np.zeros(Z, dtype=bool))
