"""The typed contract between preprocessing and quality control: :class:`SubjectFacts`.

Preprocessing measures these facts about each subject's input (stations found, repeats
resolved, crops, overlaps, the body mask's reach, fat/water agreement in overlaps) and
stores them in the subject's cache sidecar; QC flags are predicates over them
(:mod:`mimir.qc.flags`). Sidecars are JSON, so facts travel as dicts
(:meth:`SubjectFacts.to_dict`) and are read back with :meth:`SubjectFacts.from_dict`,
which tolerates sidecars of earlier versions (missing fields are None) and keeps fields
it does not know in ``extra``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


@dataclass
class SubjectFacts:
    """Facts measured while preprocessing one subject.

    Attributes
    ----------
    source : str
        Where the series were found: ``manifest`` or ``headers``.
    water_stations : int
        Water/fat station pairs after resolving repeats.
    superimposed : int
        Stations acquired twice (the later copy kept).
    cropped : int
        Stations whose water and fat differed in size (both cropped).
    overlaps : list of int
        Slices shared by neighbouring stations (<= 0: a gap).
    shape : list of int
        Fused volume shape.
    threshold : float
        Otsu threshold of the body mask.
    planes : list of int
        The two fat-fraction planes of the 2D image.
    swap_scores : list of dict
        Per station boundary: correlation of the fat fractions (``corr``, ``corr_left``,
        ``corr_right``).
    bottom_ratio, lateral_edge, anterior_edge : float
        Where the body meets the field of view (:func:`mimir.qc.measures.
        coverage_measures`).
    extra : dict
        Fields this version does not know (kept, written back unchanged).
    """

    source: str | None = None
    water_stations: int | None = None
    superimposed: int = 0
    cropped: int = 0
    overlaps: list = field(default_factory=list)
    shape: list = field(default_factory=list)
    threshold: float | None = None
    planes: list = field(default_factory=list)
    swap_scores: list = field(default_factory=list)
    bottom_ratio: float | None = None
    lateral_edge: float = 0.0
    anterior_edge: float = 0.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict | None) -> SubjectFacts:
        """Facts from a sidecar's ``facts`` (None or {} gives empty facts)."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: d.pop(k) for k in list(d) if k in known and d[k] is not None}
        return cls(**kwargs, extra=d)

    def to_dict(self) -> dict:
        """The JSON form stored in the cache sidecar."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}

    @staticmethod
    def finite(v) -> bool:
        """Whether a measured value is present and a number."""
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
