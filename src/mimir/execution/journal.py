"""Journals: what a run has done so far, appended batch by batch and fsynced.

Each module's predictions go to ``OUT/.mimir/journal/<module>.jsonl``, one JSON array
per subject (``[name, mean_1, var_1, mean_2, var_2, ...]``; floats round-trip exactly,
names may hold any character). Subjects not predicted because they failed QC in strict
mode are listed in ``OUT/.mimir/qc_skipped.txt``.

Interruptions (kill -9, a full disk) can leave a torn last line. :func:`repair` cuts a
journal back to its last complete line before a run appends to it, so a torn entry is
redone, never glued to the next one. Journals of earlier versions (comma-separated) are
still read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mimir.errors import NO_SPACE, disk_full
from mimir.execution.outdir import STATE_DIR


def repair(path: Path) -> bool:
    """Cut a file of lines back to its last complete line; True if it was torn."""
    if not path.is_file():
        return False
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return False
        # read backwards in blocks for the last newline
        pos, keep = size, 0
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def append_lines(path: Path, lines: list[str]) -> None:
    """Append complete lines and fsync; on a full disk, undo the partial write and raise
    :class:`~mimir.errors.DiskFullError`. (Unbuffered, so nothing is left to flush, and
    fail, at close.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = memoryview("".join(lines).encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # repair() cuts the torn line on the next run
            if exc.errno in NO_SPACE:
                raise disk_full(exc, path) from None
            raise
    finally:
        os.close(fd)


def read_names(path: Path) -> set[str]:
    """Names listed one per line (complete lines only)."""
    if not path.is_file():
        return set()
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    return {ln.strip() for ln in lines[:-1] if ln.strip()}


class Journal:
    """Append-only record of one module's predictions (name, mean and variance per target).

    Parameters
    ----------
    path : Path
        The journal file (``.jsonl``); a legacy ``.csv`` beside it is read too.
    n_targets : int
    """

    def __init__(self, path: Path, n_targets: int):
        self.path = path
        self.T = n_targets

    @property
    def legacy_path(self) -> Path:
        return self.path.with_suffix(".csv")

    def repair(self) -> bool:
        """Cut a torn last line (see :func:`repair`)."""
        torn = repair(self.path)
        return repair(self.legacy_path) or torn

    def read(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Predictions so far; the last line of a subject wins; incomplete lines are
        skipped."""
        out: dict = {}
        for p, parse in ((self.legacy_path, self._parse_csv), (self.path, self._parse_json)):
            if not p.is_file():
                continue
            with open(p, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if not line.endswith("\n"):
                        continue  # torn by an interruption
                    got = parse(line.rstrip("\n"))
                    if got is not None:
                        out[got[0]] = got[1]
        return out

    def _values(self, vals) -> tuple[np.ndarray, np.ndarray] | None:
        if len(vals) != 2 * self.T:
            return None
        try:
            v = np.array([float(x) for x in vals])
        except (TypeError, ValueError):
            return None
        return v[0::2], v[1::2]

    def _parse_json(self, line: str):
        try:
            row = json.loads(line)
        except ValueError:
            return None
        if not isinstance(row, list) or not row or not isinstance(row[0], str):
            return None
        vals = self._values(row[1:])
        return None if vals is None else (row[0], vals)

    def _parse_csv(self, line: str):
        parts = line.split(",")
        vals = self._values(parts[1:])
        return None if vals is None else (parts[0], vals)

    def append(self, names: list[str], mean: np.ndarray, var: np.ndarray) -> None:
        """Append one line per subject (fsynced)."""
        lines = []
        for i, n in enumerate(names):
            vals = np.empty(2 * self.T)
            vals[0::2], vals[1::2] = mean[i], var[i]
            lines.append(json.dumps([n, *(float(v) for v in vals)]) + "\n")
        append_lines(self.path, lines)


def journal_path(out: Path, module: str) -> Path:
    return out / STATE_DIR / "journal" / f"{module}.jsonl"


def journals_for(out: Path, modules) -> dict[str, Journal]:
    """One journal per module."""
    return {m.name: Journal(journal_path(out, m.name), m.n_targets) for m in modules}


def skipped_path(out: Path) -> Path:
    """Subjects not predicted because they failed QC with ``--qc strict``."""
    return out / STATE_DIR / "qc_skipped.txt"
