"""Consistency checks of water and fat slices (untrusted DICOM headers).

A header value that is wrong but parseable (a pixel layout other than field 20201's, a
pixel-data element of the wrong length, a NaN or absurd PixelSpacing, a position
1,000 km from the scanner) would otherwise flow into the fused volumes and give a
garbage image, or an absurd grid. These checks turn such values into a failure of the
subject that names the zip member.

- :func:`check_slice` (one slice, before its pixels are decoded): the pixel layout of
  field 20201 (SamplesPerPixel 1, BitsAllocated 16, BitsStored at most 16,
  PixelRepresentation 0), a pixel-data length of exactly Rows x Columns x
  BitsAllocated / 8 bytes, finite positions within :data:`MAX_ABS_POSITION_MM` of the
  origin and finite PixelSpacing within :data:`PIXEL_SPACING_RANGE_MM`; after decoding,
  :func:`check_pixel_values` (every value fits in BitsStored). A violation is
  ``corrupt dicom``. Both DICOM readers (the fast one and the pydicom fallback) call
  them and decode uncompressed pixel data the same way, so they apply the same rules
  and give the same pixels.
- :func:`check_series` (all slices of a subject, grouped by SeriesNumber as the
  procedure groups them): one matrix size and one PixelSpacing per series, one x and y
  position per series (axial stacks move only along z), distinct z positions evenly
  spaced within :data:`Z_TOLERANCE_MM`. A gap of a whole number of spacings is a
  missing slice (a known irregularity of the cohort): it is accepted exactly as the
  procedure accepts it, and recorded as a warning. A violation is
  ``inconsistent stations``.

Both also run the checks of :mod:`mimir.reading.headers` (fields that change what the
pixels mean: orientation, photometric interpretation, frames, high bit, rescale, one
patient and study per zip).

Clean field-20201 input passes every check unchanged: the checks only decide whether a
subject is processed, never what its image is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mimir.errors import SubjectError
from mimir.notes import Note
from mimir.reading.headers import check_slice_meaning, check_subject_meaning

#: Pixel layout of field 20201 (uint16 samples, one per pixel).
SAMPLES_PER_PIXEL = 1
BITS_ALLOCATED = 16
PIXEL_REPRESENTATION = 0
#: PixelSpacing accepted (mm): the protocol's 2.232 mm is inside with a wide margin
#: (from under a quarter to over twice it); 0, negatives, NaN or 1e9 are not.
PIXEL_SPACING_RANGE_MM = (0.5, 5.0)
#: No coordinate of a patient on the table lies further than this from the scanner's
#: origin (the isocentre): UK Biobank positions span about -1,100 to +100 mm.
MAX_ABS_POSITION_MM = 5000.0
#: x and y may differ within a series by this fraction of a pixel: below the 0.01 output
#: voxel from which the procedure resamples a station (real stacks share them exactly).
XY_TOLERANCE_PIXELS = 0.01
#: Slice gaps must be whole multiples of the series' spacing within this many mm
#: (real positions are evenly spaced to a few 1e-5 mm; float32 adds at most 5e-4 mm
#: at 5 m).
Z_TOLERANCE_MM = 0.01


def _fail(message: str) -> SubjectError:
    return SubjectError("corrupt dicom", message)


def check_pixel_layout(samples_per_pixel: int | None, bits_allocated: int | None,
                       bits_stored: int | None, pixel_representation: int | None) -> None:
    """Require the pixel layout field 20201 uses.

    Raises
    ------
    SubjectError
        ``corrupt dicom`` naming the first tag that differs.
    """
    for name, value, want in (("SamplesPerPixel", samples_per_pixel, SAMPLES_PER_PIXEL),
                              ("BitsAllocated", bits_allocated, BITS_ALLOCATED),
                              ("PixelRepresentation", pixel_representation,
                               PIXEL_REPRESENTATION)):
        if value is None:
            raise _fail(f"{name} is missing (field 20201 has {want})")
        if value != want:
            raise _fail(f"{name} is {value}, field 20201 has {want}")
    if bits_stored is not None and not 1 <= bits_stored <= BITS_ALLOCATED:
        raise _fail(f"BitsStored is {bits_stored}, must be 1 to {BITS_ALLOCATED}")


def check_pixel_bytes(rows: int, cols: int, bits_allocated: int,
                      pixel_bytes: int | None) -> None:
    """Require exactly ``rows x cols x bits_allocated / 8`` bytes of pixel data.

    ``pixel_bytes`` is None where it cannot be known before decoding (encapsulated,
    compressed pixel data); the decoded array's shape is checked instead.
    """
    if rows < 1 or cols < 1:
        raise _fail(f"Rows x Columns is {rows} x {cols}")
    if pixel_bytes is None:
        return
    need = rows * cols * bits_allocated // 8
    if pixel_bytes != need:
        raise _fail(f"pixel data holds {pixel_bytes} bytes, Rows x Columns x BitsAllocated / 8 "
                    f"= {rows} x {cols} x {bits_allocated} / 8 = {need}")


def check_pixel_values(pixels: np.ndarray, bits_stored: int | None) -> None:
    """Require every (unsigned) pixel value to fit in ``bits_stored`` bits.

    Called on the decoded values, before any masking: a header claiming fewer bits than
    the data hold is inconsistent (pydicom would silently mask the excess away).
    """
    if bits_stored is None or bits_stored >= BITS_ALLOCATED or pixels.size == 0:
        return
    top = int(pixels.max())
    if top >= 1 << bits_stored:
        raise _fail(f"pixel value {top} does not fit in BitsStored = {bits_stored} bits")


def check_position(position: Sequence[float]) -> None:
    """Require three finite ImagePositionPatient values within the scanner's reach."""
    values = [float(v) for v in position]
    if len(values) != 3:
        raise _fail(f"ImagePositionPatient has {len(values)} values, not 3")
    if not all(math.isfinite(v) for v in values):
        raise _fail(f"ImagePositionPatient {values} is not finite")
    if max(abs(v) for v in values) > MAX_ABS_POSITION_MM:
        raise _fail(f"ImagePositionPatient {values} lies more than {MAX_ABS_POSITION_MM:g} mm "
                    "from the scanner's origin")


