"""Fusing consistent stations into oriented water and fat volumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimir.fusion.fuse import END_SLICES_DROPPED, Trim, apply_trim, fuse_signal, trim_overlaps
from mimir.fusion.placement import OUTPUT_SPACING, Placement, place_stations, resample_station
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


def _prepare(stations: list[Station], pl: Placement, trim: Trim) -> list[np.ndarray]:
    out = []
    for i, st in enumerate(stations):
        a = st.voxels
        if pl.resample[i]:
            a = resample_station(a, pl.R[i], pl.R_end[i], pl.W[i], pl.W_size[i])
        out.append(apply_trim(a, int(trim.cut_top[i]), int(trim.cut_bottom[i])))
    return out


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
    w_st = _prepare(ss.water, pl, trim)
    f_st = _prepare(ss.fat, pl, trim)
    swap = overlap_swap_scores(w_st, f_st, trim.overlaps)
    water = fuse_signal(w_st, trim)
    fat = fuse_signal(f_st, trim)
    return Fused(water=water, fat=fat, placement=pl, trim=trim,
                 affine=fused_affine(P, pl.W_end), warnings=warnings, swap_scores=swap)
