"""Hostile values of field-20201 header elements for the fuzz suite's ``header`` family:
positions, pixel spacings, unsigned-short layout values, sizes and pixel data lengths."""

from __future__ import annotations

import numpy as np


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def _hostile_number(rng) -> float:
    return float(rng.choice([np.nan, np.inf, -np.inf, 1e9, -1e9, 1e30, -1e30,
                             rng.uniform(5001, 1e7) * rng.choice([-1, 1])]))


def position_value(rng, pos: list[float], scope: str, dz: float,
                   z_top: float) -> tuple[str, str]:
    """A new ImagePositionPatient text for a slice at ``pos`` and what it is.

    ``z_top`` is the top slice's z of the series or station in scope. Station-wide
    values are consistent within the station but implausible: beyond the scanner's
    reach, a slice spacing over 10 mm, or a station far from the others.
    """
    x, y, z = pos
    options = ["coordinate", "all", "malformed", "zeros", "collapse"]
    if scope == "slice":
        options += ["z_off_grid", "xy_shift", "z_off_grid"]
    elif scope == "series":
        options += ["series_shift"]
    else:
        options += ["station_far_z", "station_far_x", "station_stretch"]
    what = str(rng.choice(options))
    if what == "coordinate":
        v = list(pos)
        v[int(rng.integers(3))] = _hostile_number(rng)
    elif what == "all":
        v = [float(rng.choice([1e9, -1e9]))] * 3
    elif what == "zeros":
        v = [0.0, 0.0, 0.0]
    elif what == "collapse":  # every slice in scope at one z (the caller passes the same)
        v = [x, y, -123.25]
    elif what == "z_off_grid":
        k = int(rng.integers(-3, 4))
        v = [x, y, z + dz * (k + rng.uniform(0.05, 0.95))]
    elif what == "xy_shift":
        v = list(pos)
        v[int(rng.integers(2))] += float(rng.uniform(0.05, 50)) * float(rng.choice([-1, 1]))
    elif what == "series_shift":
        v = [x, y, z + float(rng.uniform(1, 50))]
    elif what == "station_far_z":
        v = [x, y, z + float(rng.uniform(2100, 3800))]
    elif what == "station_far_x":
        v = [x + float(rng.uniform(800, 3000)) * float(rng.choice([-1, 1])), y, z]
    elif what == "station_stretch":
        v = [x, y, z_top + (z - z_top) * float(rng.uniform(10.5, 100)) / dz]
    else:
        return str(rng.choice(["abc\\def\\ghi", "", "1\\2", "1\\2\\3\\4", "1e999\\0\\0",
                               "nan\\nan\\nan", "\\\\"])), "malformed"
    return "\\".join(_fmt(c) for c in v), what


def spacing_value(rng, scope: str) -> str:
    """A PixelSpacing text: out of range, non-finite or malformed; for a single slice
    also plausible values that differ from the rest of its series."""
    pool = ["nan", "inf", "-inf", "0", "-2.23214293", "1e9", "1e-9", "0.1", "6", "50",
            "1e30", "abc", "2.23214293", "2.2\\2.2\\2.2", ""]
    if scope == "slice":
        pool += ["2.0\\2.0", "2.5\\2.23214293", "2.23214293\\2.2"]
    v = str(rng.choice(pool))
    if "\\" in v or v in ("", "2.23214293"):
        return v
    other = "2.23214293" if rng.random() < 0.5 else v
    return f"{v}\\{other}" if rng.random() < 0.5 else f"{other}\\{v}"


US_POOLS = {
    "SamplesPerPixel": [0, 2, 3, 65535],
    "BitsAllocated": [0, 1, 8, 12, 15, 17, 32, 64, 65535],
    "BitsStored": [0, 8, 12, 16, 17, 32, 65535],
    "PixelRepresentation": [1, 2, 65535],
}


def size_value(rng, original: int) -> int:
    """A Rows or Columns value other than ``original``."""
    pool = [0, 1, 2, original - 1, original + 1, 223, 225, 2 * original, original // 2,
            65535]
    return int(rng.choice([v for v in pool if v != original and 0 <= v <= 65535]))


def pixel_data_value(rng, raw: bytes) -> tuple[bytes, str]:
    n = len(raw)
    what = str(rng.choice(["cut1", "cut2", "cut_half", "empty", "extra1", "extra2",
                           "extra_row"]))
    cut = {"cut1": n - 1, "cut2": n - 2, "cut_half": n // 2, "empty": 0}.get(what)
    if cut is not None:
        return raw[:cut], what
    extra = {"extra1": 1, "extra2": 2, "extra_row": 448}[what]
    return raw + bytes(extra), what
