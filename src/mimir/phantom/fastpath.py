"""Fused volumes of a phantom subject made directly on the output grid.

Training a module needs thousands of images; writing and re-reading DICOM zips for
each would cost seconds per subject. The fast path renders the subject once on the
fused 2.232 x 2.232 x 3 mm grid, cuts it into the same six stations the zip path
acquires (same geometry, gains, edge-slice signal drop, bias field and noise model),
and fuses them with the same code as preprocessing (trimming, fading, intensity
correction). The result is oriented as after fusion (x = left-right, y =
anterior-posterior, z = foot to head) and describes the same body as the subject's zip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimir.fusion.fuse import fuse_signal, trim_overlaps
from mimir.fusion.placement import OUTPUT_SPACING, place_stations
from mimir.phantom.anatomy import render, signals
from mimir.phantom.geometry import PIXEL_SPACING, StationGeometry
from mimir.phantom.scanner import acquire, bias_field, edge_factor, station_gains
from mimir.phantom.subject import PhantomSubject
from mimir.phantom.truth import measure_truth
from mimir.phantom.zipwrite import knee_cut_subject, subject_geometry, zip_name
from mimir.qc.measures import overlap_swap_scores


@dataclass
class FastSubject:
    """A subject's fused volumes (float64, (X, Y, Z)) and its truth."""

    name: str
    water: np.ndarray
    fat: np.ndarray
    truth: dict
    swap_scores: list


def station_arrays(stations: list[StationGeometry]):
    """Positions (float32), dims (rows, cols, n) and spacings (float32) of stations."""
    P = np.array([[s.x0, s.y0, s.z_top] for s in stations], dtype=np.float32)
    dims = np.array([[s.rows, s.cols, s.n] for s in stations], dtype=np.int64)
    sp = np.array([[PIXEL_SPACING, PIXEL_SPACING, s.dz] for s in stations], dtype=np.float32)
    return P, dims, sp


def fast_subject(subject: PhantomSubject, seed: int, knee_cut: bool = False,
                 with_truth: bool = True, swap: int | None = None,
                 swap_scores: bool = False) -> FastSubject:
    """Fused water and fat volumes of ``subject`` without writing DICOM.

    Parameters
    ----------
    subject : PhantomSubject
    seed : int
        The cohort seed (fixes geometry and noise, as for the zip).
    knee_cut : bool
        Position the subject as the ``knee_cut`` variant does.
    with_truth : bool
        Also measure the truth (reusing the rendered labels).
    swap : int, optional
        Exchange water and fat of this station (1-6), as the ``swap`` variant does.
    swap_scores : bool
        Also compute the overlap fat-fraction agreement QC uses to detect swaps.

    Returns
    -------
    FastSubject
    """
    stations = subject_geometry(subject, seed)
    if knee_cut:
        subject = knee_cut_subject(subject, stations)
    P, dims, sp = station_arrays(stations)
    pl = place_stations(P, dims, sp)
    trim = trim_overlaps(pl.W, pl.W_end, pl.W_size)
    rows, cols, nz = (int(v) for v in np.max(pl.W_end, axis=0))
    y0 = min(st.y0 for st in stations)
    x = stations[0].x0 + PIXEL_SPACING * np.arange(cols)
    y = y0 + PIXEL_SPACING * np.arange(rows)
    z = stations[0].z_top - OUTPUT_SPACING[2] * np.arange(nz)
    r = render(subject, x, y, z)
    w_all, f_all, ff = signals(subject, r)
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject.eid, 2]))
    gains = station_gains(seed, subject.eid)
    ws, fs = [], []
    for i, st in enumerate(stations):
        z0, z1 = int(trim.W[i, 2]), int(trim.W_end[i, 2])
        r0, r1 = int(trim.W[i, 0]), int(trim.W_end[i, 0])
        c0, c1 = int(trim.W[i, 1]), int(trim.W_end[i, 1])
        j = (st.z_top - z[z0:z1]) / st.dz  # position in the station's own slices
        factor = edge_factor(np.minimum(j, st.n - 1 - j))
        w, f = acquire(w_all[z0:z1, r0:r1, c0:c1], f_all[z0:z1, r0:r1, c0:c1],
                       float(gains[i]), bias_field(x[c0:c1], y[r0:r1]), factor, rng)
        if swap == st.index:
            w, f = f, w
        ws.append(w)
        fs.append(f)
    scores = overlap_swap_scores(ws, fs, trim.overlaps) if swap_scores else []
    water = fuse_signal(ws, trim)
    fat = fuse_signal(fs, trim)
    truth = measure_truth(subject, None, rendered=r, ff=ff) if with_truth else {}
    return FastSubject(name=zip_name(subject.eid).split(".")[0], water=water, fat=fat,
                       truth=truth, swap_scores=scores)


def fast_image(subject: PhantomSubject, seed: int, knee_cut: bool = False):
    """The 2D image (uint8, (3, 256, 256)) and truth of a subject via the fast path."""
    from mimir.pipeline.subject import process_volumes

    fs = fast_subject(subject, seed, knee_cut=knee_cut)
    image, _ = process_volumes(fs.water, fs.fat)
    return image, fs.truth
