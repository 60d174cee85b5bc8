"""Journals: what a run has done so far, appended batch by batch and fsynced.

Each module's predictions go to ``OUT/.mimir/journal/<module>.jsonl``, one JSON array
per subject (``[name, mean_1, var_1, mean_2, var_2, ...]``; floats round-trip exactly,
names may hold any character). Subjects not predicted because they failed QC in strict
mode are listed in ``OUT/.mimir/qc_skipped.txt``.

Interruptions (kill -9, a full disk) can leave a torn last line. :func:`repair` cuts a
journal back to its last complete line before a run appends to it, so a torn entry is
redone, never glued to the next one. Journals of earlier versions (comma-separated) are
still read.

Journals live in the output folder, which anyone may have changed since: each is opened
as a regular file only, never through a symbolic link (which could point out of the
folder) and never a FIFO or device (:func:`open_state_file`); lines are read up to
:data:`MAX_LINE_BYTES`, and a line that is not a name and finite numbers (nested
arrays, NaN, text) is skipped like a torn one, so its subject is redone.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mimir.errors import NO_SPACE, UsageError, disk_full
from mimir.execution.outdir import STATE_DIR

#: Longest journal line read (a module's largest allowed number of targets, 100,000,
#: needs about 5 MB); longer ones are skipped.
MAX_LINE_BYTES = 32 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
    | getattr(os, "O_CLOEXEC", 0)


def open_state_file(path: Path, flags: int, mode: int = 0o644) -> int | None:
    """Open one of the run's state files (``os.open`` flags) if it is a regular file; None
    when it does not exist (and ``flags`` do not create it).

    Raises
    ------
    UsageError
        For a symbolic link (the file or its folder), a FIFO, a device or a folder in its
        place.
    """
    if path.parent.is_symlink():
        raise UsageError(f"{path.parent} is a symbolic link; MIMIR's run state must be a "
                         "folder of its own: move it aside or use another --out")
    try:
        fd = os.open(path, flags | _NOFOLLOW, mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise UsageError(f"{path} is a symbolic link; MIMIR's run state must be a regular "
                             "file: move it aside or use another --out") from None
        raise UsageError(f"cannot open {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UsageError(f"{path} is not a regular file (a FIFO, device or folder); move it "
                         "aside or use another --out")
    os.set_blocking(fd, True)
    return fd


def _lines(path: Path) -> Iterator[bytes]:
    """Complete lines of a state file (with their newline), each at most
    :data:`MAX_LINE_BYTES` (longer ones are skipped whole)."""
    fd = open_state_file(path, os.O_RDONLY)
    if fd is None:
        return
    with os.fdopen(fd, "rb") as fh:
        while line := fh.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES:
                while line and not line.endswith(b"\n"):
                    line = fh.readline(MAX_LINE_BYTES)
                continue
            yield line


def repair(path: Path) -> bool:
    """Cut a file of lines back to its last complete line; True if it was torn."""
    fd = open_state_file(path, os.O_RDWR)
    if fd is None:
        return False
    with os.fdopen(fd, "rb+") as fh:
        size = os.fstat(fd).st_size
        if size == 0:
            return False
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
    if not path.parent.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
    data = memoryview("".join(lines).encode("utf-8"))
    fd = open_state_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert fd is not None  # O_CREAT
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
    names = set()
    for raw in _lines(path):
        if raw.endswith(b"\n") and (name := raw.decode("utf-8", "replace").strip()):
            names.add(name)
    return names


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
            for raw in _lines(p):
                if not raw.endswith(b"\n"):
                    continue  # torn by an interruption
                got = parse(raw.decode("utf-8", "replace").rstrip("\n"))
                if got is not None:
                    out[got[0]] = got[1]
        return out

    def _values(self, vals) -> tuple[np.ndarray, np.ndarray] | None:
        if len(vals) != 2 * self.T:
            return None
        try:
            v = [x if isinstance(x, float) else float(x) for x in vals
                 if not isinstance(x, (bool, list, dict))]
        except (TypeError, ValueError):
            return None
        if len(v) != len(vals) or not all(math.isfinite(x) for x in v):
            return None  # MIMIR journals finite numbers only: a damaged or edited line
        a = np.array(v)
        return a[0::2], a[1::2]

    def _parse_json(self, line: str):
        if not line.startswith("["):
            return None
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
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
