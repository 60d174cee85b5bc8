"""Warnings as codes: what a stage noticed about a subject, for programs and for people.

A :class:`Note` is a ``str`` (the sentence a person reads, as in ``warnings.csv``) that
also carries a stable :attr:`Note.code` from :data:`CODES`. Programs (QC flags, the
report, a user's script) decide on the code and never parse the text, so a reworded
sentence changes nothing downstream. Notes travel between processes (pickle keeps the
code) and into cache sidecars (``warning_codes`` beside ``warnings``); text written
before codes existed is classified by :func:`code_of`.

Codes and what raises them:
"""

from __future__ import annotations

#: code -> what it means (one entry per kind of warning).
CODES: dict[str, str] = {
    "no_manifest": "the zip has no manifest; water and fat found from the DICOM headers",
    "manifest_unusable": "the manifest could not be used; water and fat found from the "
                         "DICOM headers",
    "manifest_member_missing": "the manifest lists a file that is not in the zip",
    "unlisted_members": "DICOM members of the zip are not listed in the manifest",
    "member_skipped": "a member that is not DICOM was skipped while reading headers",
    "slices_missing": "slices missing inside a series (a gap of whole slice spacings)",
    "superimposed_station": "a station was acquired twice; the later copy was used",
    "water_fat_size_mismatch": "water and fat of a station differ in size; both cropped",
    "stations_do_not_meet": "neighbouring stations do not overlap",
    "cache_rebuilt": "a damaged, replaced or stale cache entry was made again from its zip",
    "orientation_missing": "slices without ImageOrientationPatient, read as the axial "
                           "slices the procedure assumes",
    "rescale_ignored": "slices declare a rescale (slope, intercept) other than the "
                       "identity; the stored values were used, as the procedure does",
    "other": "a warning without a code (written by an older version)",
}
__doc__ += "\n" + "\n".join(f"- ``{k}``: {v}." for k, v in CODES.items())


class Note(str):
    """A warning sentence with a code.

    Parameters
    ----------
    code : str
        One of :data:`CODES`.
    text : str
        The sentence for people.

    Examples
    --------
    >>> n = Note("slices_missing", "water 3: 1 slice(s) missing between z = 9 and 3 mm")
    >>> n.code, n.startswith("water 3")
    ('slices_missing', True)
    """

    code: str

    def __new__(cls, code: str, text: str) -> Note:
        if code not in CODES:
            raise ValueError(f"unknown warning code {code!r}")
        obj = super().__new__(cls, text)
        obj.code = code
        return obj

    def __reduce__(self):  # pickle (worker processes) keeps the code
        return (Note, (self.code, str(self)))


#: Text patterns of each code, for sentences stored without their code.
_LEGACY = (
    ("no_manifest", "no manifest in the zip"),
    ("manifest_unusable", "unusable ("),
    ("manifest_member_missing", "which is not in the zip"),
    ("unlisted_members", "not listed in manifest"),
    ("member_skipped", "skipped member"),
    ("slices_missing", "slice(s) missing"),
    ("superimposed_station", "superimposed station"),
    ("water_fat_size_mismatch", "sizes differ"),
    ("stations_do_not_meet", "do not meet"),
    ("cache_rebuilt", "cache entry rebuilt"),
)


def code_of(warning: str) -> str:
    """The code of a warning: its own for a :class:`Note`, else found from the text
    (sentences stored before codes existed), else ``other``."""
    if isinstance(warning, Note):
        return warning.code
    for code, pattern in _LEGACY:
        if pattern in warning:
            return code
    return "other"


def as_notes(texts: list[str], codes: list[str] | None = None) -> list[Note]:
    """Notes from stored sentences and, where stored and valid, their codes."""
    if codes is None or len(codes) != len(texts):
        codes = [code_of(t) for t in texts]
    return [Note(c if c in CODES else code_of(t), t) for t, c in zip(texts, codes, strict=True)]
