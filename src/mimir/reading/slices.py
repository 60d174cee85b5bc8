"""The water and fat slices of one subject (preprocessing.md section 1).

:func:`read_water_fat` reads the manifest to find the water and fat members and
decodes only those. When the manifest is missing or unusable it falls back to the
DICOM headers (reading only the first part of each member to find its series
description), and records a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mimir.errors import SubjectError
from mimir.reading.archive import SubjectArchive
from mimir.reading.dicom import DicomSlice, read_slice
from mimir.reading.manifest import ManifestError, find_manifest, parse_manifest

#: Bytes read from each member to find its header when falling back to headers.
HEADER_PROBE_BYTES = 64 * 1024


@dataclass
class SubjectSlices:
    """Water and fat slices of a subject, in manifest order, with reading notes."""

    name: str
    slices: list[DicomSlice]
    members: list[str]
    warnings: list[str] = field(default_factory=list)
    source: str = "manifest"  # or "headers"


def _is_water_or_fat(description: str) -> bool:
    return "_W" in description or "_F" in description


def _read_member(archive: SubjectArchive, member: str, with_pixels: bool) -> DicomSlice:
    try:
        if with_pixels:
            return read_slice(archive.read(member), True, archive.limits)
        head = archive.read(member, max_bytes=HEADER_PROBE_BYTES)
        try:
            return read_slice(head, False, archive.limits)
        except SubjectError:
            if len(head) >= archive.declared_size(member):
                raise
            return read_slice(archive.read(member), False, archive.limits)
    except SubjectError as exc:
        raise SubjectError(exc.kind, exc.message, subject=archive.name,
                           member=member) from None


def _from_headers(archive: SubjectArchive, warnings: list[str]) -> tuple[list[str], list]:
    """Find water and fat members from DICOM headers (manifest missing or unusable)."""
    members = []
    for member in archive.members:
        if "manifest" in member:
            continue
        try:
            sl = _read_member(archive, member, with_pixels=False)
        except SubjectError as exc:
            if exc.kind == "limit exceeded":
                raise
            warnings.append(f"skipped member {member}: {exc.message}")
            continue
        if _is_water_or_fat(sl.description):
            members.append(member)
    return members, []


def read_water_fat(archive: SubjectArchive) -> SubjectSlices:
    """Read the water and fat slices of a subject.

    Parameters
    ----------
    archive : SubjectArchive
        The subject's opened zip.

    Returns
    -------
    SubjectSlices

    Raises
    ------
    SubjectError
        ``no manifest and no usable headers`` when neither source names a water or
        fat slice; ``corrupt dicom`` or ``limit exceeded`` from reading a member.
    """
    warnings: list[str] = []
    source = "manifest"
    members: list[str] = []
    manifest = find_manifest(archive.members)
    if manifest is None:
        warnings.append("no manifest in the zip; series found from the DICOM headers")
    else:
        try:
            text = archive.read(manifest).decode("utf-8", errors="replace")
            entries = parse_manifest(text)
            if not entries:
                raise ManifestError("the manifest lists no water or fat slice")
            for entry in entries:
                if archive.has(entry.filename):
                    members.append(entry.filename)
                else:
                    warnings.append(f"manifest lists {entry.filename}, which is not in the zip")
            if not members:
                raise ManifestError("none of the water or fat files it lists are in the zip")
        except ManifestError as exc:
            warnings.append(f"manifest {manifest} unusable ({exc}); series found from the "
                            "DICOM headers")
            members = []
            manifest = None
    if manifest is None:
        source = "headers"
        members, _ = _from_headers(archive, warnings)
        if not members:
            raise SubjectError("no manifest and no usable headers",
                               "neither a usable manifest nor DICOM headers name any water "
                               "or fat series", subject=archive.name)
    slices = [_read_member(archive, m, with_pixels=True) for m in members]
    return SubjectSlices(name=archive.name, slices=slices, members=members,
                         warnings=warnings, source=source)
