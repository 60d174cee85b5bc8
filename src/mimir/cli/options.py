"""Command-line options shared by several commands (one definition each)."""

from __future__ import annotations

import typer

from mimir.limits import DEFAULT_LIMITS, Limits

_D = DEFAULT_LIMITS


def limits_options(max_subject_bytes: int, max_member_bytes: int, max_members: int,
                   max_slice_pixels: int, max_subject_pixels: int = _D.max_subject_pixels,
                   max_fused_voxels: int = _D.max_fused_voxels) -> Limits:
    """The :class:`~mimir.limits.Limits` of the ``--max-*`` options."""
    return Limits(max_subject_bytes=max_subject_bytes, max_member_bytes=max_member_bytes,
                  max_members=max_members, max_slice_pixels=max_slice_pixels,
                  max_subject_pixels=max_subject_pixels, max_fused_voxels=max_fused_voxels)


LIMIT_SUBJECT = typer.Option(DEFAULT_LIMITS.max_subject_bytes, "--max-subject-bytes",
                             help="Decompressed bytes read from one zip.")
LIMIT_MEMBER = typer.Option(DEFAULT_LIMITS.max_member_bytes, "--max-member-bytes",
                            help="Decompressed size of one zip member.")
LIMIT_MEMBERS = typer.Option(DEFAULT_LIMITS.max_members, "--max-members",
                             help="Members in one zip.")
LIMIT_PIXELS = typer.Option(DEFAULT_LIMITS.max_slice_pixels, "--max-slice-pixels",
                            help="Rows x columns of one slice.")
LIMIT_SUBJECT_PIXELS = typer.Option(DEFAULT_LIMITS.max_subject_pixels, "--max-subject-pixels",
                                    min=1, help="Water and fat pixels decoded from one zip.")
LIMIT_FUSED = typer.Option(DEFAULT_LIMITS.max_fused_voxels, "--max-fused-voxels", min=1,
                           help="Voxels of one subject's fused grid (also of its placed "
                           "stations together); more fails it as implausible geometry.")

IDS = typer.Option(None, "--ids", help="File of subject ids (eids, one per line or the first "
                   "column; a header line is skipped), with --dicom-dir.")
DICOM_DIR = typer.Option(None, "--dicom-dir", help="Folder of <eid>_20201_<instance>_0.zip "
                         "files (with --ids).")
INSTANCE = typer.Option(2, "--instance", help="Imaging visit for --ids (2: first, 3: "
                        "repeat).")
EXCLUDE = typer.Option(None, "--exclude", help="Subjects not to process (CSV/TSV or a plain "
                       "list of ids).")
EXCLUDE_COLUMN = typer.Option(None, "--exclude-column", help="Column of --exclude holding "
                              "the ids.")

