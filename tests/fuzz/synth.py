"""Synthetic subjects of any geometry, written fast (for memory and bounds tests).

Unlike the phantom writer (an anatomy rendered into the real protocol's geometry),
this writes simple images (an ellipse of water with a ring of fat) into whatever
geometry a test asks for: many slices, large matrices, stations far apart. Every
member is a field-20201 style DICOM slice (:func:`mimir.phantom.dicomwrite.encode_slice`)
and the zip has a ``manifest.cvs`` with the shifted date column.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimir.phantom.dicomwrite import encode_slice

MANIFEST_HEADER = "filename,patientid,studyid,aet,date,series discription,uncompressed size"
DATE = "Aug 30, 2015 10:11:12 AM"


@dataclass(frozen=True)
class StationSpec:
    """Geometry of one synthetic station (its water and fat series).

    ``z_top`` is the head-most slice; slice j lies at ``z_top - j * dz``.
    """

    rows: int
    cols: int
    n: int
    dz: float
    z_top: float
    spacing: float = 500.0 / 224.0
    x0: float = -250.0
    y0: float = -190.0


def _images(spec: StationSpec) -> tuple[np.ndarray, np.ndarray]:
    """Water and fat images (uint16, rows x cols) of an ellipse body."""
    yy, xx = np.mgrid[0:spec.rows, 0:spec.cols]
    r = ((yy - spec.rows / 2) / (0.4 * spec.rows)) ** 2 + \
        ((xx - spec.cols / 2) / (0.4 * spec.cols)) ** 2
    water = np.where(r < 0.8, 600, np.where(r < 1.0, 80, 5)).astype(np.uint16)
    fat = np.where(r < 0.8, 60, np.where(r < 1.0, 500, 5)).astype(np.uint16)
    return water, fat


def _slice(spec: StationSpec, sn: int, desc: str, j: int, px: np.ndarray) -> bytes:
    z = spec.z_top - spec.dz * j
    sp = f"{spec.spacing:.8f}"
    header = [(0x00080031, "TM", f"10{sn:02d}00.000000"), (0x0008103E, "LO", desc),
              (0x0020000E, "UI", f"1.2.826.0.1.3680043.10.1020.{sn}"),
              (0x00200011, "IS", str(sn)), (0x00200013, "IS", str(j + 1)),
              (0x00200032, "DS", f"{spec.x0:.4f}\\{spec.y0:.4f}\\{z:.4f}"),
              (0x00200037, "DS", "1\\0\\0\\0\\1\\0"), (0x00100020, "LO", "1000001"),
              (0x0020000D, "UI", "1.2.826.0.1.3680043.10.1020.1"),
              (0x00280002, "US", 1), (0x00280004, "CS", "MONOCHROME2"),
              (0x00280010, "US", spec.rows), (0x00280011, "US", spec.cols),
              (0x00280030, "DS", f"{sp}\\{sp}"), (0x00280100, "US", 16),
              (0x00280101, "US", 12), (0x00280102, "US", 11), (0x00280103, "US", 0)]
    return encode_slice(header, px, f"1.2.826.0.1.3680043.10.1020.{sn}.{j + 1}")


def write_synthetic_subject(path: str | Path, stations: list[StationSpec]) -> Path:
    """Write a zip with a water and a fat series per station (series 2k-1: fat, 2k:
    water) and its manifest. Members are stored uncompressed (fast to write)."""
    path = Path(path)
    rows = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for k, spec in enumerate(stations):
            water, fat = _images(spec)
            for sn, c, px in ((2 * k + 1, "F", fat), (2 * k + 2, "W", water)):
                desc = f"Dixon_noBH_{c}"
                for j in range(spec.n):
                    name = f"s{sn:02d}_{j:04d}.dcm"
                    data = _slice(spec, sn, desc, j, px)
                    zf.writestr(name, data)
                    rows.append(f"{name},1,2,AET,{DATE},{desc},{len(data)}")
        zf.writestr("manifest.cvs", "\n".join([MANIFEST_HEADER] + rows) + "\n")
    return path


def protocol_stations(gap_mm: float = 0.0, x_step_mm: float = 0.0) -> list[StationSpec]:
    """The protocol's six stations (rows, slices, spacing of ukb-20201-format.md), each
    ``gap_mm`` further down than the protocol's 35-40 mm overlap puts it and
    ``x_step_mm`` further along x than the one above."""
    table = ((168, 64, 3.0), (174, 44, 4.5), (174, 44, 4.5), (174, 44, 4.5),
             (162, 72, 3.5), (156, 64, 4.0))
    out, top = [], 60.0
    for k, (rows, n, dz) in enumerate(table):
        out.append(StationSpec(rows=rows, cols=224, n=n, dz=dz, z_top=round(top, 4),
                               x0=-250.0 + k * x_step_mm))
        top = top - n * dz + 37.3 - gap_mm
    return out
