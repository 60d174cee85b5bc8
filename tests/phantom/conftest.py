"""Helpers for the phantom tests: reading a phantom zip back with pydicom.

The zips themselves come from the session fixtures of the root ``conftest.py``
(``phantom_dir`` and ``make_phantoms``, which caches by arguments), so every test module
shares them. Reading a zip back costs about a second, so the parsed contents are cached
per zip path as well (lazily, and with one copy of the pixels).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pydicom
import pytest


@dataclass
class Series:
    """One DICOM series of a zip, slices ordered by InstanceNumber."""

    number: int
    description: str
    time: str
    uid: str
    names: list[str]
    instances: list[int]
    positions: np.ndarray  # (n, 3) ImagePositionPatient
    orientation: list[float]
    pixel_spacing: list[float]
    slice_location: np.ndarray
    rows: int
    cols: int
    pixels: np.ndarray  # (n, rows, cols) as read by pydicom

    @property
    def z(self) -> np.ndarray:
        return self.positions[:, 2]


class ZipContents:
    """What a phantom zip holds, read back with :mod:`zipfile` and :mod:`pydicom`.

    Everything is read lazily: a test of the manifest does not parse the slices.
    """

    def __init__(self, path: Path):
        self.path = path
        with zipfile.ZipFile(path) as zf:
            self.names: list[str] = zf.namelist()

    def member(self, name: str) -> bytes:
        """The bytes of one member."""
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(name)

    @cached_property
    def _parsed(self):
        """Datasets (pixel data moved to ``pixels``), unreadable names, file heads."""
        datasets, pixels, unreadable, heads = {}, {}, [], {}
        with zipfile.ZipFile(self.path) as zf:
            for n in self.dcm_names:
                data = zf.read(n)
                heads[n] = data[:132]
                ds = read_dataset(data)
                if ds is None:
                    unreadable.append(n)
                    continue
                pixels[n] = ds.pixel_array
                del ds.PixelData  # keep one copy of the pixels only
                datasets[n] = ds
        return datasets, pixels, unreadable, heads

    @property
    def heads(self) -> dict[str, bytes]:
        """The first 132 bytes (preamble and ``DICM``) of every DICOM member."""
        return self._parsed[3]

    @property
    def datasets(self) -> dict[str, pydicom.Dataset]:
        """Readable DICOM members by name."""
        return self._parsed[0]

    @property
    def unreadable(self) -> list[str]:
        """DICOM members pydicom cannot read as an image."""
        return self._parsed[2]

    @cached_property
    def series(self) -> dict[int, Series]:
        """Series by SeriesNumber."""
        return _group(self.datasets, self._parsed[1])

    @property
    def dcm_names(self) -> list[str]:
        return [n for n in self.names if n.endswith(".dcm")]

    @property
    def manifest_names(self) -> list[str]:
        return [n for n in self.names if "manifest" in n]

    def station(self, k: int) -> dict[str, Series]:
        """The series of station ``k`` (numbers 4k-3 .. 4k) by contrast."""
        out = {}
        for i, c in enumerate(("in", "opp", "F", "W")):
            sn = 4 * k - 3 + i
            if sn in self.series:
                out[c] = self.series[sn]
        return out


def read_dataset(data: bytes) -> pydicom.Dataset | None:
    """A member's dataset with its pixels, or None when it is not a usable image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            px = ds.pixel_array
    except Exception:  # any failure means unreadable
        return None
    if "Rows" not in ds or "PixelData" not in ds or px.shape != (ds.Rows, ds.Columns):
        return None
    return ds


def _group(datasets: dict[str, pydicom.Dataset], pixels: dict[str, np.ndarray]
           ) -> dict[int, Series]:
    by_sn: dict[int, list[tuple[str, pydicom.Dataset]]] = {}
    for name, ds in datasets.items():
        by_sn.setdefault(int(ds.SeriesNumber), []).append((name, ds))
    series = {}
    for sn, items in sorted(by_sn.items()):
        items.sort(key=lambda it: int(it[1].InstanceNumber))
        first = items[0][1]
        series[sn] = Series(
            number=sn,
            description=str(first.SeriesDescription),
            time=str(first.SeriesTime),
            uid=str(first.SeriesInstanceUID),
            names=[n for n, _ in items],
            instances=[int(ds.InstanceNumber) for _, ds in items],
            positions=np.array([[float(v) for v in ds.ImagePositionPatient]
                                for _, ds in items]),
            orientation=[float(v) for v in first.ImageOrientationPatient],
            pixel_spacing=[float(v) for v in first.PixelSpacing],
            slice_location=np.array([float(ds.SliceLocation) for _, ds in items]),
            rows=int(first.Rows),
            cols=int(first.Columns),
            pixels=np.stack([pixels[n] for n, _ in items]),
        )
    return series


def the_zip(folder: Path) -> Path:
    """The single zip in a one-subject phantom folder."""
    zips = sorted(folder.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


@pytest.fixture(scope="session")
def zip_of():
    """``zip_of(folder) -> Path``: the single zip of a one-subject phantom folder."""
    return the_zip


@pytest.fixture(scope="session")
def read_member():
    """``read_member(bytes) -> Dataset | None``: a slice, or None when unusable."""
    return read_dataset


@pytest.fixture(scope="session")
def read_phantom():
    """``read_phantom(folder_or_zip) -> ZipContents`` (cached per zip)."""
    cache: dict[Path, ZipContents] = {}

    def read(where: Path) -> ZipContents:
        path = the_zip(where) if where.is_dir() else where
        if path not in cache:
            cache[path] = ZipContents(path)
        return cache[path]

    return read


@pytest.fixture(scope="session")
def clean_dir(make_phantoms) -> Path:
    """One clean subject, seed 0 (the reference the variants are compared with)."""
    return make_phantoms(1, 0)


@pytest.fixture(scope="session")
def clean(clean_dir, read_phantom) -> ZipContents:
    """The clean subject's zip, read back."""
    return read_phantom(clean_dir)
