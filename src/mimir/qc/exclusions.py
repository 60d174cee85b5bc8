"""Exclusion lists (e.g. UK Biobank returned dataset 3072 artefact lists).

Accepted formats: a CSV or TSV with a header (the id column found by name: ``eid``,
``id`` or ``subject``, or named with ``column``), or a plain list with one id per
line. An id is an eid (``1234567``: every instance of that subject), an eid with its
instance (``1234567_2``), or a full subject name (``1234567_20201_2_0``).
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from mimir.errors import UsageError

ID_COLUMNS = ("eid", "id", "subject")
_NAME = re.compile(r"^(\d+)_20201_(\d+)_(\d+)$")


def read_exclusions(path: str | os.PathLike, column: str | None = None) -> set[str]:
    """Ids listed in an exclusion file (see the module docstring).

    Raises
    ------
    UsageError
        When the file is missing or a named column is absent.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"exclusion list {p} does not exist")
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return set()
    delim = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else None)
    if delim is None and column is None:
        first = lines[0].strip().lower()
        if first in ID_COLUMNS:
            lines = lines[1:]
        return {ln.strip() for ln in lines}
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim or ","))
    fields = [f.strip() for f in rows[0]]  # header names are matched after trimming
    if column is not None:
        if column.strip() not in fields:
            raise UsageError(f"exclusion list {p} has no column {column!r} (columns: "
                             f"{', '.join(fields)})")
        idx = fields.index(column.strip())
    else:
        lower = [f.lower() for f in fields]
        found = [lower.index(c) for c in ID_COLUMNS if c in lower]
        if not found:
            raise UsageError(f"exclusion list {p}: no id column (eid, id or subject) among "
                             f"{', '.join(fields)}; name one with --exclude-column")
        idx = found[0]
    raw = [r[idx] for r in rows[1:] if len(r) > idx]
    return {v.strip() for v in raw if v.strip()}


def matches(name: str, ids: set[str]) -> bool:
    """Whether subject ``name`` (``<eid>_20201_<instance>_0``) is named by ``ids``."""
    if name in ids:
        return True
    m = _NAME.match(name)
    if not m:
        return False
    eid, instance = m.group(1), m.group(2)
    return eid in ids or f"{eid}_{instance}" in ids


def excluded_subjects(names: list[str], path: str | os.PathLike | None,
                      column: str | None = None) -> dict[str, str]:
    """Subject name -> reason, for the names an exclusion file lists."""
    if path is None:
        return {}
    ids = read_exclusions(path, column)
    return {n: f"excluded by {Path(path).name}" for n in names if matches(n, ids)}
