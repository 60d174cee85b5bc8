"""Plausibility and memory bounds of a subject's geometry, checked before fusion.

Fusion allocates arrays whose sizes follow from header values: the fused grid spans
all stations, and each station is resampled to its placed size. One absurd value (a
slice 1e9 mm away, a slice spacing of 1e7 mm) would ask for terabytes. These checks run
on the consistent stations, before anything of the grid's size is allocated, and fail
the subject with kind ``implausible geometry``.

Physical bounds (what a human body in this scanner can span; ukb-20201-format.md):

- a station's extent, rows x row spacing and columns x column spacing, at most
  :data:`MAX_INPLANE_MM` (700 mm, the MAGNETOM Aera's bore; the protocol images a
  500 mm field of view, 224 columns of 2.232 mm), and n x slice spacing at most
  :data:`MAX_STATION_Z_MM` (500 mm, about twice the longest station, 256 mm);
- a slice spacing within :data:`SLICE_SPACING_RANGE_MM` (1 to 10 mm; the protocol uses
  3 to 4.5 mm, a missing slice widens it by a few per cent);
- the fused grid at most :data:`MAX_INPLANE_MM` wide in x and y and
  :data:`MAX_FUSED_Z_MM` (2,000 mm) long in z: the protocol covers about 1.1 m from
  neck to knee, no person's neck-to-knee span reaches 2 m, and the margin leaves room
  for stations that do not meet.

The fused grid must also be large enough for the image the procedure makes from it: more
than 2 x 4 slices (4 are dropped at each end) and more than 22 rows (the table is
cropped), else no image exists; and each station must keep more slices than the overlaps
it is blended over, else the blend has no slice to read.

Memory bound (``Limits.max_fused_voxels``): the fused grid, the placed stations
together, and any one station while it is resampled (the product over its axes of the
larger of its input and output sizes, which bounds every intermediate array of a
separable resampling in any axis order) each hold at most that many voxels.
"""

from __future__ import annotations

import numpy as np

from mimir.errors import SubjectError
from mimir.fusion.fuse import END_SLICES_DROPPED, trim_overlaps
from mimir.fusion.placement import OUTPUT_SPACING, Placement, place_stations
from mimir.fusion.stations import Station, StationSet
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.projection.image2d import TABLE_ROWS
from mimir.reading.checks import MAX_ABS_POSITION_MM

#: Largest in-plane extent of a station or of the fused grid (mm): the scanner's bore.
MAX_INPLANE_MM = 700.0
#: Largest extent of one station along z (mm).
MAX_STATION_Z_MM = 500.0
#: Largest extent of the fused grid along z (mm).
MAX_FUSED_Z_MM = 2000.0
#: Slice spacing accepted (mm).
SLICE_SPACING_RANGE_MM = (1.0, 10.0)
#: Fewest fused slices and rows from which the procedure makes an image.
MIN_FUSED_SLICES = 2 * END_SLICES_DROPPED + 1
MIN_FUSED_ROWS = TABLE_ROWS + 1


def _implausible(message: str) -> SubjectError:
    return SubjectError("implausible geometry", message)


def _label(st: Station) -> str:
    return f"series {st.series_number} ({st.name})"


def station_extent(st: Station) -> np.ndarray:
    """Extent of a station in mm: (rows x row spacing, columns x column spacing,
    n x slice spacing), as the procedure places it (dims x spacing)."""
    return np.asarray(st.shape, dtype=np.float64) * np.asarray(st.spacing, dtype=np.float64)


def check_station(st: Station) -> None:
    """Check one station's position, slice spacing and extent.

    Raises
    ------
    SubjectError
        ``implausible geometry``.
    """
    pos = np.asarray(st.position, dtype=np.float64)
    sp = np.asarray(st.spacing, dtype=np.float64)
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(sp))):
        raise _implausible(f"{_label(st)}: position {pos.tolist()} or spacing {sp.tolist()} "
                           "is not finite")
    if np.max(np.abs(pos)) > MAX_ABS_POSITION_MM:
        raise _implausible(f"{_label(st)}: position {pos.tolist()} lies more than "
                           f"{MAX_ABS_POSITION_MM:g} mm from the scanner's origin")
    lo, hi = SLICE_SPACING_RANGE_MM
    if not lo <= sp[2] <= hi:
        raise _implausible(f"{_label(st)}: slice spacing {sp[2]:g} mm is outside {lo:g} to "
                           f"{hi:g} mm")
    ext = station_extent(st)
    limits = (MAX_INPLANE_MM, MAX_INPLANE_MM, MAX_STATION_Z_MM)
    for axis, name in enumerate(("rows", "columns", "slices")):
        if ext[axis] > limits[axis]:
            raise _implausible(f"{_label(st)}: its {name} span {ext[axis]:.0f} mm, more than "
                               f"the {limits[axis]:.0f} mm a station can span")


