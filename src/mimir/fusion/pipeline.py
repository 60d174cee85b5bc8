"""Fusing consistent stations into oriented water and fat volumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimir.fusion.fuse import (
    END_SLICES_DROPPED,
    Trim,
    apply_trim,
    fuse_prepared,
    orient,
    trim_overlaps,
)
from mimir.fusion.placement import OUTPUT_SPACING, Placement, place_stations
from mimir.fusion.resample import StationMap, StationResampler, station_map
from mimir.fusion.stations import SliceStack, Station, StationSet, Voxels
from mimir.notes import Note
from mimir.qc.measures import overlap_swap_score, overlap_swap_scores


@dataclass
class Fused:
    """Fused volumes of one subject, oriented (x = left-right, y = A-P, z = foot-head).

    Attributes
    ----------
    water, fat : ndarray, float64, shape (X, Y, Z)
    placement : Placement
    trim : Trim
    affine : ndarray, shape (4, 4)
        Voxel index to RAS+ mm (NIfTI convention).
    warnings : list of str
    swap_scores : list of dict
        Fat-fraction agreement in each overlap (see
        :func:`mimir.qc.measures.overlap_swap_scores`).
    """

    water: np.ndarray
    fat: np.ndarray
    placement: Placement
    trim: Trim
    affine: np.ndarray
    warnings: list
    swap_scores: list = field(default_factory=list)


@dataclass
class Prepared:
    """One signal's stations, resampled and trimmed, ready to fuse.

    Attributes
    ----------
    stations : list of float32 ndarray, shape (n_i, rows, cols)
        Trimmed stations (copies, free to change in place), top first.
    edges : list of ndarray
        Per station, its first ``max(o_{i-1}, 0)`` slices followed by its last
        ``max(o_i, 0)`` slices before rounding to float32 (o: recorded overlaps), so that
        ``edges[i][-o_i:]`` and ``edges[i + 1][:o_i]`` are the two sides of overlap i, as
        :func:`mimir.qc.measures.overlap_swap_scores` reads them.
    """

    stations: list
    edges: list


def station_maps(stations: list[Station], pl: Placement) -> list[StationMap | None]:
    """The resampling of each station (None where it sits on the grid); water and fat
    stations share their geometry, so one list serves both."""
    return [station_map(st.voxels.shape, pl.R[i], pl.R_end[i], pl.W[i], pl.W_size[i])
            if pl.resample[i] else None for i, st in enumerate(stations)]


def _edge_counts(trim: Trim, i: int) -> tuple[int, int]:
    S = len(trim.W)
    head = max(trim.overlaps[i - 1], 0) if i > 0 else 0
    tail = max(trim.overlaps[i], 0) if i < S - 1 else 0
    return head, tail


def prepare_signal(stations: list[Station], maps: list, trim: Trim) -> Prepared:
    """Resample (where needed) and trim one signal's stations (sections 4.5 and 5).

    Whole trimmed stations in float32, for the fusion of stations that
    :func:`fuse_direct` does not take. Only the slices that survive the trim are
    computed; values equal resampling the whole station in float64, trimming it and
    casting to float32.

    Parameters
    ----------
    stations : list of Station
    maps : list of StationMap or None
        From :func:`station_maps`.
    trim : Trim

    Returns
    -------
    Prepared
    """
    out, edges = [], []
    for i, st in enumerate(stations):
        top, bottom = int(trim.cut_top[i]), int(trim.cut_bottom[i])
        head, tail = _edge_counts(trim, i)
        sm = maps[i]
        if sm is None:
            a = np.asarray(apply_trim(st.voxels, top, bottom))
        else:
            k = max(sm.shape[0] - top - bottom, 0)
            a = StationResampler(st.voxels, sm).into(np.empty((k,) + sm.shape[1:]), top)
        out.append(np.array(a, dtype=np.float32))
        edges.append(np.concatenate([a[:head], a[len(a) - tail:]]))
    return Prepared(stations=out, edges=edges)


#: Output slices resampled at a time when writing straight into the fused volume.
_BLOCK = 4


def writes_direct(stations: list[Station], maps: list, trim: Trim) -> bool:
    """Whether :func:`fuse_direct` applies: every station keeps a slice outside its
    overlaps, only neighbours overlap, and every station fits its place on the grid."""
    S = len(stations)
    for i, st in enumerate(stations):
        head, tail = _edge_counts(trim, i)
        if trim.W_size[i, 2] <= head + tail:
            return False
        plane = maps[i].shape[1:] if maps[i] is not None else st.voxels.shape[1:]
        if tuple(plane) != tuple(int(v) for v in trim.W_size[i, :2]):
            return False
        if any(trim.W[j, 2] < trim.W_end[i, 2] for j in range(i + 2, S)):
            return False
    return True


@dataclass
class Written:
    """A station's overlap slices, set apart while the rest goes into the volume.

    Attributes
    ----------
    head, tail : float32 ndarray, shape (h, rows, cols) and (t, rows, cols)
        First slices (overlapping the station above) and last slices (overlapping the
        station below), faded and corrected in place later.
    edge_head, edge_tail : ndarray
        Head and tail before rounding to float32 (what the swap scores read).
    mean_first, mean_last : numpy.float32
        Means of the first slice after the head and the last slice before the tail,
        the slices the intensity correction reads next to each overlap.
    """

    head: np.ndarray
    tail: np.ndarray
    edge_head: np.ndarray
    edge_tail: np.ndarray
    mean_first: np.float32
    mean_last: np.float32


def swap_scores(water: list[Written], fat: list[Written], overlaps: list[int]) -> list[dict]:
    """:func:`mimir.qc.measures.overlap_swap_scores` from the stations' overlap slices."""
    return [overlap_swap_score(water[i].edge_tail, fat[i].edge_tail, water[i + 1].edge_head,
                               fat[i + 1].edge_head) if o > 0 else
            overlap_swap_score(None, None, None, None) for i, o in enumerate(overlaps)]


