"""Header fields the procedure does not read but that change what the pixels mean.

The procedure (preprocessing.md) reads pixel values as stored and places them assuming
field 20201's acquisition: axial slices whose rows run along +x and columns along +y,
grey values where more signal is brighter, one frame per file, and one participant's
scan per zip. A header that says otherwise contradicts the data the procedure would
make an image of, so it is checked, with the values as stored (the same text whichever
DICOM reader read them):

- :func:`check_slice_meaning` (one slice, before its pixels are decoded), each a
  ``corrupt dicom`` failure naming the member:

  - ImageOrientationPatient: six finite numbers, two unit vectors, and axial
    (1\\0\\0\\0\\1\\0 within :data:`ORIENTATION_TOLERANCE`); NaN, zeros, coronal,
    transposed or flipped orientations fail;
  - PhotometricInterpretation MONOCHROME2 (MONOCHROME1 inverts the grey scale; RGB and
    PALETTE COLOR are not grey values);
  - NumberOfFrames absent or 1;
  - HighBit equal to BitsStored - 1 (DICOM's rule), below BitsAllocated;
  - RescaleSlope and RescaleIntercept, where present: finite numbers, slope > 0.

- :func:`check_subject_meaning` (all water and fat slices of a zip, before the series'
  geometry is checked):

  - one PatientID and one StudyInstanceUID (a slice of another participant or visit
    fails the subject as ``inconsistent stations``, naming the first such member);
  - one orientation per series, present on all of its slices or on none
    (``inconsistent stations``); slices without one are accepted as the axial slices
    the procedure assumes, with the warning ``orientation_missing``;
  - one rescale (slope, intercept) for all slices (``inconsistent stations``: stored
    values on different scales cannot be fused); a rescale other than the identity is
    not applied, as the procedure reads stored values, and is recorded with the warning
    ``rescale_ignored``.

Absent PhotometricInterpretation, NumberOfFrames, HighBit and rescale are what the
procedure assumes and pass silently. Clean field-20201 input passes every check.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

from mimir.errors import SubjectError
from mimir.notes import Note

#: Direction cosines may differ from the axial 1\0\0\0\1\0 by this much: a tilt of
#: 0.06 degrees, under a quarter of a pixel across the 500 mm field of view.
ORIENTATION_TOLERANCE = 1e-3
#: Slices of one series may differ in orientation by this much (real stacks share it).
SERIES_ORIENTATION_TOLERANCE = 1e-4
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
PHOTOMETRIC = "MONOCHROME2"


def _corrupt(message: str) -> SubjectError:
    return SubjectError("corrupt dicom", message)


def _numbers(text: str, n: int | None, what: str) -> list[float]:
    parts = text.split("\\")
    try:
        values = [float(p.strip()) for p in parts]
    except ValueError:
        raise _corrupt(f"{what} {text[:60]!r} is not a list of numbers") from None
    if n is not None and len(values) != n:
        raise _corrupt(f"{what} {text[:60]!r} has {len(values)} values, not {n}")
    if not all(math.isfinite(v) for v in values):
        raise _corrupt(f"{what} {text[:60]!r} is not finite")
    return values


@functools.lru_cache(maxsize=64)
def orientation_values(text: str) -> tuple[float, ...]:
    """The six direction cosines of an ImageOrientationPatient text.

    Remembered for the last texts seen (a series' slices share one), so each is parsed
    once; a text that fails is not remembered and fails every time.

    Raises
    ------
    SubjectError
        ``corrupt dicom`` unless they are six finite numbers forming two orthogonal
        unit vectors along the axial directions (rows along +x, columns along +y).
    """
    v = _numbers(text, 6, "ImageOrientationPatient")
    row, col = v[:3], v[3:]
    norms = (math.sqrt(sum(x * x for x in row)), math.sqrt(sum(x * x for x in col)))
    if any(abs(n - 1) > ORIENTATION_TOLERANCE for n in norms):
        raise _corrupt(f"ImageOrientationPatient {text[:60]!r} is not two unit vectors")
    if max(abs(a - b) for a, b in zip(v, AXIAL, strict=True)) > ORIENTATION_TOLERANCE:
        raise _corrupt(f"ImageOrientationPatient {text[:60]!r} is not axial (field 20201 "
                       "has 1\\0\\0\\0\\1\\0: rows along +x, columns along +y); the "
                       "procedure would place the pixels wrongly")
    return tuple(v)


def check_slice_meaning(sl) -> None:
    """The per-slice checks of this module (see its docstring).

    Parameters
    ----------
    sl : DicomSlice
        With its header's text fields and pixel layout read.

    Raises
    ------
    SubjectError
        ``corrupt dicom`` (the caller fills in the subject and member).
    """
    if sl.orientation is not None:
        orientation_values(sl.orientation)
    if sl.photometric is not None and sl.photometric.strip() != PHOTOMETRIC:
        raise _corrupt(f"PhotometricInterpretation is {sl.photometric[:30]!r}, field 20201 "
                       f"has {PHOTOMETRIC} (grey values, more signal brighter)")
    if sl.frames is not None and sl.frames.strip() not in ("", "1"):
        raise _corrupt(f"NumberOfFrames is {sl.frames[:30]!r}, but the pixel data hold one "
                       "frame (field 20201 has one slice per file)")
    if sl.high_bit is not None:
        if sl.bits_stored is not None and sl.high_bit != sl.bits_stored - 1:
            raise _corrupt(f"HighBit is {sl.high_bit}, but BitsStored is {sl.bits_stored} "
                           "(HighBit must be BitsStored - 1)")
        if sl.bits_allocated is not None and sl.high_bit >= sl.bits_allocated:
            raise _corrupt(f"HighBit is {sl.high_bit}, beyond BitsAllocated "
                           f"{sl.bits_allocated}")
    slope, intercept = rescale(sl)
    if slope <= 0:
        raise _corrupt(f"RescaleSlope is {slope:g}: stored values would map to "
                       "constant or inverted grey values")


def rescale(sl) -> tuple[float, float]:
    """(slope, intercept) a slice declares; (1, 0) where absent.

    Raises
    ------
    SubjectError
        ``corrupt dicom`` for a value that is not one finite number.
    """
    slope = intercept = None
    if sl.rescale_slope not in (None, ""):
        (slope,) = _numbers(sl.rescale_slope, 1, "RescaleSlope")
    if sl.rescale_intercept not in (None, ""):
        (intercept,) = _numbers(sl.rescale_intercept, 1, "RescaleIntercept")
    return (1.0 if slope is None else slope), (0.0 if intercept is None else intercept)


def _inconsistent(message: str, member: str | None) -> SubjectError:
    return SubjectError("inconsistent stations", message, member=member)


def _one_value(slices: list, members: list[str], attr: str, what: str) -> None:
    """Require every slice to hold the same ``attr`` (absent counts as a value)."""
    values = [getattr(s, attr) for s in slices]
    counts = Counter(values)
    if len(counts) <= 1:
        return
    common = counts.most_common(1)[0][0]
    i = next(k for k, v in enumerate(values) if v != common)
    shown = "none" if values[i] is None else repr(values[i][:64])
    raise _inconsistent(f"slices of {len(counts)} different {what}s in one zip: this slice "
                        f"has {shown}, {counts[common]} slices have {common!r:.70}; a zip "
                        "holds one participant's scan", members[i])


def _series_orientation(slices: list, members: list[str]) -> list[int]:
    """Check one orientation per series; return the series without one."""
    by_series: dict[int, list[int]] = {}
    for i, s in enumerate(slices):
        by_series.setdefault(s.series_number, []).append(i)
    missing = []
    for sn in sorted(by_series):
        idx = by_series[sn]
        have = [i for i in idx if slices[i].orientation is not None]
        if not have:
            missing.append(sn)
            continue
        if len(have) < len(idx):
            i = next(i for i in idx if slices[i].orientation is None)
            raise _inconsistent(f"series {sn}: this slice has no ImageOrientationPatient, "
                                f"{len(have)} others of the series have one", members[i])
        text = slices[have[0]].orientation
        first = orientation_values(text)
        for i in have[1:]:
            if slices[i].orientation == text:
                continue  # the same text: the same values (real stacks)
            v = orientation_values(slices[i].orientation)
            if max(abs(a - b) for a, b in zip(v, first, strict=True)) > \
                    SERIES_ORIENTATION_TOLERANCE:
                raise _inconsistent(f"series {sn}: ImageOrientationPatient "
                                    f"{slices[i].orientation!r:.60} differs from the series' "
                                    f"{slices[have[0]].orientation!r:.60}", members[i])
    return missing


def check_subject_meaning(slices: list, members: list[str]) -> list[str]:
    """The checks of this module across a subject's water and fat slices.

    Returns
    -------
    list of str
        Warnings (``orientation_missing``, ``rescale_ignored``).

    Raises
    ------
    SubjectError
        ``inconsistent stations`` naming the first member that breaks a rule.
    """
    _one_value(slices, members, "patient_id", "PatientID")
    _one_value(slices, members, "study_uid", "StudyInstanceUID")
    warnings: list[str] = []
    missing = _series_orientation(slices, members)
    if missing:
        shown = ", ".join(map(str, missing[:6])) + (" ..." if len(missing) > 6 else "")
        warnings.append(Note("orientation_missing", f"series {shown}: no "
                             "ImageOrientationPatient; read as axial, as the procedure "
                             "assumes"))
    scales = [rescale(s) for s in slices]
    counts = Counter(scales)
    if len(counts) > 1:
        common = counts.most_common(1)[0][0]
        i = next(k for k, v in enumerate(scales) if v != common)
        raise _inconsistent(f"slices declare different rescales (slope, intercept): "
                            f"{scales[i]} here, {common} on {counts[common]} others; their "
                            "stored values are not on one scale", members[i])
    if scales and scales[0] != (1.0, 0.0):
        warnings.append(Note("rescale_ignored", f"slices declare RescaleSlope "
                             f"{scales[0][0]:g} and RescaleIntercept {scales[0][1]:g}; the "
                             "procedure uses the stored values, as the reference does"))
    return warnings
