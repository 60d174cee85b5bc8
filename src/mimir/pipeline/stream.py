"""Fusion and the first sweep of section 7-8 together, without whole fused volumes.

:func:`mimir.fusion.fuse_stations` builds the fused water and fat volumes (float64,
about 115 MB each), and the sum sweep of :mod:`mimir.projection.passes` then reads them
back. When only the image is wanted, :func:`fuse_and_sum` does both at once: water and
fat are resampled in step, a few output slices at a time, and each block of slices goes
into the sum sweep (signal sum, plane ranges, projections) while it is in cache. The
overlap slices join once both of their stations are resampled, faded and corrected.
Only the signal sum (which the Otsu thresholds and the mask read again) and the fat
volume in float32 (for the two fat-fraction planes, with the overlap slices kept in
float64) are stored.

Every number equals the one the volume route gives, bit for bit: a slice's values are
the fused volume's values (the same float32 rounding, ``0 + value``, and for overlaps
``(0 + upper) + lower``), and the sweep's per-slice arithmetic does not depend on the
order in which slices arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimir.fusion.fuse import END_SLICES_DROPPED
from mimir.fusion.pipeline import (
    Geometry,
    StationSlices,
    fade_and_correct_overlap,
    station_geometry,
    swap_scores,
    writes_direct,
)
from mimir.fusion.stations import StationSet
from mimir.projection.passes import SumAccumulator, SumSweep


@dataclass
class FatPlanes:
    """The fat volume, kept for its fat-fraction planes.

    Attributes
    ----------
    stored : float32 ndarray, shape (n, rows, cols)
        Fused fat, slice-major, top slice first (exact outside the overlaps).
    overlaps : dict
        Storage slice index -> its float64 (rows, cols) plane, for overlap slices.
    drop : int
        Slices dropped at each end of the oriented volume.
    keep : int
        y indices kept by the table crop.
    """

    stored: np.ndarray
    overlaps: dict
    drop: int
    keep: int

    def _oriented(self, a: np.ndarray) -> np.ndarray:
        n = len(a)
        return a[::-1][self.drop:n - self.drop].T

    def coronal(self, y: int) -> np.ndarray:
        """Plane y of the oriented fat volume, shape (X, Z), float64."""
        a = self.stored[:, y, :].astype(np.float64)
        for z, plane in self.overlaps.items():
            a[z] = plane[y]
        return self._oriented(a)

    def sagittal(self, x: int) -> np.ndarray:
        """Plane x of the oriented, table-cropped fat volume, shape (Y', Z), float64."""
        a = self.stored[:, :self.keep, x].astype(np.float64)
        for z, plane in self.overlaps.items():
            a[z] = plane[:self.keep, x]
        return self._oriented(a)

    def __call__(self, planes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The coronal and sagittal fat planes the image uses."""
        return self.coronal(planes[0]), self.sagittal(planes[1])


@dataclass
class Streamed:
    """What :func:`fuse_and_sum` gives instead of fused volumes.

    Attributes
    ----------
    geometry : Geometry
    sums : SumSweep
    fat : FatPlanes
    shape : tuple of int
        Shape (X, Y, Z) of the fused volumes.
    swap_scores : list of dict
    """

    geometry: Geometry
    sums: SumSweep
    fat: FatPlanes
    shape: tuple
    swap_scores: list


class _Sink:
    """Feeds blocks of storage slices (top first) to a :class:`SumAccumulator`."""

    def __init__(self, acc: SumAccumulator, n: int, drop: int):
        self.acc = acc
        self.n = n
        self.drop = drop
        self.done = np.zeros(n, dtype=bool)

    def add(self, z0: int, water: np.ndarray, fat: np.ndarray) -> None:
        """Storage slices ``z0 .. z0 + len(water) - 1`` (full (rows, cols) planes)."""
        k = len(water)
        self.done[z0:z0 + k] = True
        # oriented index of storage slice z: n - 1 - drop - z (the slice axis flips)
        lo = max(z0, self.drop)
        hi = min(z0 + k, self.n - self.drop)
        if hi <= lo:
            return
        first, last = self.n - 1 - self.drop - (hi - 1), self.n - 1 - self.drop - lo
        sel = slice(hi - 1 - z0, None if lo == z0 else lo - z0 - 1, -1)
        self.acc.add(slice(first, last + 1), water[sel], fat[sel])


def streamable(ss: StationSet, g: Geometry, crop: int) -> bool:
    """Whether :func:`fuse_and_sum` applies (otherwise fuse volumes and sweep them)."""
    rows, cols, n = (int(v) for v in np.max(g.trim.W_end, axis=0))
    return (n - 2 * END_SLICES_DROPPED >= 1 and rows > crop and cols >= 1
            and writes_direct(ss.water, g.maps, g.trim)
            and writes_direct(ss.fat, g.maps, g.trim))


def fuse_and_sum(ss: StationSet, crop: int, block: int = 4) -> Streamed | None:
    """Fuse water and fat (sections 4-6) and sweep them (signal sum, plane ranges,
    projections) in one go.

    Parameters
    ----------
    ss : StationSet
        Consistent stations.
    crop : int
        Posterior y indices left out of the projections (the table).
    block : int
        Output slices per block.

    Returns
    -------
    Streamed or None
        None where the stations do not allow it (see :func:`streamable`); then fuse the
        volumes with :func:`mimir.fusion.fuse_stations` instead.
    """
    g = station_geometry(ss)
    if not streamable(ss, g, crop):
        return None
    trim = g.trim
    rows, cols, n = (int(v) for v in np.max(trim.W_end, axis=0))
    drop = END_SLICES_DROPPED
    sink = _Sink(SumAccumulator(cols, rows, n - 2 * drop, crop), n, drop)
    # written below: station slices with the zeros around the station; every other
    # slice is zeroed at the end (overlap slices are read from fat_overlaps)
    fat32 = np.empty((n, rows, cols), dtype=np.float32)
    stored = np.zeros(n, dtype=bool)
    fat_overlaps: dict[int, np.ndarray] = {}
    written: dict[str, list] = {"water": [], "fat": []}
    for i in range(len(ss.water)):
        sw = StationSlices(ss.water[i], g.maps[i], trim, i, block)
        sf = StationSlices(ss.fat[i], g.maps[i], trim, i, block)
        (r0, c0, z0), (r1, c1, _) = trim.W[i], trim.W_end[i]
        # full planes: zero outside the station, as in the fused volume
        wbuf = np.zeros((block, rows, cols))
        fbuf = np.zeros((block, rows, cols))
        heads = sw.head(), sf.head()
        middle = slice(z0 + sf.n_head, z0 + sf.k - sf.n_tail)
        _zero_around(fat32[middle], r0, r1, c0, c1)
        stored[middle] = True
        for (j0, bw), (_, bf) in zip(sw.blocks(), sf.blocks(), strict=True):
            k = len(bw)
            sw.put(wbuf[:k, r0:r1, c0:c1], bw)
            sf.put(fbuf[:k, r0:r1, c0:c1], bf)
            # exact: float32 values (the block itself where put copied it unchanged)
            np.copyto(fat32[z0 + j0:z0 + j0 + k, r0:r1, c0:c1],
                      bf if sf.put is np.copyto else fbuf[:k, r0:r1, c0:c1],
                      casting="same_kind")
            sink.add(z0 + j0, wbuf[:k], fbuf[:k])
        written["water"].append(sw.written(heads[0], sw.tail()))
        written["fat"].append(sf.written(heads[1], sf.tail()))
        if i > 0:
            _join_overlap(sink, fat_overlaps, written, trim, i - 1, (rows, cols))
    # slices no station reaches (gaps between stations) are zero
    for z in np.flatnonzero(~sink.done):
        zero = np.zeros((1, rows, cols))
        sink.add(int(z), zero, zero)
    fat32[~stored] = 0
    swap = swap_scores(written["water"], written["fat"], trim.overlaps)
    return Streamed(geometry=g, sums=sink.acc.result(),
                    fat=FatPlanes(fat32, fat_overlaps, drop, max(rows - crop, 0)),
                    shape=(cols, rows, n - 2 * drop), swap_scores=swap)


def _zero_around(a: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> None:
    """Zero ``a`` (k, rows, cols) outside rows r0:r1 and columns c0:c1."""
    a[:, :r0] = 0
    a[:, r1:] = 0
    a[:, r0:r1, :c0] = 0
    a[:, r0:r1, c1:] = 0


def _join_overlap(sink: _Sink, fat_overlaps: dict, written: dict, trim, i: int,
                  plane: tuple) -> None:
    """Fade and correct the overlap of stations i and i+1 and add its slices."""
    o = trim.overlaps[i]
    for w in written.values():
        fade_and_correct_overlap(w[i], w[i + 1], o)
    if o <= 0:
        return
    (ua, ub), (la, lb) = _regions(trim, i), _regions(trim, i + 1)
    z0 = int(trim.W[i + 1, 2])
    planes = {}
    for name, w in written.items():
        v = np.zeros((o,) + plane)
        v[:, ua, ub] += w[i].tail
        v[:, la, lb] += w[i + 1].head
        planes[name] = v
    for j in range(o):
        fat_overlaps[z0 + j] = planes["fat"][j]
    sink.add(z0, planes["water"], planes["fat"])


def _regions(trim, i: int) -> tuple[slice, slice]:
    (r0, c0, _), (r1, c1, _) = trim.W[i], trim.W_end[i]
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))
