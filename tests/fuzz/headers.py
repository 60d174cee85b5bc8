"""Fuzz families of the header fields that change what the pixels mean (issue #26):
orientation, photometric interpretation, frames, high bit, rescale, and a foreign
patient's slice.

Each re-encodes one field on one slice, a series, a station (water and fat) or every
water and fat slice, with a value drawn from hostile, contradicting and harmless ones
(a quarter of the cases also lose the preamble, so the pydicom fallback reads them). A
contradiction must fail the subject with a named kind; a harmless value (the field
removed, MONOCHROME2 with a trailing space, a rescale of 1 and 0, the same rescale on
every slice, which the procedure does not apply) must leave the image equal.
"""

from __future__ import annotations

from tests.fuzz.recode import get_value, set_value, strip_preamble
from tests.fuzz.zipedit import Edit, Mutation

ORIENTATIONS = ["nan\\0\\0\\0\\1\\0", "inf\\0\\0\\0\\1\\0", "0\\0\\0\\0\\0\\0",
                "1\\0\\0\\0\\0\\-1", "0\\1\\0\\0\\0\\-1", "0\\1\\0\\1\\0\\0",
                "-1\\0\\0\\0\\1\\0", "1\\0\\0\\0\\-1\\0", "1\\0\\0", "a\\b\\c\\d\\e\\f",
                "0.7071\\0.7071\\0\\-0.7071\\0.7071\\0", "2\\0\\0\\0\\2\\0", "",
                None, "1\\0\\0\\0\\1\\0", "1.0\\0.0\\0.0\\0.0\\1.0\\0.0"]
PHOTOMETRIC = ["MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "", "monochrome2",
               None, "MONOCHROME2 "]
FRAMES = ["2", "0", "3", "-1", "x", "1e3", None, "1", ""]
HIGH_BITS = [99, 0, 15, 16, 10, 12, 65535, None, 11]
RESCALES = [("0", None), ("-1", None), ("nan", None), ("inf", None), ("1e999", None),
            ("abc", None), (None, "nan"), (None, "-inf"), ("2", "-5"), ("0.5", None),
            ("1", "0"), ("1", None)]


def _targets(rng, base, scope: str) -> list[str]:
    sn = base.info[base.wf[int(rng.integers(len(base.wf)))]][0]
    if scope == "slice":
        ms = base.series_members(sn)
        return [ms[int(rng.integers(len(ms)))]]
    if scope == "series":
        return base.series_members(sn)
    if scope == "station":
        return [m for s in base.station_series(sn) for m in base.series_members(s)]
    return list(base.wf)


def _edit(rng, base, family: str, fields: dict, scope: str | None = None):
    """Set ``fields`` (name -> value; None removes) on the members in a drawn scope."""
    ed = Edit(base)
    scope = scope or str(rng.choice(["slice", "slice", "series", "station", "every"]))
    targets = _targets(rng, base, scope)
    fallback = rng.random() < 0.25
    for m in targets:
        buf = ed.get(m)
        for name, value in fields.items():
            buf = set_value(buf, name, value)
        ed.put(m, strip_preamble(buf) if fallback else buf)
    shown = ", ".join(f"{k} {'removed' if v is None else repr(v)}" for k, v in fields.items())
    return Mutation(family, f"{shown} on {scope} ({len(targets)} member(s))"
                    f"{' via pydicom' if fallback else ''}", ed.zip())


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def fam_orientation(rng, base):
    return _edit(rng, base, "orientation", {"ImageOrientationPatient": _pick(rng, ORIENTATIONS)})


def fam_photometric(rng, base):
    return _edit(rng, base, "photometric",
                 {"PhotometricInterpretation": _pick(rng, PHOTOMETRIC)})


def fam_frames(rng, base):
    return _edit(rng, base, "frames", {"NumberOfFrames": _pick(rng, FRAMES)})


def fam_high_bit(rng, base):
    return _edit(rng, base, "high_bit", {"HighBit": _pick(rng, HIGH_BITS)})


def fam_rescale(rng, base):
    slope, intercept = _pick(rng, RESCALES)
    return _edit(rng, base, "rescale", {"RescaleSlope": slope, "RescaleIntercept": intercept})


def fam_foreign_slice(rng, base):
    """One water or fat slice of another participant or visit: its PatientID or
    StudyInstanceUID changed or removed, sometimes its pixels from another slice too."""
    ed = Edit(base)
    m = base.wf[int(rng.integers(len(base.wf)))]
    field = str(rng.choice(["PatientID", "PatientID", "StudyInstanceUID"]))
    value = _pick(rng, [None, "9999999", "1000001", "1.2.826.0.1.3680043.10.1020.99"])
    buf = set_value(ed.get(m), field, value)
    pixels = rng.random() < 0.5
    if pixels:  # the pixel data of another slice of the zip, where it is the same size
        other = base.wf[int(rng.integers(len(base.wf)))]
        px = get_value(ed.get(other), "PixelData")
        if px is not None and len(px) == len(get_value(buf, "PixelData") or b""):
            buf = set_value(buf, "PixelData", px)
    ed.put(m, buf)
    return Mutation("foreign_slice", f"{field} {'removed' if value is None else value!r} on "
                    f"{m}{' with other pixels' if pixels else ''}", ed.zip())


#: family -> (weight, maker); the outcomes allowed are in tests.fuzz.engine.FAMILIES
MAKERS = {"orientation": (5, fam_orientation), "photometric": (3, fam_photometric),
          "frames": (3, fam_frames), "high_bit": (3, fam_high_bit),
          "rescale": (4, fam_rescale), "foreign_slice": (4, fam_foreign_slice)}
