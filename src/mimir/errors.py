"""Error kinds a subject can fail with.

Every per-subject failure raised anywhere in the pipeline is a :class:`SubjectError`
carrying one of a small set of named kinds, the subject's name and, where known, the
zip member involved. Batch drivers catch exactly this type, record it in
``failures.csv`` and move on to the next subject; anything else is a bug and is
recorded as ``internal error`` with the exception text.
"""

from __future__ import annotations

import errno

#: The named kinds of failure (the ``kind`` column of ``failures.csv``).
KINDS = (
    "missing file",
    "not a zip",
    "no manifest and no usable headers",
    "missing water or fat",
    "inconsistent stations",
    "corrupt dicom",
    "limit exceeded",
    "implausible geometry",
    "numerical failure",
    "unusable name",
    "cache corrupt",
    "excluded",
    "internal error",
)


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
