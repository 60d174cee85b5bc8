"""Parsing the manifest of a field-20201 zip (preprocessing.md section 1.1).

The manifest's header cannot be trusted: an unquoted comma in the ``date`` column
shifts every later column of the data rows by one. The file name is the first column
whose header contains ``filename``; the series description column is found in the
data (the first line holding a field that contains ``Dixon_noBH_F``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Marker used to find the description column (a fat series of a free-breathing station).
DESCRIPTION_MARKER = "Dixon_noBH_F"


@dataclass(frozen=True)
class ManifestEntry:
    """One kept manifest row: a water or fat slice."""

    filename: str
    description: str


class ManifestError(ValueError):
    """The manifest cannot be used (the caller falls back to DICOM headers)."""


def find_manifest(members: list[str]) -> str | None:
    """Name of the first member whose name contains ``manifest``, or None."""
    for name in members:
        if "manifest" in name:
            return name
    return None


def split_lines(text: str) -> list[str]:
    """Split manifest text into non-empty lines, accepting ``\\n`` and ``\\r\\n``."""
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def listed_files(text: str) -> set[str]:
    """Every file name the manifest lists (all rows, any series); empty when it has no
    ``filename`` column."""
    lines = split_lines(text)
    if not lines:
        return set()
    header = lines[0].split(",")
    name_col = next((i for i, f in enumerate(header) if "filename" in f), None)
    if name_col is None:
        return set()
    return {fields[name_col].strip() for fields in (line.split(",") for line in lines[1:])
            if len(fields) > name_col}


def parse_manifest(text: str) -> list[ManifestEntry]:
    """Water and fat rows of a manifest, in manifest order.

    Parameters
    ----------
    text : str
        The manifest's content.

    Returns
    -------
    list of ManifestEntry
        Rows whose description contains ``_W`` or ``_F``.

    Raises
    ------
    ManifestError
        When there is no file name column or no description column.
    """
    lines = split_lines(text)
    if not lines:
        raise ManifestError("the manifest is empty")
    header = lines[0].split(",")
    name_col = next((i for i, f in enumerate(header) if "filename" in f), None)
    if name_col is None:
        raise ManifestError("the manifest header has no 'filename' column")
    desc_col = None
    for line in lines:
        fields = line.split(",")
        desc_col = next((i for i, f in enumerate(fields) if DESCRIPTION_MARKER in f), None)
        if desc_col is not None:
            break
    if desc_col is None:
        raise ManifestError(f"no line of the manifest holds a '{DESCRIPTION_MARKER}' field")
    entries = []
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) <= max(desc_col, name_col):
            continue
        desc = fields[desc_col]
        if "_W" in desc or "_F" in desc:
            entries.append(ManifestEntry(filename=fields[name_col].strip(), description=desc))
    return entries
