"""Resource limits applied to untrusted input (zips, DICOM members, geometry).

A subject's zip is untrusted: it may be a zip bomb, hold absurdly many members, claim
absurd image sizes or place its stations absurdly far apart. These limits are checked
*before* the corresponding memory is allocated. Exceeding a limit on what is read
(bytes, members, pixels) fails only that subject with kind ``limit exceeded``; a fused
grid larger than ``max_fused_voxels`` fails it with kind ``implausible geometry``, as
the physical bounds of :mod:`mimir.pipeline.bounds` do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GiB = 1 << 30
MiB = 1 << 20
Mi = 1 << 20


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
    max_subject_pixels : int
        Water and fat pixels decoded from one zip, all slices together (default
        64 Mi = 67,108,864; a UK Biobank subject has about 24.8 million). Decoded
        slices take 4 bytes a pixel, twice over while they are stacked into stations.
    max_fused_voxels : int
        Voxels of the fused output grid, and of the stations placed on it together,
        and of any one station while it is resampled (default 32 Mi = 33,554,432; a
        UK Biobank subject's grid holds about 14.3 million). Checked before the
        fused volumes are allocated.
    """

    max_subject_bytes: int = 2 * GiB
    max_member_bytes: int = 64 * MiB
    max_members: int = 20_000
    max_slice_pixels: int = 2048 * 2048
    max_zip_bytes: int = 4 * GiB
    max_subject_pixels: int = 64 * Mi
    max_fused_voxels: int = 32 * Mi


DEFAULT_LIMITS = Limits()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system tells it); worker
    processes beyond this number only add memory, so they are capped to it."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