def check_pixel_spacing(spacing: Sequence[float]) -> None:
    """Require two finite PixelSpacing values within :data:`PIXEL_SPACING_RANGE_MM`."""
    values = [float(v) for v in spacing]
    lo, hi = PIXEL_SPACING_RANGE_MM
    if len(values) != 2:
        raise _fail(f"PixelSpacing has {len(values)} values, not 2")
    if not all(math.isfinite(v) and lo <= v <= hi for v in values):
        raise _fail(f"PixelSpacing {values} is outside {lo:g} to {hi:g} mm")


def check_slice(sl) -> None:
    """All checks of one slice, before its pixels are decoded.

    Parameters
    ----------
    sl : DicomSlice
        Header values of the slice (``pixels`` not yet decoded), including its pixel
        layout and the length of its pixel data.

    Raises
    ------
    SubjectError
        ``corrupt dicom`` (the caller fills in the subject and member).
    """
    check_pixel_layout(sl.samples_per_pixel, sl.bits_allocated, sl.bits_stored,
                       sl.pixel_representation)
    check_pixel_bytes(sl.rows, sl.cols, sl.bits_allocated, sl.pixel_bytes)
    check_position(sl.position)
    check_pixel_spacing(sl.spacing)
    check_slice_meaning(sl)


# series ---------------------------------------------------------------------------------

def _inconsistent(message: str, member: str | None) -> SubjectError:
    return SubjectError("inconsistent stations", message, member=member)


