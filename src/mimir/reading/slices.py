"""The water and fat slices of one subject (preprocessing.md section 1).

:func:`read_water_fat` reads the manifest to find the water and fat members and
decodes only those. When the manifest is missing or unusable it falls back to the
DICOM headers (reading only the first part of each member to find its series
description), and records a warning.

Every slice's header is checked before its pixels are decoded
(:func:`mimir.reading.checks.check_slice`), the decoded pixels of a subject are
bounded by ``Limits.max_subject_pixels``, and the series are checked together
(:func:`mimir.reading.checks.check_series`) once all slices are read. DICOM members
that the manifest does not list are counted in a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mimir.errors import SubjectError
from mimir.notes import Note
from mimir.reading.archive import SubjectArchive
from mimir.reading.checks import check_series
from mimir.reading.dicom import DicomSlice, read_slice
from mimir.reading.manifest import ManifestError, find_manifest, listed_files, parse_manifest

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


def _looks_like_dicom(archive: SubjectArchive, member: str) -> bool:
    """A ``.dcm`` name, or the DICOM preamble marker (``DICM`` at byte 128)."""
    if member.lower().endswith(".dcm"):
        return True
    return archive.read(member, max_bytes=132)[128:132] == b"DICM"


def _from_headers(archive: SubjectArchive, warnings: list[str]) -> tuple[list[str], list]:
    """Find water and fat members from DICOM headers (manifest missing or unusable).

    Members that are not DICOM files are skipped with a warning. A DICOM member whose
    header cannot be read fails the subject: it may be a water or fat slice, and
    leaving it out would change the image without a trace.
    """
    members = []
    for member in archive.members:
        if "manifest" in member:
            continue
        try:
            sl = _read_member(archive, member, with_pixels=False)
        except SubjectError as exc:
            if exc.kind == "limit exceeded" or _looks_like_dicom(archive, member):
                raise
            warnings.append(Note("member_skipped", f"skipped member {member}: {exc.message}"))
            continue
        if _is_water_or_fat(sl.description):
            members.append(member)
    return members, []


def _read_pixels(archive: SubjectArchive, members: list[str]) -> list[DicomSlice]:
    """Decode the slices of ``members``, within ``max_subject_pixels`` in total."""
    budget = archive.limits.max_subject_pixels
    total = 0
    slices = []
    for member in members:
        sl = _read_member(archive, member, with_pixels=True)
        total += sl.rows * sl.cols
        if total > budget:
            raise SubjectError("limit exceeded", f"more than {budget} water and fat pixels "
                               "in this subject", subject=archive.name, member=member)
        slices.append(sl)
    return slices


def _unlisted_warning(archive: SubjectArchive, manifest: str, text: str) -> list[str]:
    """A warning when DICOM members of the zip are missing from its manifest."""
    listed = listed_files(text)
    unlisted = [m for m in archive.members
                if m != manifest and m.lower().endswith(".dcm") and m not in listed]
    if not unlisted:
        return []
    return [Note("unlisted_members", f"{len(unlisted)} DICOM member(s) not listed in "
                 f"manifest {manifest} (first: {unlisted[0]})")]


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
        fat slice; ``corrupt dicom`` or ``limit exceeded`` from reading a member;
        ``inconsistent stations`` from :func:`mimir.reading.checks.check_series`.
    """
    warnings: list[str] = []
    source = "manifest"
    members: list[str] = []
    manifest = find_manifest(archive.members)
    if manifest is None:
        warnings.append(Note("no_manifest", "no manifest in the zip; series found from the "
                                             "DICOM headers"))
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
                    warnings.append(Note("manifest_member_missing", f"manifest lists "
                                          f"{entry.filename}, which is not in the zip"))
            if not members:
                raise ManifestError("none of the water or fat files it lists are in the zip")
            warnings += _unlisted_warning(archive, manifest, text)
        except ManifestError as exc:
            warnings.append(Note("manifest_unusable", f"manifest {manifest} unusable ({exc}); "
                                 "series found from the DICOM headers"))
            members = []
            manifest = None
    if manifest is None:
        source = "headers"
        members, _ = _from_headers(archive, warnings)
        if not members:
            raise SubjectError("no manifest and no usable headers",
                               "neither a usable manifest nor DICOM headers name any water "
                               "or fat series", subject=archive.name)
    slices = _read_pixels(archive, members)
    warnings += check_series(slices, members)
    return SubjectSlices(name=archive.name, slices=slices, members=members,
                         warnings=warnings, source=source)
