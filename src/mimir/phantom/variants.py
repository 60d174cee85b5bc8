"""Irregular inputs a phantom zip can be made with (combinable).

Each option reproduces an irregularity of the UK Biobank cohort
(ukb-20201-format.md) or a damaged file:

``superimposed=K``
    Station K acquired twice at the same position: the first copy (series 4K-3..4K) is
    visibly corrupted (ghosting and heavy noise); the repeat, with a later SeriesTime,
    has series numbers 25-28 and clean data. Readers must keep the later one.
``mismatch=K``
    Station K's fat series has 4 fewer rows than its water series (same position).
``missing_station=K``
    Station K is absent (all four series).
``missing_fat=K``
    Station K has no fat series.
``swap=K``
    Water and fat images of station K are exchanged (a fat/water swap).
``manifest_name``
    ``manifest.cvs`` (the usual misspelling) or ``manifest.csv``.
``crlf``
    Manifest lines end with ``\\r\\n``.
``no_manifest``
    The zip holds no manifest.
``truncated``
    The zip file is cut to 60 % of its length (no central directory).
``corrupt_member``
    One water slice is replaced by bytes that are not a readable DICOM file.
``knee_cut``
    The subject is positioned lower, so that the knees lie 120 mm below the last slice
    of the last station: incomplete coverage (as for about 3 % of UK Biobank subjects).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Variants:
    """Irregularities to build into a phantom zip (see the module docstring)."""

    superimposed: int | None = None
    mismatch: int | None = None
    missing_station: int | None = None
    missing_fat: int | None = None
    swap: int | None = None
    manifest_name: str = "manifest.cvs"
    crlf: bool = False
    no_manifest: bool = False
    truncated: bool = False
    corrupt_member: bool = False
    knee_cut: bool = False

    def __post_init__(self):
        for name in ("superimposed", "mismatch", "missing_station", "missing_fat", "swap"):
            k = getattr(self, name)
            if k is not None and not 1 <= k <= 6:
                raise ValueError(f"{name} must name a station 1-6, got {k}")
        if self.manifest_name not in ("manifest.cvs", "manifest.csv"):
            raise ValueError("manifest_name must be manifest.cvs or manifest.csv")

    def describe(self) -> dict:
        """The options that differ from a clean zip."""
        clean = Variants()
        return {k: v for k, v in asdict(self).items() if getattr(clean, k) != v}


CLEAN = Variants()
