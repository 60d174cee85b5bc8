"""Error kinds a subject can fail with.

Every per-subject failure raised anywhere in the pipeline is a :class:`SubjectError`
carrying one of a small set of named kinds, the subject's name and, where known, the
zip member involved. Batch drivers catch exactly this type, record it in
``failures.csv`` and move on to the next subject; anything else is a bug and is
recorded as ``internal error`` with the exception text.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


class Kind:
    """The failure kinds, as constants (the text is what ``failures.csv`` shows)."""

    MISSING_FILE = "missing file"
    NOT_A_ZIP = "not a zip"
    NO_MANIFEST = "no manifest and no usable headers"
    MISSING_WATER_FAT = "missing water or fat"
    INCONSISTENT_STATIONS = "inconsistent stations"
    CORRUPT_DICOM = "corrupt dicom"
    LIMIT_EXCEEDED = "limit exceeded"
    IMPLAUSIBLE_GEOMETRY = "implausible geometry"
    NUMERICAL_FAILURE = "numerical failure"
    UNUSABLE_NAME = "unusable name"
    CACHE_CORRUPT = "cache corrupt"
    EXCLUDED = "excluded"
    MODULE_ERROR = "module error"
    NON_FINITE_PREDICTION = "non-finite prediction"
    INTERNAL_ERROR = "internal error"


@dataclass(frozen=True)
class FailureKind:
    """One kind of failure.

    Attributes
    ----------
    kind : str
        The name (the ``kind`` column of ``failures.csv``).
    meaning : str
        What it means, for people (docs/reliability.md lists them).
    input_fault : bool
        Whether the subject's input (its zip, its cache entry, its name, an exclusion
        list) is the cause, rather than MIMIR, a module or the machine.
    """

    kind: str
    meaning: str
    input_fault: bool


#: Every failure kind: a closed table, like :data:`mimir.notes.CODES` for warnings.
FAILURES: dict[str, FailureKind] = {f.kind: f for f in (
    FailureKind(Kind.MISSING_FILE, "the zip does not exist, or is not a file", True),
    FailureKind(Kind.NOT_A_ZIP, "the file cannot be opened as a zip archive", True),
    FailureKind(Kind.NO_MANIFEST, "no manifest, and the DICOM headers do not say which "
                "slices are water and fat", True),
    FailureKind(Kind.MISSING_WATER_FAT, "the zip lacks the water or the fat series", True),
    FailureKind(Kind.INCONSISTENT_STATIONS, "slices that contradict each other (sizes, "
                "spacing, positions, orientation, rescale; another patient's or study's "
                "slice)", True),
    FailureKind(Kind.CORRUPT_DICOM, "a member cannot be decompressed or decoded as DICOM, "
                "or its header contradicts field 20201's data (pixel layout, orientation, "
                "photometric interpretation, frames, high bit, rescale)", True),
    FailureKind(Kind.LIMIT_EXCEEDED, "the zip exceeds a resource limit (bytes, members, "
                "pixels); see the --max-* options", True),
    FailureKind(Kind.IMPLAUSIBLE_GEOMETRY, "stations placed or sized beyond what a body "
                "scan can be", True),
    FailureKind(Kind.NUMERICAL_FAILURE, "fusion or projection gave no finite image", True),
    FailureKind(Kind.UNUSABLE_NAME, "the file name cannot name a subject (empty, or "
                "characters a table cannot hold)", True),
    FailureKind(Kind.CACHE_CORRUPT, "the cached image or its record is damaged and there "
                "is no zip to make it again", True),
    FailureKind(Kind.EXCLUDED, "listed in the exclusion list (--exclude); not a failure of "
                "the run", True),
    FailureKind(Kind.MODULE_ERROR, "a module could not predict this subject (e.g. out of "
                "memory on the device)", False),
    FailureKind(Kind.NON_FINITE_PREDICTION, "a module's prediction for this subject (a "
                "mean, variance, sd or interval bound) is not a finite number; that "
                "module's values for the subject are left empty", False),
    FailureKind(Kind.INTERNAL_ERROR, "a bug in MIMIR or a crash of a library or worker "
                "process; the message says where", False),
)}
#: The kind names (the ``kind`` column of ``failures.csv``).
KINDS = tuple(FAILURES)


def failure_row(name: str, kind: str, message: str, path: object = "",
                member: str = "") -> dict:
    """The one way a row of ``failures.csv`` is built.

    Parameters
    ----------
    name : str
        The subject.
    kind : str
        One of :data:`KINDS`.
    message : str
        What went wrong, for people.
    path : path-like, optional
        The subject's zip (empty when the subject comes from the cache alone).
    member : str, optional
        The zip member concerned.

    Raises
    ------
    ValueError
        For a kind not in :data:`FAILURES`.
    """
    if kind not in FAILURES:
        raise ValueError(f"unknown failure kind {kind!r}")
    return {"name": name, "path": "" if path is None else str(path), "kind": kind,
            "member": member or "", "message": message}


class MimirError(Exception):
    """Base class of MIMIR's own errors."""


class UsageError(MimirError):
    """A user-facing usage problem (bad option, existing output folder, ...)."""


class ModuleFormatError(MimirError):
    """A module folder or snapshot that does not follow the module format.

    The message names the file (and line, where there is one).
    """


class SubjectError(MimirError):
    """A failure confined to one subject.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    message : str
        What is wrong, for a person.
    subject : str, optional
        The subject's name (zip name up to its first ``.``).
    member : str, optional
        The zip member (file inside the zip) concerned.
    """

    def __init__(self, kind: str, message: str, subject: str | None = None,
                 member: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        self.kind = kind
        self.message = message
        self.subject = subject
        self.member = member
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.subject:
            where.append(f"subject {self.subject}")
        if self.member:
            where.append(f"member {self.member}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.kind}: {self.message}"

    def with_subject(self, subject: str) -> SubjectError:
        """Return this error with the subject filled in (if it was not yet)."""
        if self.subject:
            return self
        return SubjectError(self.kind, self.message, subject=subject, member=self.member)


#: errno values that mean the disk (or a file-size limit) is full.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class DiskFullError(MimirError):
    """Writing stopped because the disk or a size limit is full; the run can resume."""


def disk_full(exc: OSError, path) -> DiskFullError:
    """The one clear message for a full disk while writing ``path``."""
    return DiskFullError(f"no space left while writing {path} ({exc.strerror or exc}): "
                         "free some space, then rerun the same command (with --resume for "
                         "infer); everything finished so far is kept")
