"""Grouping slices into stations and making water and fat consistent
(preprocessing.md sections 2 and 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimir.errors import SubjectError
from mimir.notes import Note
from mimir.reading.dicom import DicomSlice


class SliceStack:
    """Equal-shape 2D slices used as the (n, rows, cols) array they stack into, without
    copying them into one: indexing by a slice number gives that slice, slicing gives
    another stack, and ``numpy.asarray`` (or any other indexing) stacks them.

    Parameters
    ----------
    planes : list of ndarray, shape (rows, cols)
        The slices, in order, all of one shape and dtype.
    """

    def __init__(self, planes: list[np.ndarray]):
        if not planes:
            raise ValueError("a slice stack needs at least one slice")
        self.planes = list(planes)
        self.dtype = planes[0].dtype
        self.shape = (len(planes),) + planes[0].shape
        self.ndim = 3
        self.size = int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.stack(self.planes, axis=0)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.planes[key]
        if isinstance(key, slice):
            picked = self.planes[key]
            return SliceStack(picked) if picked else np.asarray(self)[key]
        if (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, slice) for k in key)
                and self.planes[key[0]]):
            return SliceStack([p[key[1], key[2]] for p in self.planes[key[0]]])
        return np.asarray(self)[key]


#: A station's voxels: one array, or the slices as read (a :class:`SliceStack`).
Voxels = np.ndarray | SliceStack


@dataclass
class Station:
    """One series: a stack of slices at one table position.

    Attributes
    ----------
    series_number : int
    name : str
        SeriesDescription of its first slice in manifest order.
    time : str
        SeriesTime of its first slice in manifest order.
    position : ndarray, float32 (3,)
        Element-wise maximum of the slices' ImagePositionPatient (z = top slice).
    voxels : ndarray or SliceStack, float32 or uint16 (n, rows, cols)
        Slice-major: slices ordered by z descending (top first). Both dtypes hold the
        pixel values exactly; they are widened to float64 where the procedure computes
        (or to float32 where it says so). Stations read from DICOM keep their slices as
        read, uint16 (a :class:`SliceStack`; ``numpy.asarray(station.voxels)`` stacks
        them).
    spacing : ndarray, float32 (3,)
        (row, column, slice) spacing in mm.
    """

    series_number: int
    name: str
    time: str
    position: np.ndarray
    voxels: Voxels
    spacing: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(rows, cols, n), the order the procedure uses for dims."""
        n, rows, cols = self.voxels.shape
        return rows, cols, n


@dataclass
class StationSet:
    """Consistent water and fat stations, ordered neck first."""

    water: list[Station]
    fat: list[Station]
    notes: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def group_stations(slices: list[DicomSlice]) -> list[Station]:
    """One station per distinct SeriesNumber, ascending (section 2, steps 1-5).

    Raises
    ------
    SubjectError
        ``inconsistent stations`` when the slices of a series differ in size.
    """
    by_series: dict[int, list[DicomSlice]] = {}
    for sl in slices:
        by_series.setdefault(sl.series_number, []).append(sl)
    stations = []
    for sn in sorted(by_series):
        group = by_series[sn]
        shapes = {(s.rows, s.cols) for s in group}
        if len(shapes) != 1:
            raise SubjectError("inconsistent stations",
                               f"series {sn} mixes slice sizes {sorted(shapes)}")
        pos = np.stack([s.position for s in group])
        order = np.argsort(-pos[:, 2], kind="stable")
        voxels = SliceStack([group[i].pixels for i in order])
        n = len(group)
        if n < 2:
            raise SubjectError("inconsistent stations", f"series {sn} has a single slice: its "
                               "slice spacing is undefined")
        z = pos[:, 2]
        dz = (np.max(z) - np.min(z)) / (n - 1)
        spacing = np.array([group[0].spacing[0], group[0].spacing[1], dz], dtype=np.float32)
        stations.append(Station(series_number=sn, name=group[0].description,
                                time=group[0].series_time, position=np.max(pos, axis=0),
                                voxels=voxels, spacing=spacing))
    return stations


def _station_label(st: Station) -> str:
    return f"series {st.series_number} ({st.name})"


def make_consistent(stations: list[Station]) -> StationSet:
    """Pair water with fat and resolve irregularities (sections 2.6 and 3).

    Parameters
    ----------
    stations : list of Station
        All stations, ascending series number.

    Returns
    -------
    StationSet
        Water and fat lists of equal length, ordered by z descending, with notes
        (``superimposed``, ``cropped``) and warnings.

    Raises
    ------
    SubjectError
        ``missing water or fat`` when either is absent; ``inconsistent stations``
        when their positions disagree.
    """
    water = [s for s in stations if "_W" in s.name]
    fat = [s for s in stations if "_F" in s.name]
    if not water or not fat:
        missing = "water" if not water else "fat"
        raise SubjectError("missing water or fat", f"no {missing} series found")
    warnings: list[str] = []
    notes: dict = {"superimposed": 0, "cropped": 0}
    if len(water) != len(fat):
        raise SubjectError(
            "inconsistent stations",
            f"{len(water)} water but {len(fat)} fat series (water: "
            f"{[s.series_number for s in water]}, fat: {[s.series_number for s in fat]})")
    wpos = np.stack([s.position for s in water])
    fpos = np.stack([s.position for s in fat])
    if not np.allclose(wpos, fpos):
        bad = [i for i in range(len(water)) if not np.allclose(wpos[i], fpos[i])]
        i = bad[0]
        raise SubjectError(
            "inconsistent stations",
            f"water and fat positions disagree: {_station_label(water[i])} at "
            f"{wpos[i].tolist()} vs {_station_label(fat[i])} at {fpos[i].tolist()}")
    # superimposed (repeated) stations: keep the most recent per position
    uniq, inverse = np.unique(wpos, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    if len(uniq) < len(water):
        keep = []
        for u in range(len(uniq)):
            idx = [i for i in range(len(water)) if inverse[i] == u]
            best = max(idx, key=lambda i: water[i].time.replace(".", ""))
            keep.append(best)
            for i in idx:
                if i != best:
                    notes["superimposed"] += 1
                    warnings.append(Note("superimposed_station", f"superimposed station: "
                                         f"{_station_label(water[i])} dropped for the later "
                                         f"{_station_label(water[best])}"))
        water = [water[i] for i in keep]
        fat = [fat[i] for i in keep]
    # water/fat of one station with different matrix sizes: crop both
    for k, (w, f) in enumerate(zip(water, fat, strict=True)):
        if w.shape != f.shape:
            m = np.minimum(w.shape, f.shape)
            warnings.append(Note("water_fat_size_mismatch", f"water {w.shape} and fat {f.shape} "
                                 f"sizes differ for {_station_label(w)}; both cropped to "
                                 f"{tuple(int(v) for v in m)}"))
            notes["cropped"] += 1
            water[k] = _crop(w, m)
            fat[k] = _crop(f, m)
    order = np.argsort(-np.array([s.position[2] for s in water]), kind="stable")
    water = [water[i] for i in order]
    fat = [fat[i] for i in order]
    return StationSet(water=water, fat=fat, notes=notes, warnings=warnings)


def _crop(st: Station, shape: np.ndarray) -> Station:
    r, c, n = (int(v) for v in shape)
    return Station(series_number=st.series_number, name=st.name, time=st.time,
                   position=st.position, voxels=st.voxels[:n, :r, :c], spacing=st.spacing)