def has_sign_bits(a: Voxels) -> bool:
    """Whether a float array holds a value with its sign bit set (negative, -0.0, or a
    NaN with a sign), found with one maximum over the bits; integers never convert to
    -0.0, so they have none."""
    if isinstance(a, SliceStack):
        return any(has_sign_bits(p) for p in a.planes)
    if a.dtype.kind != "f" or a.size == 0:
        return False
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}.get(a.dtype.itemsize)
    if bits is None:
        return bool(np.signbit(a).any())
    return int(a.view(bits).max()) >> (8 * a.dtype.itemsize - 1) == 1


def put_as_sum(target: np.ndarray, values: np.ndarray) -> None:
    """``target[...] = 0 + values``, as summing into a zero volume stores them.

    That is a plain copy, except that a -0.0 becomes +0.0; blocks with no sign bit set
    (the usual case) are copied, the others added to 0.
    """
    if has_sign_bits(values):
        np.add(values, 0, out=target, dtype=target.dtype)
    else:
        np.copyto(target, values)


class StationSlices:
    """Station i's slices that survive the trim, in order: head, middle, tail.

    Parameters
    ----------
    st : Station
    sm : StationMap or None
        Its resampling (None: the station sits on the grid).
    trim : Trim
    i : int
        Station index.
    block : int
        Middle slices per block.

    Attributes
    ----------
    put : callable
        ``put(target, values)`` stores values as the sum does (:func:`put_as_sum`).
    """

    def __init__(self, st: Station, sm: StationMap | None, trim: Trim, i: int,
                 block: int = _BLOCK):
        self.sm = sm
        self.top = int(trim.cut_top[i])
        self.n_head, self.n_tail = _edge_counts(trim, i)
        self.k = int(trim.W_size[i, 2])
        self.block = block
        # resampling weights are non-negative, so values resampled from voxels without a
        # sign bit (DICOM pixels are unsigned) have none either: no check per block then
        self.put = put_as_sum if has_sign_bits(st.voxels) else np.copyto
        if sm is None:
            self._a = apply_trim(st.voxels, self.top, int(trim.cut_bottom[i]))
        else:
            self._res = StationResampler(st.voxels, sm)
        self._means: dict[int, np.float32] = {}

    def _range(self, j0: int, j1: int, dtype) -> np.ndarray:
        if self.sm is None:
            return np.array(self._a[j0:j1], dtype=dtype)
        return self._res.into(np.empty((j1 - j0,) + self.sm.shape[1:], dtype=dtype),
                              self.top + j0)

    def head(self) -> np.ndarray:
        """The head slices (float64 where resampled, else the float32 values)."""
        return self._range(0, self.n_head, np.float32 if self.sm is None else np.float64)

    def tail(self) -> np.ndarray:
        """The tail slices (as :meth:`head`)."""
        return self._range(self.k - self.n_tail, self.k,
                           np.float32 if self.sm is None else np.float64)

    def blocks(self):
        """The middle slices, ``(j0, float32 block)`` at a time (slice index j0 first).

        The blocks of a resampled station reuse one buffer: use each before the next.
        """
        lo, hi = self.n_head, self.k - self.n_tail
        wanted = (lo, hi - 1)
        if self.sm is None:
            for j0 in range(lo, hi, self.block):
                b = np.asarray(self._a[j0:min(j0 + self.block, hi)])
                for j in wanted:
                    if j0 <= j < j0 + len(b):
                        self._means[j] = np.mean(np.array(b[j - j0], dtype=np.float32))
                yield j0, b
            return
        buf = np.empty((self.block,) + self.sm.shape[1:], dtype=np.float32)
        for j0 in range(lo, hi, self.block):
            b = self._res.into(buf[:min(self.block, hi - j0)], self.top + j0)
            for j in wanted:
                if j0 <= j < j0 + len(b):
                    self._means[j] = np.mean(b[j - j0])
            yield j0, b

    def written(self, head: np.ndarray, tail: np.ndarray) -> Written:
        """The overlap slices, after :meth:`blocks` has run."""
        return Written(head=head.astype(np.float32), tail=tail.astype(np.float32),
                       edge_head=head, edge_tail=tail,
                       mean_first=self._means[self.n_head],
                       mean_last=self._means[self.k - 1 - self.n_tail])


