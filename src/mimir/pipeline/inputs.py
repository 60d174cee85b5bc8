"""Turning what the user names on the command line into a list of subject zips.

INPUTS may be zip files, folders (every entry named ``*.zip`` inside, sorted) or text
files with one path per line (blank lines and ``#`` comments ignored; relative paths are
taken relative to the text file). ``ids`` plus ``dicom_dir`` build
``<dicom_dir>/<eid>_20201_<instance>_0.zip`` for each subject id. Subjects keep the
order in which they are named (a folder's zips sorted by name).

A path named as an input must exist, and a text file must list zips (each line a path
ending in ``.zip``, or an existing file): a mistyped folder, or a table such as
``truth.csv`` named by mistake, is a usage error naming it, before anything is written.
A path listed inside a list file (or built from an id) that does not exist is kept and
fails later as that subject (``missing file``), so one absent zip never stops a batch.

Every input is accounted for: entries of a folder that are not readable files (broken
links, FIFOs, folders named ``*.zip``) are kept, so that they fail as subjects with a
named reason instead of vanishing; two different paths with the same subject name are an
error naming both; names that cannot serve as file and table keys are reported by
:func:`name_problem`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mimir.errors import UsageError
from mimir.reading.archive import subject_name


def _read_list(path: Path) -> list[Path]:
    """The zips a list file names.

    Raises
    ------
    UsageError
        When a line names neither a ``.zip`` path nor an existing file (a CSV table, a
        list of bare ids), naming the file, the line and what to do instead.
    """
    out = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"input {path} cannot be read: {exc.strerror or exc}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        p = p if p.is_absolute() else path.parent / p
        if not line.lower().endswith(".zip") and not _exists(p):
            raise UsageError(_not_a_list(path, lineno, line))
        out.append(p)
    return out


def _not_a_list(path: Path, lineno: int, line: str) -> str:
    """Why a text input is not a list of zips, and what to give instead."""
    shown = line if len(line) <= 60 else line[:57] + "..."
    first = line.replace("\t", ",").split(",")[0].strip().strip('"')
    if first.isdigit() or any(ch in line for ch in ",\t"):
        hint = ("to name subjects by id, give the list with --ids FILE and the zips' folder "
                "with --dicom-dir DIR")
    else:
        hint = "a list file names one subject zip per line"
    return (f"input {path} is not a zip, a folder of zips or a list of zips: line {lineno} "
            f"({shown!r}) names no .zip file; {hint}")


def _exists(p: Path) -> bool:
    try:
        return p.exists() or p.is_symlink()
    except OSError:  # e.g. a name too long for the file system
        return False


def read_ids(path: str | os.PathLike) -> list[str]:
    """Subject ids from a file: one per line, or the first column of a CSV/TSV.

    A header line (a first line whose first field holds no digit, such as ``eid`` or
    ``f.eid``) is skipped.
    """
    ids: list[str] = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.replace("\t", ",").split(",")[0].strip().strip('"')
        if not ids and not any(ch.isdigit() for ch in first):
            continue  # the header
        ids.append(first)
    return ids


def name_problem(name: str) -> str | None:
    """Why a subject name cannot be used (None when it can).

    Names key the cache files and every table: they must be non-empty, free of control
    characters (line breaks would split table rows) and short enough for a file name.
    """
    if not name:
        return "the file name gives an empty subject name (it starts with '.')"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "the subject name holds control characters (such as a line break)"
    if len(name.encode("utf-8", errors="surrogateescape")) > MAX_NAME_BYTES:
        return f"the subject name is longer than {MAX_NAME_BYTES} bytes"
    return None


#: Longest usable subject name: ``<name>.json`` must fit a 255-byte file name.
MAX_NAME_BYTES = 200


def _folder_entries(p: Path) -> list[Path]:
    try:
        found = sorted(q for q in p.iterdir() if q.name.lower().endswith(".zip"))
    except OSError as exc:
        raise UsageError(f"folder {p} cannot be listed: {exc.strerror or exc}") from None
    if not found:
        raise UsageError(f"folder {p} holds no *.zip files")
    return found


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # e.g. a name too long for the file system
        return False


def _is_list_file(p: Path) -> bool:
    try:
        return p.is_file() and p.suffix.lower() != ".zip" and not zipfile.is_zipfile(p)
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def resolve_inputs(inputs: Sequence[str | os.PathLike] = (), ids: str | os.PathLike | None = None,
                   dicom_dir: str | os.PathLike | None = None,
                   instance: int = 2) -> list[Path]:
    """Expand INPUTS (and an id list) to subject zip paths, in the order given.

    A named input must exist; a zip listed in a list file, or built from an id, that
    does not exist (or is not a readable file) is kept: it fails later as that subject
    (``missing file``, ``not a zip``), so a typo never silently shrinks a cohort. The
    same path named twice is kept once.

    Raises
    ------
    UsageError
        When a named input does not exist, a text input is not a list of zips, ``ids``
        is given without ``dicom_dir`` or vice versa, a folder holds no zip, or two
        different paths give the same subject name.
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not _exists(p):
            raise UsageError(f"input {p} does not exist (name zips, folders of zips or "
                             "list files of zips)")
        if _is_dir(p):
            paths.extend(_folder_entries(p))
        elif _is_list_file(p):
            paths.extend(_read_list(p))
        else:
            paths.append(p)
    if (ids is None) != (dicom_dir is None):
        raise UsageError("--ids and --dicom-dir go together")
    if ids is not None and dicom_dir is not None:
        base = Path(dicom_dir)
        for eid in read_ids(ids):
            paths.append(base / f"{eid}_20201_{instance}_0.zip")
    seen: dict[str, Path] = {}
    unique = []
    for p in paths:
        name = subject_name(p)
        if name in seen:
            if _same_file(seen[name], p):
                continue
            raise UsageError(f"two inputs give the subject name {name!r}: {seen[name]} and "
                             f"{p}; every subject must come from one zip (rename one, or "
                             "run them separately)")
        seen[name] = p
        unique.append(p)
    return unique
