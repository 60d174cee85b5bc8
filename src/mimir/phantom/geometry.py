"""The scanner's six stations for a phantom subject (ukb-20201-format.md).

Station k (1 = neck ... 6 = knees) holds series 4k-3 .. 4k (in, opp, F, W). Stations
overlap by 35-40 mm, with sub-voxel offsets relative to the 3 mm output grid so that
fusion's resampling is exercised; positions are chosen away from rounding ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (rows, slices, slice spacing in mm) per station, from the format document.
STATION_TABLE = ((168, 64, 3.0), (174, 44, 4.5), (174, 44, 4.5), (174, 44, 4.5),
                 (162, 72, 3.5), (156, 64, 4.0))
COLS = 224
#: PixelSpacing as written in the DICOM files (500 mm / 224).
PIXEL_SPACING_TEXT = "2.23214293"
PIXEL_SPACING = 500.0 / 224.0
CONTRASTS = ("in", "opp", "F", "W")
OUTPUT_DZ = 3.0


@dataclass(frozen=True)
class StationGeometry:
    """One station's acquisition geometry.

    Attributes
    ----------
    index : int
        1 (neck) .. 6 (knees).
    rows, cols, n : int
        Matrix and number of slices.
    dz : float
        Slice spacing in mm.
    x0, y0 : float
        Position of the first pixel (mm).
    z_top : float
        z of the top (head-most) slice; slice j lies at ``z_top - j * dz``.
    time_s : float
        Acquisition time, seconds after the session start.
    """

    index: int
    rows: int
    cols: int
    n: int
    dz: float
    x0: float
    y0: float
    z_top: float
    time_s: float

    def slice_z(self) -> np.ndarray:
        """z of every slice, top first."""
        return self.z_top - self.dz * np.arange(self.n)

    def series_numbers(self) -> dict[str, int]:
        """Series number of each contrast (in, opp, F, W)."""
        return {c: 4 * self.index - 3 + i for i, c in enumerate(CONTRASTS)}

    def description(self, contrast: str) -> str:
        """SeriesDescription of a contrast of this station."""
        bh = "Dixon_BH_17s_" if 2 <= self.index <= 4 else "Dixon_noBH_"
        return bh + contrast


def _fmt(v: float) -> float:
    """Round a coordinate to what the DICOM decimal string will hold."""
    return float(f"{v:.4f}")


def _tie_free(values: np.ndarray) -> bool:
    """No value near a rounding tie or the 0.01 resampling threshold."""
    frac = np.abs(values - np.round(values))
    return bool(np.all((frac < 0.45) & ((frac < 0.005) | (frac > 0.015))))


def scan_geometry(rng: np.random.Generator) -> list[StationGeometry]:
    """Draw the six stations' geometry for one subject."""
    while True:
        z_top = _fmt(60.0 + rng.uniform(-4, 4))
        tops = [z_top]
        for k in range(5):
            rows, n, dz = STATION_TABLE[k]
            bottom = tops[-1] - n * dz
            tops.append(_fmt(bottom + rng.uniform(35.0, 40.0)))
        tops_a = np.array(tops)
        r = (tops_a[0] - tops_a) / OUTPUT_DZ
        r_end = r + np.array([n * dz for _, n, dz in STATION_TABLE]) / OUTPUT_DZ
        if _tie_free(r) and _tie_free(r_end):
            break
    stations = []
    t = 0.0
    for k, ((rows, n, dz), zt) in enumerate(zip(STATION_TABLE, tops, strict=True)):
        t += 55.0 + rng.uniform(0, 20)
        stations.append(StationGeometry(
            index=k + 1, rows=rows, cols=COLS, n=n, dz=dz,
            x0=_fmt(-112 * PIXEL_SPACING), y0=_fmt(-(rows / 2) * PIXEL_SPACING),
            z_top=zt, time_s=t))
    return stations


@dataclass(frozen=True)
class OutputGrid:
    """The fused output grid of a subject (before orientation), per axis coordinates.

    ``z[k] = z_top - 3 k`` for fused slice k (top first); rows and columns as the
    widest station.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def output_grid(stations: list[StationGeometry]) -> OutputGrid:
    """Coordinates of the fused grid the stations are placed on."""
    bottom = min(s.z_top - s.n * s.dz for s in stations)
    top = stations[0].z_top
    nz = int(round((top - bottom) / OUTPUT_DZ))
    rows = max(s.rows for s in stations)
    y0 = min(s.y0 for s in stations)
    x = stations[0].x0 + PIXEL_SPACING * np.arange(COLS)
    y = y0 + PIXEL_SPACING * np.arange(rows)
    z = top - OUTPUT_DZ * np.arange(nz)
    return OutputGrid(x=x, y=y, z=z)
