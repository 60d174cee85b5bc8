"""Fusing consistent stations into oriented water and fat volumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimir.fusion.fuse import END_SLICES_DROPPED, Trim, apply_trim, fuse_prepared, trim_overlaps
from mimir.fusion.placement import (
    OUTPUT_SPACING,
    Placement,
    StationMap,
    StationResampler,
    place_stations,
    station_map,
)
from mimir.fusion.stations import Station, StationSet
from mimir.qc.measures import overlap_swap_scores


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

    Only the slices that survive the trim are computed. Values equal resampling the
    whole station in float64 and trimming it, then casting to float32.

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
            a = apply_trim(st.voxels, top, bottom)
            out.append(np.array(a, dtype=np.float32))
            edges.append(np.concatenate([a[:head], a[a.shape[0] - tail:]]))
            continue
        k = sm.shape[0] - top - bottom
        res = StationResampler(st.voxels, sm)
        if head + tail >= k:
            whole = res.into(np.empty((max(k, 0),) + sm.shape[1:]), top)
            out.append(whole.astype(np.float32))
            edges.append(np.concatenate([whole[:head], whole[k - tail:]]))
            continue
        a32 = np.empty((k,) + sm.shape[1:], dtype=np.float32)
        first = res.into(np.empty((head,) + sm.shape[1:]), top)
        res.into(a32[head:k - tail], top + head)
        last = res.into(np.empty((tail,) + sm.shape[1:]), top + k - tail)
        a32[:head] = first
        a32[k - tail:] = last
        out.append(a32)
        edges.append(np.concatenate([first, last]))
    return Prepared(stations=out, edges=edges)


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
    P = np.stack([s.position for s in ss.water])
    dims = np.array([s.shape for s in ss.water], dtype=np.int64)
    sp = np.stack([s.spacing for s in ss.water])
    pl = place_stations(P, dims, sp)
    trim = trim_overlaps(pl.W, pl.W_end, pl.W_size)
    warnings = []
    for i, o in enumerate(trim.raw_overlaps):
        if o <= 0:
            warnings.append(f"stations {i + 1} and {i + 2} do not meet (overlap {o} slices)")
    maps = station_maps(ss.water, pl)
    w_st = prepare_signal(ss.water, maps, trim)
    f_st = prepare_signal(ss.fat, maps, trim)
    swap = overlap_swap_scores(w_st.edges, f_st.edges, trim.overlaps)
    water = fuse_prepared(w_st.stations, trim)
    fat = fuse_prepared(f_st.stations, trim)
    return Fused(water=water, fat=fat, placement=pl, trim=trim,
                 affine=fused_affine(P, pl.W_end), warnings=warnings, swap_scores=swap)
