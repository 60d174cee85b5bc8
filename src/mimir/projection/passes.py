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

import mimir.native as native

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


class SumAccumulator:
    """Collects :class:`SumSweep` from blocks of z slices given in any order.

    Parameters
    ----------
    X, Y, Z : int
        Volume shape (X, Y, Z).
    crop : int
        Posterior y indices left out of the projections (the table).
    """

    def __init__(self, X: int, Y: int, Z: int, crop: int):
        self.keep = max(Y - crop, 0)
        self.total_s = np.empty((Z, Y, X), dtype=np.float64)
        # running minimum and maximum of every (y, x) over z; reduced over x at the end
        self._lo = np.full((Y, X), np.inf)
        self._hi = np.full((Y, X), -np.inf)
        self.cor = {k: np.empty((Z, X)) for k in ("water", "fat")}
        self.sag = {k: np.empty((Z, self.keep)) for k in ("water", "fat")}
        self._zero = np.empty((0, Y, X), dtype=bool)

    def add(self, z: slice, water: np.ndarray, fat: np.ndarray) -> None:
        """Add z slices ``z`` (a slice of the volume's z indices, step 1).

        Parameters
        ----------
        z : slice
        water, fat : ndarray, float64, shape (k, Y, X)
            Those slices of the volumes, one (Y, X) plane per z index.
        """
        t = self.total_s[z]
        compiled = self._sum_range(z, water, fat, t)
        if not compiled:
            self._sum_range_numpy(water, fat, t)
        for name, src in (("water", water), ("fat", fat)):
            part = src[:, :self.keep, :]
            if not compiled:
                np.sum(part, axis=1, out=self.cor[name][z])
            np.sum(part, axis=2, out=self.sag[name][z])

    def _sum_range(self, z: slice, water: np.ndarray, fat: np.ndarray,
                   t: np.ndarray) -> bool:
        """The signal sum, the running ranges and the coronal sums in one compiled loop,
        where built (False: not done)."""
        k = native.kernels()
        if k is None:
            return False
        try:
            k.sum_range(water, fat, t, self._lo, self._hi, self.cor["water"][z],
                        self.cor["fat"][z], self.keep)
        except ValueError:  # a layout the kernel does not take
            return False
        return True

    def _sum_range_numpy(self, water: np.ndarray, fat: np.ndarray, t: np.ndarray) -> None:
        np.add(water, fat, out=t)
        if len(self._zero) < len(t):
            self._zero = np.empty(t.shape, dtype=bool)
        zero = self._zero[:len(t)]
        np.equal(t, 0, out=zero)
        np.copyto(t, 1.0, where=zero)
        for plane in t:
            np.minimum(self._lo, plane, out=self._lo)
            np.maximum(self._hi, plane, out=self._hi)

    def result(self) -> SumSweep:
        """The sweep's results (once every z slice has been added)."""
        Y, X = self._lo.shape
        if len(self.total_s) == 0 or X == 0:
            lo = hi = np.full(Y, np.nan)
        else:
            lo, hi = np.min(self._lo, axis=1), np.max(self._hi, axis=1)
        return SumSweep(total=self.total_s.transpose(2, 1, 0), lo=lo, hi=hi,
                        coronal={k: v.T for k, v in self.cor.items()},
                        sagittal={k: v.T for k, v in self.sag.items()})


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
    acc = SumAccumulator(X, Y, Z, crop)
    for z0 in range(0, Z, block):
        z = slice(z0, min(z0 + block, Z))
        acc.add(z, ws[z], fs[z])
    return acc.result()


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
    # counts as byte sums (bool is stored as 0/1 bytes), in uint16 within a block
    block = max(1, min(block, 65535 // max(Y, 1)))
    small = X < 65536
    for z0 in range(0, Z, block):
        z1 = min(z0 + block, Z)
        m = mask_s[z0:z1]
        np.greater_equal(ts[z0:z1], t, out=m)
        if small:
            b = m.view(np.uint8)
            rows[z0:z1] = b.sum(axis=2, dtype=np.uint16)
            per_x += np.add.reduce(b[:, :keep, :], axis=(0, 1), dtype=np.uint16)
        else:  # pragma: no cover - rows too long for uint16 counts
            rows[z0:z1] = np.count_nonzero(m, axis=2)
            per_x += np.count_nonzero(m[:, :keep, :], axis=(0, 1))
    mask = mask_s.transpose(2, 1, 0)
    return MaskSweep(mask=mask, per_y=rows[:, :keep].sum(axis=0), per_x=per_x,
                     area=rows.sum(axis=1),
                     lateral=np.asarray(mask_s[:, :, 0].any(axis=1)
                                        | mask_s[:, :, X - 1].any(axis=1))
                     if X else np.zeros(Z, dtype=bool),
                     anterior=np.asarray(mask_s[:, 0, :].any(axis=1)) if Y
                     else np.zeros(Z, dtype=bool))
