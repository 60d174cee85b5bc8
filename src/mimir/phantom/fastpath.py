"""Fused volumes of a phantom subject without writing or reading DICOM.

Training a module needs thousands of images; writing and re-reading a zip for each costs
seconds per subject. The fast path makes the very station images the subject's zip would
hold (same geometry, gains, edge-slice signal drop, bias field, noise stream and uint16
rounding: :func:`mimir.phantom.zipwrite.station_images`), builds the stations as the
reader would (positions and spacings as parsed from the DICOM text, float32 pixels) and
fuses them with the preprocessing code (placement, resampling, trimming, fading,
intensity correction). Only the DICOM encoding, the zip and the decoding are left out,
so a clean subject's fused volumes equal those of its zip.

An earlier version rendered the anatomy straight onto the 3 mm output grid. That skipped
the resampling of the 3.5-4.5 mm stations, which changes partial-volume edges, the
interpolated noise and with them the Otsu body mask, so its images were not those a
user's zips give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimir.fusion.pipeline import fuse_stations
from mimir.fusion.stations import Station, make_consistent
from mimir.phantom.geometry import PIXEL_SPACING_TEXT, StationGeometry, output_grid
from mimir.phantom.scanner import station_gains, to_uint16
from mimir.phantom.subject import PhantomSubject
from mimir.phantom.truth import measure_truth
from mimir.phantom.variants import CLEAN, Variants
from mimir.phantom.zipwrite import (
    _ds,
    _series_time,
    knee_cut_subject,
    station_images,
    subject_geometry,
    zip_name,
)


def truth_row(subject: PhantomSubject, seed: int, variants: Variants = CLEAN,
              instance: int = 2) -> dict:
    """The truth of a subject (at a visit: ``seed`` that visit's, see
    :func:`mimir.phantom.cohort.visits`) as written to ``truth.csv``."""
    stations = subject_geometry(subject, seed)
    if variants.knee_cut:
        subject = knee_cut_subject(subject, stations)
    grid = output_grid(stations)
    row = measure_truth(subject, grid)
    row["name"] = zip_name(subject.eid, instance).split(".")[0]
    return row


@dataclass
class FastSubject:
    """A subject's fused volumes (float64, (X, Y, Z)) and its truth; ``affine`` maps voxel
    indices to RAS+ mm."""

    name: str
    water: np.ndarray
    fat: np.ndarray
    truth: dict
    swap_scores: list
    affine: np.ndarray | None = None


def _station(st: StationGeometry, contrast: str, pixels: np.ndarray) -> Station:
    """The station the reader builds from this series' slices (positions parsed from
    the DICOM decimal strings as float32, slice spacing from the first and last z)."""
    z = np.array([np.float32(_ds(v)) for v in st.slice_z()], dtype=np.float32)
    dz = (np.max(z) - np.min(z)) / (st.n - 1)
    ps = np.float32(PIXEL_SPACING_TEXT)
    return Station(series_number=st.series_numbers()[contrast], name=st.description(contrast),
                   time=_series_time(st.time_s),
                   position=np.array([_ds(st.x0), _ds(st.y0), np.max(z)], dtype=np.float32),
                   voxels=pixels.astype(np.float32), spacing=np.array([ps, ps, dz],
                                                                      dtype=np.float32))


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
        Also measure the truth (as ``truth.csv`` has it).
    swap : int, optional
        Exchange water and fat of this station (1-6), as the ``swap`` variant does.
    swap_scores : bool
        Also return the overlap fat-fraction agreement QC uses to detect swaps.

    Returns
    -------
    FastSubject
    """
    stations = subject_geometry(subject, seed)
    body = knee_cut_subject(subject, stations) if knee_cut else subject
    # the zip writer's noise stream and gains, consumed in the same order
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject.eid, 1]))
    gains = station_gains(seed, subject.eid)
    series = []
    for st in stations:
        w, f = station_images(body, st, float(gains[st.index - 1]), rng)
        if swap == st.index:
            w, f = f, w
        series += [_station(st, "F", to_uint16(f)), _station(st, "W", to_uint16(w))]
    series.sort(key=lambda s: s.series_number)
    fused = fuse_stations(make_consistent(series))
    truth = {}
    if with_truth:
        truth = truth_row(subject, seed, Variants(knee_cut=True) if knee_cut else CLEAN)
        truth.pop("name")
    return FastSubject(name=zip_name(subject.eid).split(".")[0], water=fused.water,
                       fat=fused.fat, truth=truth,
                       swap_scores=fused.swap_scores if swap_scores else [],
                       affine=fused.affine)


def fast_image(subject: PhantomSubject, seed: int, knee_cut: bool = False):
    """The 2D image (uint8, (3, 256, 256)) and truth of a subject via the fast path."""
    from mimir.pipeline.subject import process_volumes  # lazy: imports cv2

    fs = fast_subject(subject, seed, knee_cut=knee_cut)
    image, _ = process_volumes(fs.water, fs.fat)
    return image, fs.truth