def grid_shape(pl: Placement) -> tuple[int, int, int]:
    """Shape (rows, cols, n) of the fused grid before orientation: max ``W_end``."""
    rows, cols, n = (int(v) for v in np.max(pl.W_end, axis=0))
    return rows, cols, n


def resampling_voxels(dims: np.ndarray, W_size: np.ndarray) -> np.ndarray:
    """Largest array (voxels) that resampling each station can produce.

    Parameters
    ----------
    dims, W_size : ndarray, shape (S, 3)
        Input and placed sizes of each station.

    Returns
    -------
    ndarray of int, shape (S,)
        Product over the axes of the larger of input and placed size (0 for a station
        placed with a non-positive size).
    """
    dims = np.asarray(dims, dtype=np.int64)
    W_size = np.asarray(W_size, dtype=np.int64)
    out = np.prod(np.maximum(dims, W_size), axis=1)
    return np.where(np.all(W_size > 0, axis=1), out, 0)


def check_overlaps(pl: Placement) -> None:
    """Check that every station keeps more slices than each overlap it is blended over.

    The blend of two neighbours (section 6.2) reads slice ``o`` of the lower station and
    slice ``n - 1 - o`` of the upper one, ``o`` being their overlap after trimming: a
    station of ``o`` slices or fewer leaves nothing to blend with. (Protocol stations
    have 44 to 72 slices and overlaps of at most 8.)

    Raises
    ------
    SubjectError
        ``implausible geometry``.
    """
    trim = trim_overlaps(pl.W, pl.W_end, pl.W_size)
    kept = trim.W_size[:, 2]
    for i, o in enumerate(trim.overlaps):
        if o <= 0:
            continue
        for k in (i, i + 1):
            if kept[k] <= o:
                raise _implausible(f"stations {i + 1} and {i + 2} overlap by {o} slices, but "
                                   f"station {k + 1} keeps only {int(kept[k])}: too few "
                                   "to blend the overlap")


def check_placement(pl: Placement, dims: np.ndarray, limits: Limits) -> None:
    """Check the fused grid's extent and the voxel counts fusion will allocate.

    Raises
    ------
    SubjectError
        ``implausible geometry``.
    """
    rows, cols, n = grid_shape(pl)
    if n < MIN_FUSED_SLICES or rows < MIN_FUSED_ROWS or cols < 1:
        raise _implausible(f"the fused grid of {rows} x {cols} x {n} voxels is too small for "
                           f"an image (at least {MIN_FUSED_ROWS} rows and "
                           f"{MIN_FUSED_SLICES} slices: {END_SLICES_DROPPED} slices are "
                           f"dropped at each end and {TABLE_ROWS} rows of table)")
    mm = np.array([rows, cols, n], dtype=np.float64) * OUTPUT_SPACING
    for axis, (name, bound) in enumerate((("y", MAX_INPLANE_MM), ("x", MAX_INPLANE_MM),
                                          ("z", MAX_FUSED_Z_MM))):
        if mm[axis] > bound:
            raise _implausible(f"the fused grid spans {mm[axis]:.0f} mm along {name}, more "
                               f"than the {bound:.0f} mm a body in the scanner can span")
    cap = limits.max_fused_voxels
    checks = (("the fused grid", rows * cols * n),
              ("the placed stations together", int(np.sum(np.prod(
                  np.maximum(pl.W_size, 0), axis=1)))),
              ("resampling one station", int(np.max(resampling_voxels(dims, pl.W_size)))))
    for what, voxels in checks:
        if voxels > cap:
            raise _implausible(f"{what} would hold {voxels} voxels, more than the limit of "
                               f"{cap} (--max-fused-voxels)")
    check_overlaps(pl)


def check_geometry(ss: StationSet, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a subject's consistent stations before they are fused.

    Parameters
    ----------
    ss : StationSet
        From :func:`mimir.fusion.stations.make_consistent`.
    limits : Limits
        ``max_fused_voxels`` bounds what fusion allocates.

    Raises
    ------
    SubjectError
        ``implausible geometry``.
    """
    for st in list(ss.water) + list(ss.fat):
        check_station(st)
    P = np.stack([s.position for s in ss.water])
    dims = np.array([s.shape for s in ss.water], dtype=np.int64)
    sp = np.stack([s.spacing for s in ss.water])
    check_placement(place_stations(P, dims, sp), dims, limits)
