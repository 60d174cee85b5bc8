"""Resource limits applied to untrusted input (zips, DICOM members).

A subject's zip is untrusted: it may be a zip bomb, hold absurdly many members or
claim absurd image sizes. These limits are checked *before* the corresponding memory
is allocated, and exceeding one fails only that subject with kind ``limit exceeded``.
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Limits for reading one subject.

    Attributes
    ----------
    max_subject_bytes : int
        Decompressed bytes read from one zip, in total (default 2 GiB).
    max_member_bytes : int
        Decompressed size of one member (default 64 MiB).
    max_members : int
        Number of members in one zip (default 20,000).
    max_slice_pixels : int
        Rows x columns of one DICOM slice (default 4,194,304 = 2048 x 2048).
    max_zip_bytes : int
        Size of the zip file itself on disk (default 4 GiB).
    """

    max_subject_bytes: int = 2 * GiB
    max_member_bytes: int = 64 * MiB
    max_members: int = 20_000
    max_slice_pixels: int = 2048 * 2048
    max_zip_bytes: int = 4 * GiB


DEFAULT_LIMITS = Limits()