def slice_gaps(z: np.ndarray) -> tuple[float, np.ndarray]:
    """The spacing of a series' slices and each gap in multiples of it.

    Parameters
    ----------
    z : ndarray, shape (n,), n >= 2
        Slice positions sorted descending.

    Returns
    -------
    spacing : float
        The smallest gap (mm): missing slices only widen gaps; 0 when two slices share a
        position.
    steps : ndarray of float, shape (n - 1,)
        Each gap divided by the spacing (1 for neighbours, 2 across a missing slice).
    """
    gaps = -np.diff(z.astype(np.float64))
    spacing = float(np.min(gaps))
    if spacing <= 0:
        return spacing, np.zeros_like(gaps)
    return spacing, gaps / spacing


def _check_one_series(sn: int, slices: list, members: list[str]) -> list[str]:
    first = slices[0]
    label = f"series {sn} ({first.description})"
    for sl, m in zip(slices, members, strict=True):
        if (sl.rows, sl.cols) != (first.rows, first.cols):
            raise _inconsistent(f"{label} mixes slice sizes {first.rows} x {first.cols} and "
                                f"{sl.rows} x {sl.cols}", m)
        if not np.array_equal(sl.spacing, first.spacing):
            raise _inconsistent(f"{label} mixes PixelSpacing {first.spacing.tolist()} and "
                                f"{sl.spacing.tolist()}", m)
        tol = XY_TOLERANCE_PIXELS * float(np.min(first.spacing))
        if np.max(np.abs(sl.position[:2].astype(np.float64) - first.position[:2])) > tol:
            raise _inconsistent(f"{label}: slice at x, y = {sl.position[:2].tolist()}, the "
                                f"series' first slice at {first.position[:2].tolist()}", m)
    if len(slices) < 2:
        return []
    z = np.array([s.position[2] for s in slices], dtype=np.float32)
    order = np.argsort(-z, kind="stable")
    zs = z[order]
    same = np.flatnonzero(-np.diff(zs.astype(np.float64)) <= Z_TOLERANCE_MM)
    if len(same):
        k = int(same[0])
        raise _inconsistent(f"{label}: two slices at z = {float(zs[k + 1]):g} mm",
                            members[order[k + 1]])
    spacing, steps = slice_gaps(zs)
    warnings: list[str] = []
    for k, step in enumerate(steps):
        whole = round(float(step))
        gap = float(zs[k]) - float(zs[k + 1])
        if whole < 1 or abs(gap - whole * spacing) > Z_TOLERANCE_MM:
            m = members[order[k + 1]]
            raise _inconsistent(
                f"{label}: slices at z = {float(zs[k]):g} and {float(zs[k + 1]):g} mm are "
                f"{gap:g} mm apart, not a whole multiple of the series' spacing "
                f"{spacing:g} mm", m)
        if whole > 1:
            warnings.append(Note("slices_missing", f"{label}: {whole - 1} slice(s) missing "
                                 f"between z = {float(zs[k]):g} and {float(zs[k + 1]):g} mm"))
    return warnings


def check_series(slices: list, members: list[str]) -> list[str]:
    """Check every series of a subject's water and fat slices.

    Parameters
    ----------
    slices : list of DicomSlice
        The slices in manifest order.
    members : list of str
        The zip member of each slice.

    Returns
    -------
    list of str
        Warnings (missing slices, and those of
        :func:`mimir.reading.headers.check_subject_meaning`).

    Raises
    ------
    SubjectError
        ``inconsistent stations`` naming the first member that breaks a rule (a slice of
        another patient or study first).
    """
    warnings = check_subject_meaning(slices, members)
    by_series: dict[int, list[int]] = {}
    for i, sl in enumerate(slices):
        by_series.setdefault(sl.series_number, []).append(i)
    for sn in sorted(by_series):
        idx = by_series[sn]
        warnings += _check_one_series(sn, [slices[i] for i in idx], [members[i] for i in idx])
    return warnings