def fade_and_correct_overlap(upper: Written, lower: Written, o: int) -> None:
    """:func:`mimir.fusion.fuse.fade_and_correct_inplace` for one overlap, on its slices.

    Fades the ``o`` last slices of the upper station and the ``o`` first of the lower
    one, then corrects their intensities. Every slice this changes is an overlap slice
    of this pair, and the two slices whose means it reads are not overlap slices, so
    overlaps can be done one at a time, each with the same arithmetic, step for step.
    """
    for j in range(max(o, 0)):
        upper.tail[len(upper.tail) - 1 - j] *= (j + 1) / (o + 1)
    for j in range(max(o, 0)):
        lower.head[j] *= (j + 1) / (o + 1)
    if o <= 0:
        return
    a, b = lower.head, upper.tail
    mean_a, mean_b = lower.mean_first, upper.mean_last
    for j in range(o):
        target = mean_b + (mean_a - mean_b) * (j + 1) / (o + 1)
        current = np.mean(a[j]) + np.mean(b[j])
        factor = target / current
        a[j] *= factor
        b[j] *= factor


def fuse_direct(stations: list[Station], maps: list, trim: Trim) -> tuple[np.ndarray, list]:
    """Fuse one signal straight into its volume (sections 4.5-6), when
    :func:`writes_direct` holds.

    The same numbers as :func:`prepare_signal` followed by
    :func:`mimir.fusion.fuse.fuse_prepared`, without whole float32 stations: slices
    outside the overlaps go into the volume as they are resampled, and only the
    overlap slices wait for fading and intensity correction.

    Returns
    -------
    volume : ndarray, float64, shape (X, Y, Z)
        Oriented fused volume.
    written : list of Written
        Each station's overlap slices (for the swap scores).
    """
    rows, cols, n = (int(v) for v in np.max(trim.W_end, axis=0))
    vol = np.zeros((n, rows, cols), dtype=np.float64)
    written = []
    for i, st in enumerate(stations):
        sl = StationSlices(st, maps[i], trim, i)
        (r0, c0, z0), (r1, c1, _) = trim.W[i], trim.W_end[i]
        head = sl.head()
        for j0, b in sl.blocks():
            sl.put(vol[z0 + j0:z0 + j0 + len(b), r0:r1, c0:c1], b)
        written.append(sl.written(head, sl.tail()))
    for i in range(len(written) - 1):
        fade_and_correct_overlap(written[i], written[i + 1], trim.overlaps[i])
    for i, w in enumerate(written):
        (r0, c0, z0), (r1, c1, z1) = trim.W[i], trim.W_end[i]
        vol[z0:z0 + len(w.head), r0:r1, c0:c1] += w.head
        vol[z1 - len(w.tail):z1, r0:r1, c0:c1] += w.tail
    return orient(vol), written


