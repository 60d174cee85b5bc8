"""Turning what the user names on the command line into a list of subject zips.

INPUTS may be zip files, folders (every ``*.zip`` inside, sorted) or text files with
one path per line (blank lines and ``#`` comments ignored; relative paths are taken
relative to the text file). ``ids`` plus ``dicom_dir`` build
``<dicom_dir>/<eid>_20201_<instance>_0.zip`` for each subject id.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from mimir.errors import UsageError
from mimir.reading.archive import subject_name


def _read_list(path: Path) -> list[Path]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        out.append(p if p.is_absolute() else path.parent / p)
    return out


def read_ids(path: str | os.PathLike) -> list[str]:
    """Subject ids from a file: one per line, or the first column of a CSV/TSV.

    A header line (a first line whose first field holds no digit, such as ``eid`` or
    ``f.eid``) is skipped.
    """
    ids = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.replace("\t", ",").split(",")[0].strip().strip('"')
        if not ids and not any(ch.isdigit() for ch in first):
            continue  # the header
        ids.append(first)
    return ids


def resolve_inputs(inputs: list[str | os.PathLike] = (), ids: str | os.PathLike | None = None,
                   dicom_dir: str | os.PathLike | None = None,
                   instance: int = 2) -> list[Path]:
    """Expand INPUTS (and an id list) to subject zip paths, first occurrence kept.

    A path that does not exist is kept (it fails later as ``missing file``), so a
    typo never silently shrinks a cohort.

    Raises
    ------
    UsageError
        When ``ids`` is given without ``dicom_dir`` or vice versa, or a folder holds
        no zip.
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.glob("*.zip") if q.is_file())
            if not found:
                raise UsageError(f"folder {p} holds no *.zip files")
            paths.extend(found)
        elif p.is_file() and p.suffix.lower() != ".zip" and not zipfile.is_zipfile(p):
            paths.extend(_read_list(p))
        else:
            paths.append(p)
    if (ids is None) != (dicom_dir is None):
        raise UsageError("--ids and --dicom-dir go together")
    if ids is not None:
        base = Path(dicom_dir)
        for eid in read_ids(ids):
            paths.append(base / f"{eid}_20201_{instance}_0.zip")
    seen: set[str] = set()
    unique = []
    for p in paths:
        name = subject_name(p)
        if name in seen:
            continue
        seen.add(name)
        unique.append(p)
    return unique
