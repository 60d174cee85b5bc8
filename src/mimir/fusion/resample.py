"""Resampling a placed station onto the output grid (preprocessing.md section 4).

Resampling is separable: a row pass, a column pass and a slice pass, each
``d * src[i1] + (1 - d) * src[i0]`` in float64. :func:`station_map` works out each
axis's indices and weights once per station; :class:`StationResampler` then produces
the output slices one at a time (the row and column passes on the station's own
slices, each computed once, then the slice pass combining two of them), reusing a few
slice-sized buffers. The values are exactly those of the three passes over the whole
station (:func:`resample_station` gives that whole array). Where the compiled kernels
are built (:mod:`mimir.native`), each plane's two in-plane passes and each output
slice's slice pass run as one loop each, with the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import mimir.native as native
from mimir.fusion.stations import Voxels


@dataclass(frozen=True)
class AxisMap:
    """Linear clamp-to-edge resampling of one axis (section 4, step 5).

    Output index i takes ``d[i] * src[i1[i]] + e[i] * src[i0[i]]`` in float64, with
    ``e = 1 - d``: the two products are rounded, then their sum, exactly as the
    procedure writes it.

    Attributes
    ----------
    i0, i1 : ndarray of int64, shape (size,)
        Source indices, clamped into [0, n-1].
    d, e : ndarray of float64, shape (size,)
        Weights of ``src[i1]`` and ``src[i0]``.
    identity : bool
        The map copies the axis unchanged (``size == n``, ``i0 == arange(n)``,
        ``d == 0``).
    pieces : tuple or None
        Runs of output indices over which both ``i0`` and ``i1`` advance by 0 or by 1,
        as ``(start, stop, i0_start, i0_step, i1_start, i1_step)``, so that the sources
        are slices rather than gathers; None when the indices are too irregular for
        that to pay (then they are gathered).
    """

    i0: np.ndarray
    i1: np.ndarray
    d: np.ndarray
    e: np.ndarray
    identity: bool
    pieces: tuple | None


#: An axis map with more runs than this gathers its sources instead.
MAX_PIECES = 8


def axis_map(n: int, size: int, scale: float, offset: float) -> AxisMap:
    """The resampling of one axis of length ``n`` onto ``size`` output indices.

    For output index i the source coordinate is ``a = (i - offset) / scale``;
    ``i0 = trunc(a)``, ``i1 = i0 + 1``; a, i0 and i1 are clamped into [0, n-1] and
    ``d = a - i0``.

    Parameters
    ----------
    n : int
        Source length.
    size : int
        Output length.
    scale, offset : float
        Geometry of the axis (section 4, step 5).

    Returns
    -------
    AxisMap
    """
    i = np.arange(size, dtype=np.float64)
    a = (i - offset) / scale
    i0 = np.trunc(a).astype(np.int64)
    i1 = i0 + 1
    a = np.clip(a, 0, n - 1)
    i0 = np.clip(i0, 0, n - 1)
    i1 = np.clip(i1, 0, n - 1)
    d = a - i0
    identity = size == n and bool(np.all(d == 0)) and np.array_equal(i0, np.arange(n))
    return AxisMap(i0=i0, i1=i1, d=d, e=1 - d, identity=identity, pieces=_pieces(i0, i1))


def _pieces(i0: np.ndarray, i1: np.ndarray, limit: int = MAX_PIECES) -> tuple | None:
    """Split output indices into runs where i0 and i1 each step by 0 or by 1."""
    size = len(i0)
    if size == 0:
        return ()
    steps0 = np.diff(i0)
    steps1 = np.diff(i1)
    if not (np.isin(steps0, (0, 1)).all() and np.isin(steps1, (0, 1)).all()):
        return None
    out = []
    start = 0
    while start < size:
        stop = start + 1
        if stop < size:
            s0, s1 = steps0[start], steps1[start]
            while stop < size and steps0[stop - 1] == s0 and steps1[stop - 1] == s1:
                stop += 1
        else:
            s0 = s1 = 1
        out.append((start, stop, int(i0[start]), int(s0), int(i1[start]), int(s1)))
        if len(out) > limit:
            return None
        start = stop
    return tuple(out)


def lerp_plan(m: AxisMap, axis: int, ndim: int, d: np.ndarray, e: np.ndarray,
              pieces: tuple | None = None) -> list | tuple:
    """Plan applying an axis map along ``axis`` of ``ndim``-dimensional arrays:
    ``out = src[i1] * d + src[i0] * e`` in float64 (see :func:`apply_plan`), with the
    indexing worked out once for many arrays.

    Parameters
    ----------
    m : AxisMap
    axis, ndim : int
    d, e : ndarray
        ``m.d`` and ``m.e`` shaped to broadcast against the output along ``axis`` (full
        arrays of the output shape make the fastest loops).
    pieces : tuple, optional
        Only these runs of ``m.pieces`` (default: all of them).

    Returns
    -------
    list or tuple
        Per run: (output index, index of the ``i1`` sources, index of the ``i0``
        sources, d part, e part); or, for gathered maps, ``("take", m, axis, d, e)``.
    """
    if m.pieces is None:
        return ("take", m, axis, d, e)
    plan = []
    for start, stop, a0, s0, a1, s1 in (m.pieces if pieces is None else pieces):
        parts = [slice(None)] * ndim
        parts[axis] = slice(start, stop)
        sl = tuple(parts)
        plan.append((sl, _source_index(ndim, axis, a1, s1, stop - start),
                     _source_index(ndim, axis, a0, s0, stop - start), _part(d, sl),
                     _part(e, sl)))
    return plan


def apply_plan(plan: list | tuple, src: np.ndarray, out: np.ndarray,
               tmp: np.ndarray) -> np.ndarray:
    """Run a :func:`lerp_plan` on ``src`` into ``out`` (``tmp``: scratch)."""
    if isinstance(plan, tuple):
        _, m, axis, d, e = plan
        np.multiply(np.take(src, m.i1, axis=axis), d, out=out)
        np.multiply(np.take(src, m.i0, axis=axis), e, out=tmp)
        return np.add(out, tmp, out=out)
    for sl, src1, src0, d, e in plan:
        o, t = out[sl], tmp[sl]
        np.multiply(src[src1], d, out=o)
        np.multiply(src[src0], e, out=t)
        np.add(o, t, out=o)
    return out


def _source_index(ndim: int, axis: int, first: int, step: int, length: int) -> tuple:
    """Index of ``length`` sources from ``first`` along ``axis`` (step 1), or of index
    ``first`` alone (step 0, broadcast)."""
    sl = [slice(None)] * ndim
    sl[axis] = slice(first, first + (length if step else 1))
    return tuple(sl)


def _part(w: np.ndarray, sl: tuple) -> np.ndarray:
    """The part of a weight array that broadcasts against ``out[sl]``."""
    return w[tuple(s if n > 1 else slice(None) for s, n in zip(sl, w.shape, strict=True))]


def _main_run(m: AxisMap) -> tuple | None:
    """The longest run of ``m.pieces`` in which i0 and i1 both advance by 1."""
    runs = [p for p in (m.pieces or ()) if p[3] == 1 and p[5] == 1]
    return max(runs, key=lambda p: p[1] - p[0]) if runs else None


@dataclass(frozen=True)
class StationMap:
    """The resampling of one station: one map per axis and precomputed weights.

    Attributes
    ----------
    rows, cols, slices : AxisMap
    in_plane : tuple of int
        Station (rows, cols).
    shape : tuple of int
        Output shape (slices, rows, cols).
    row_d, row_e : ndarray or None
        Row weights spread over a whole (rows', cols) plane (contiguous loops).
    col_d, col_e : ndarray or None
        Column weights tiled over every row of a (rows', cols') plane, flattened.
    """

    rows: AxisMap
    cols: AxisMap
    slices: AxisMap
    in_plane: tuple
    shape: tuple
    row_d: np.ndarray | None
    row_e: np.ndarray | None
    col_d: np.ndarray | None
    col_e: np.ndarray | None


def station_map(in_shape: tuple, R: np.ndarray, R_end: np.ndarray, W: np.ndarray,
                W_size: np.ndarray) -> StationMap:
    """Axis maps resampling a station of shape (n, rows, cols) to ``W_size``.

    Parameters
    ----------
    in_shape : tuple of int
        Station shape, slice-major (n, rows, cols).
    R, R_end : ndarray, shape (3,)
        Exact start and end of the station in output voxels, (row, column, slice).
    W, W_size : ndarray, shape (3,)
        Rounded start and size, (row, column, slice).

    Returns
    -------
    StationMap
    """
    n, rows, cols = (int(v) for v in in_shape)
    dims = np.array([rows, cols, n], dtype=np.float64)
    scale = (R_end - R) / dims
    offset = R - W
    mr, mc, ms = (axis_map(k, int(W_size[j]), float(scale[j]), float(offset[j]))
                  for j, k in enumerate((rows, cols, n)))
    out_rows, out_cols = int(W_size[0]), int(W_size[1])
    row_d = row_e = col_d = col_e = None
    if not mr.identity:
        row_d = np.repeat(mr.d[:, None], cols, axis=1)
        row_e = np.repeat(mr.e[:, None], cols, axis=1)
    if not mc.identity:
        col_d = np.tile(mc.d, out_rows)
        col_e = np.tile(mc.e, out_rows)
    return StationMap(rows=mr, cols=mc, slices=ms, in_plane=(rows, cols),
                      shape=(int(W_size[2]), out_rows, out_cols),
                      row_d=row_d, row_e=row_e, col_d=col_d, col_e=col_e)


@dataclass(frozen=True)
class ColsPlan:
    """How the column pass of a plane runs (see :func:`cols_plan`).

    Attributes
    ----------
    flat : tuple or None
        ``(lo, hi, off0, off1)``: flat output positions ``lo:hi`` take their sources
        ``off0`` and ``off1`` positions further on in the flattened plane.
    rest : list or tuple
        :func:`lerp_plan` of the runs not covered by ``flat`` (all of them without it).
    """

    flat: tuple | None
    rest: list | tuple


def cols_plan(sm: StationMap) -> ColsPlan:
    """Plan the column pass of ``sm``'s planes.

    Where the columns keep their count, the longest run with ``i0`` and ``i1`` both
    advancing by one is computed on the flattened plane (one contiguous loop instead of
    a loop per row); the elements that wrap into the next row there belong to other
    runs, which are then computed exactly as they are everywhere else.
    """
    m = sm.cols
    rows = sm.shape[1]
    main = _main_run(m)
    d, e = m.d[None, :], m.e[None, :]
    if main is None or sm.in_plane[1] != sm.shape[2]:
        return ColsPlan(flat=None, rest=lerp_plan(m, 1, 2, d, e))
    start, _, a0, _, a1, _ = main
    off0, off1 = a0 - start, a1 - start
    size = rows * sm.shape[2]
    lo, hi = max(0, -off0, -off1), min(size, size - off0, size - off1)
    assert m.pieces is not None  # a main run comes from the pieces
    rest = tuple(p for p in m.pieces if p is not main)
    return ColsPlan(flat=(lo, hi, off0, off1) if hi > lo else None,
                    rest=lerp_plan(m, 1, 2, d, e, pieces=rest) if rest else [])


def _cols_pass(src: np.ndarray, sm: StationMap, plan: ColsPlan, out: np.ndarray,
               tmp: np.ndarray) -> None:
    """The column pass of one plane (``src`` contiguous (rows', cols) float64)."""
    if plan.flat is not None:
        assert sm.col_d is not None and sm.col_e is not None  # set with a flat plan
        lo, hi, off0, off1 = plan.flat
        fs, fo, ft = src.reshape(-1), out.reshape(-1), tmp.reshape(-1)
        np.multiply(fs[lo + off1:hi + off1], sm.col_d[lo:hi], out=fo[lo:hi])
        np.multiply(fs[lo + off0:hi + off0], sm.col_e[lo:hi], out=ft[lo:hi])
        np.add(fo[lo:hi], ft[lo:hi], out=fo[lo:hi])
    apply_plan(plan.rest, src, out, tmp)


class PlaneResampler:
    """In-plane passes (rows, then columns) of a station's slices, in float64.

    Holds scratch buffers, so that a station's slices reuse the same memory, and the
    indexing of both passes, worked out once.

    Parameters
    ----------
    sm : StationMap
    """

    def __init__(self, sm: StationMap):
        self.sm = sm
        rows, cols = sm.in_plane
        _, out_rows, out_cols = sm.shape
        self._src = np.empty((rows, cols))
        self._mid = np.empty((out_rows, cols))
        self._tmp = np.empty((out_rows, max(cols, out_cols)))
        self._free: list[np.ndarray] = []
        self._rows = None
        if not sm.rows.identity:
            assert sm.row_d is not None and sm.row_e is not None  # set unless identity
            self._rows = lerp_plan(sm.rows, 0, 2, sm.row_d, sm.row_e)
        self._cols = None if sm.cols.identity else cols_plan(sm)
        self._maps = tuple(None if m.identity else (m.i0, m.i1, m.d, m.e)
                           for m in (sm.rows, sm.cols))

    def release(self, plane: np.ndarray) -> None:
        """Give back a plane returned by :meth:`__call__` for reuse."""
        self._free.append(plane)

    def _new(self) -> np.ndarray:
        return self._free.pop() if self._free else np.empty(self.sm.shape[1:])

    def __call__(self, plane: np.ndarray) -> np.ndarray:
        """The resampled plane (a buffer owned by the caller until released).

        Parameters
        ----------
        plane : ndarray, shape (rows, cols)
            One slice of the station (float32 or float64).

        Returns
        -------
        ndarray, float64, shape (rows', cols')
        """
        sm = self.sm
        k = native.kernels()
        if k is not None and isinstance(plane, np.ndarray):
            out = self._new()
            try:
                k.resample_plane(plane, out, *self._maps)
                return out
            except ValueError:  # a layout the kernel does not take: numpy below
                self.release(out)
        if sm.rows.identity and sm.cols.identity:
            out = self._new()
            np.copyto(out, plane)  # exact for float32 input
            return out
        src = self._src
        np.copyto(src, plane)
        out = self._new()
        if not sm.rows.identity:
            mid = self._mid
            # scratch: ``out`` (not written yet) when it has the shape, else a buffer
            tmp = out if out.shape == mid.shape else self._tmp[:, :mid.shape[1]]
            assert self._rows is not None
            apply_plan(self._rows, src, mid, tmp)
            src, spare = mid, self._src
        else:
            spare = self._tmp[:, :src.shape[1]]
        if sm.cols.identity:
            np.copyto(out, src)
            return out
        tmp = spare if spare.shape == out.shape else self._tmp[:, :out.shape[1]]
        assert self._cols is not None
        _cols_pass(src, sm, self._cols, out, tmp)
        return out


class StationResampler:
    """Resampled output slices of one station, computed in order.

    The in-plane passes come first, on the station's own slices (each computed once,
    when an output slice first needs it, and dropped once no later output slice needs
    it), then the slice pass combines two of them. Every output value is the one the
    whole-volume procedure gives, bit for bit (rounded once to the output's dtype when
    that is float32).

    Parameters
    ----------
    A : ndarray, shape (n, rows, cols)
        Station voxels, slice-major.
    sm : StationMap
    """

    def __init__(self, A: Voxels, sm: StationMap):
        self.A = A
        self.sm = sm
        self._planes = PlaneResampler(sm)
        self._cache: dict[int, np.ndarray] = {}
        m = sm.slices
        self._monotone = bool(np.all(np.diff(m.i0) >= 0) and np.all(np.diff(m.i1) >= 0))
        self._p1 = np.empty(sm.shape[1:])
        self._p0 = np.empty(sm.shape[1:])

    def _plane(self, k: int) -> np.ndarray:
        if k not in self._cache:
            self._cache[k] = self._planes(self.A[k])
        return self._cache[k]

    def _drop_before(self, k: int) -> None:
        for j in [j for j in self._cache if j < k]:
            self._planes.release(self._cache.pop(j))

    def into(self, out: np.ndarray, start: int = 0) -> np.ndarray:
        """Write output slices ``start .. start + len(out) - 1`` into ``out``.

        Parameters
        ----------
        out : ndarray, shape (k, rows', cols'), float64 or float32
        start : int
            First output slice.

        Returns
        -------
        ndarray
            ``out``.
        """
        m = self.sm.slices
        k = native.kernels()
        if k is not None and out.flags.c_contiguous and out.dtype in (np.float64, np.float32):
            return self._into_kernel(k, out, start)
        for j in range(len(out)):
            i = start + j
            if m.identity:
                np.copyto(out[j], self._plane(i), casting="same_kind")
                self._drop_before(i + 1)
                continue
            k0, k1 = int(m.i0[i]), int(m.i1[i])
            np.multiply(self._plane(k1), m.d[i], out=self._p1)
            np.multiply(self._plane(k0), m.e[i], out=self._p0)
            np.add(self._p1, self._p0, out=out[j], casting="same_kind")
            if self._monotone:
                self._drop_before(k0)
        return out

    def _into_kernel(self, k, out: np.ndarray, start: int) -> np.ndarray:
        """:meth:`into` with the slice pass as one compiled loop per slice."""
        m = self.sm.slices
        for j in range(len(out)):
            i = start + j
            if m.identity:
                k.lerp_planes(self._plane(i), 0.0, None, 0.0, out[j])
                self._drop_before(i + 1)
                continue
            k0, k1 = int(m.i0[i]), int(m.i1[i])
            k.lerp_planes(self._plane(k1), float(m.d[i]), self._plane(k0), float(m.e[i]),
                          out[j])
            if self._monotone:
                self._drop_before(k0)
        return out


def resample_station(A: np.ndarray, R: np.ndarray, R_end: np.ndarray, W: np.ndarray,
                     W_size: np.ndarray) -> np.ndarray:
    """Resample one station to ``W_size`` (trilinear, clamp-to-edge, in float64).

    Parameters
    ----------
    A : ndarray, shape (n, rows, cols)
        Station voxels, slice-major (slice 0 is the top slice).
    R, R_end, W, W_size
        As for :func:`station_map`.

    Returns
    -------
    ndarray of shape (W_size[2], W_size[0], W_size[1]), float64
    """
    sm = station_map(A.shape, R, R_end, W, W_size)
    return StationResampler(A, sm).into(np.empty(sm.shape, dtype=np.float64))