def fused_affine(positions: np.ndarray, W_end: np.ndarray) -> np.ndarray:
    """NIfTI (RAS+) affine of the oriented fused volume.

    Column index i runs along patient x (LPS), row index along patient y, and the
    fused slice index k from the feet up in 3 mm steps.
    """
    s = OUTPUT_SPACING
    x0 = float(np.min(positions[:, 0]))
    y0 = float(np.min(positions[:, 1]))
    z_top = float(positions[0, 2])
    n_total = int(np.max(W_end[:, 2]))
    z0 = z_top - s[2] * (n_total - 1 - END_SLICES_DROPPED)
    aff = np.diag([-s[0], -s[1], s[2], 1.0])
    aff[:3, 3] = [-x0, -y0, z0]
    return aff


@dataclass
class Geometry:
    """Where a subject's stations go (sections 4 and 5).

    Attributes
    ----------
    positions : ndarray, shape (S, 3)
    placement : Placement
    trim : Trim
    maps : list of StationMap or None
        Resampling of each station (shared by water and fat).
    warnings : list of str
        Stations that do not meet.
    """

    positions: np.ndarray
    placement: Placement
    trim: Trim
    maps: list
    warnings: list

    @property
    def affine(self) -> np.ndarray:
        """Voxel index to RAS+ mm of the oriented fused volume."""
        return fused_affine(self.positions, self.placement.W_end)


def station_geometry(ss: StationSet) -> Geometry:
    """Place and trim a subject's stations (sections 4.1-4.4 and 5)."""
    P = np.stack([s.position for s in ss.water])
    dims = np.array([s.shape for s in ss.water], dtype=np.int64)
    sp = np.stack([s.spacing for s in ss.water])
    pl = place_stations(P, dims, sp)
    trim = trim_overlaps(pl.W, pl.W_end, pl.W_size)
    warnings = []
    for i, o in enumerate(trim.raw_overlaps):
        if o <= 0:
            warnings.append(Note("stations_do_not_meet",
                                 f"stations {i + 1} and {i + 2} do not meet (overlap {o} slices)"))
    return Geometry(positions=P, placement=pl, trim=trim, maps=station_maps(ss.water, pl),
                    warnings=warnings)


def fuse_stations(ss: StationSet) -> Fused:
    """Place, resample, trim and fuse a subject's stations (sections 4-6).

    Parameters
    ----------
    ss : StationSet
        Consistent stations from :func:`mimir.fusion.stations.make_consistent`.

    Returns
    -------
    Fused
    """
    g = station_geometry(ss)
    trim, maps = g.trim, g.maps
    if writes_direct(ss.water, maps, trim) and writes_direct(ss.fat, maps, trim):
        water, w_written = fuse_direct(ss.water, maps, trim)
        fat, f_written = fuse_direct(ss.fat, maps, trim)
        swap = swap_scores(w_written, f_written, trim.overlaps)
    else:
        w_st = prepare_signal(ss.water, maps, trim)
        f_st = prepare_signal(ss.fat, maps, trim)
        swap = overlap_swap_scores(w_st.edges, f_st.edges, trim.overlaps)
        water = fuse_prepared(w_st.stations, trim)
        fat = fuse_prepared(f_st.stations, trim)
    return Fused(water=water, fat=fat, placement=g.placement, trim=trim, affine=g.affine,
                 warnings=g.warnings, swap_scores=swap)
