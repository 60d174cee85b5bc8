"""The zip-to-2D procedure for one subject (preprocessing.md, all sections).

:func:`preprocess_subject` is the single entry point used by every driver (CLI,
batch workers, Dask tasks). It returns a :class:`SubjectResult` or raises
:class:`mimir.errors.SubjectError`; no other exception escapes for bad input.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mimir.errors import SubjectError
from mimir.fusion import Fused, fuse_stations
from mimir.fusion.fuse import station_extents
from mimir.fusion.stations import group_stations, make_consistent
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.pipeline.bounds import check_geometry
from mimir.pipeline.stream import fuse_and_sum
from mimir.projection.fractions import fat_fraction, otsu_thresholds
from mimir.projection.image2d import TABLE_ROWS, crop_table, image_from_sweeps
from mimir.projection.passes import SumSweep, mask_sweep, sum_sweep
from mimir.qc.facts import SubjectFacts
from mimir.qc.measures import coverage_from_counts
from mimir.reading.archive import SubjectArchive, subject_name
from mimir.reading.slices import read_water_fat


@dataclass
class SubjectResult:
    """What preprocessing produced for one subject.

    Attributes
    ----------
    name : str
        Subject name (zip name up to its first ``.``).
    image : ndarray, uint8, shape (3, 256, 256)
    warnings : list of str
        Everything irregular that did not fail the subject.
    facts : dict
        Measured facts about the input (stations found, superimposed stations,
        crops, overlaps, ...), used by quality control.
    volumes : dict or None
        With ``keep_volumes``: ``water``, ``fat``, ``ff`` (per mille), ``mask`` and
        ``affine``.
    timings : dict
        Seconds per stage: ``read``, ``fuse`` (without ``keep_volumes`` this includes
        the signal-sum sweep, which fusion streams into) and ``project``.
    """

    name: str
    image: np.ndarray
    warnings: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    volumes: dict | None = None
    timings: dict = field(default_factory=dict)


def process_volumes(water: np.ndarray, fat: np.ndarray,
                    keep_ff: bool = False) -> tuple[np.ndarray, dict]:
    """Sections 7-8 on fused volumes: fat fraction, mask and the 2D image.

    Parameters
    ----------
    water, fat : ndarray, shape (X, Y, Z)
        Fused volumes.
    keep_ff : bool
        Also return the whole fat-fraction volume (otherwise only the two planes the
        image uses are computed).

    Returns
    -------
    image : ndarray, uint8 (3, 256, 256)
    extra : dict
        ``mask``, ``threshold``, ``planes`` and, with ``keep_ff``, ``ff``.

    Raises
    ------
    SubjectError
        ``numerical failure`` when no finite image results.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sums = sum_sweep(water, fat, TABLE_ROWS)
        cropped = crop_table(fat)
        image, extra = finish_image(sums, lambda p: (cropped[:, p[0], :], cropped[p[1], :, :]))
        if keep_ff:
            extra["ff"] = fat_fraction(fat, sums.total)
    return image, extra


def finish_image(sums: SumSweep, fat_planes) -> tuple[np.ndarray, dict]:
    """Sections 7-8 after the sum sweep: Otsu threshold, mask and the 2D image.

    Parameters
    ----------
    sums : SumSweep
        Made with ``crop=TABLE_ROWS``.
    fat_planes : callable
        ``fat_planes((y, x))``: the coronal plane y and the sagittal plane x of the
        table-cropped fat volume (see :func:`mimir.projection.image2d.image_from_sweeps`).

    Returns
    -------
    image, extra
        As :func:`process_volumes` (without ``ff``).
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        total = sums.total
        t = float(np.mean(otsu_thresholds(total, sums.lo, sums.hi)))
        masks = mask_sweep(total, t, TABLE_ROWS)
        try:
            image, info = image_from_sweeps(fat_planes, total, sums, masks)
        except FloatingPointError as exc:
            raise SubjectError("numerical failure", f"no finite image: {exc}") from None
        extra = {"mask": masks.mask, "threshold": t, "planes": info["planes"],
                 "coverage": coverage_from_counts(masks.area, masks.lateral, masks.anterior)}
    return image, extra


def preprocess_subject(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS,
                       keep_volumes: bool = False) -> SubjectResult:
    """Run the whole zip-to-2D procedure for one subject.

    Parameters
    ----------
    path : path-like
        The subject's field-20201 zip.
    limits : Limits
        Resource limits for the untrusted zip.
    keep_volumes : bool
        Also return the fused volumes, fat fraction and mask.

    Returns
    -------
    SubjectResult

    Raises
    ------
    SubjectError
        For any input the procedure cannot use; its ``subject`` is filled in.
    """
    name = subject_name(path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        with SubjectArchive(path, limits) as archive:
            read = read_water_fat(archive)
        timings["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        stations = group_stations(read.slices)
        del read.slices
        ss = make_consistent(stations)
        check_geometry(ss, limits)
        # without volumes to return, fusion streams into the first sweep (same numbers)
        streamed = None if keep_volumes else fuse_and_sum(ss, TABLE_ROWS)
        fusion: dict[str, Any]
        if streamed is None:
            fused: Fused = fuse_stations(ss)
            timings["fuse"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            image, extra = process_volumes(fused.water, fused.fat, keep_ff=keep_volumes)
            fusion = {"warnings": fused.warnings, "overlaps": fused.trim.raw_overlaps,
                      "shape": fused.water.shape, "swap_scores": fused.swap_scores,
                      "trim": fused.trim}
        else:
            timings["fuse"] = time.perf_counter() - t1  # the sum sweep included
            t2 = time.perf_counter()
            image, extra = finish_image(streamed.sums, streamed.fat)
            g = streamed.geometry
            fusion = {"warnings": g.warnings, "overlaps": g.trim.raw_overlaps,
                      "shape": streamed.shape, "swap_scores": streamed.swap_scores,
                      "trim": g.trim}
        timings["project"] = time.perf_counter() - t2
    except SubjectError as exc:
        raise exc.with_subject(name) from None
    except MemoryError:
        raise SubjectError("limit exceeded", "out of memory while preprocessing",
                           subject=name) from None
    except (ValueError, IndexError, FloatingPointError, ZeroDivisionError) as exc:
        raise SubjectError("numerical failure", f"{type(exc).__name__}: {exc}",
                           subject=name) from None
    warnings = read.warnings + ss.warnings + fusion["warnings"]
    facts = SubjectFacts(
        source=read.source,
        water_stations=len(ss.water),
        superimposed=ss.notes["superimposed"],
        cropped=ss.notes["cropped"],
        overlaps=list(fusion["overlaps"]),
        shape=list(fusion["shape"]),
        threshold=extra["threshold"],
        planes=list(extra["planes"]),
        swap_scores=fusion["swap_scores"],
        **extra["coverage"],
        extra={"station_slices": station_extents(fusion["trim"])},  # for the report's outlines
    ).to_dict()
    result = SubjectResult(name=name, image=image, warnings=warnings, facts=facts,
                           timings=timings)
    if keep_volumes:
        result.volumes = {"water": fused.water, "fat": fused.fat, "ff": extra["ff"],
                          "mask": extra["mask"], "affine": fused.affine}
    return result
