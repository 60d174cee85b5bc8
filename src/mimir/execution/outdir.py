"""The output folder of a run: checks, the lock, and what ``--resume``/``--overwrite`` do.

Layout (MIMIR writes only these; anything else in the folder is the user's)::

    OUT/predictions.csv, predictions.parquet, qc.csv, failures.csv, run.json,
        report.html, merged.json
    OUT/<module>/predictions.csv
    OUT/.mimir/state.json      what the run is (modules, batching, shard) and the
                               files it writes
    OUT/.mimir/journal/*.jsonl predictions so far (see mimir.execution.journal)
    OUT/.mimir/lock            the running process (pid, host) while a run writes

One run per folder at a time: the lock holds the PID and host; a second run is refused,
and a lock whose process is gone (same host) is taken over with a message.
``--overwrite`` removes only the files MIMIR lists as its own (``state.json``), never
other files; folders it created go only when they are empty.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from mimir.atomic import write_text
from mimir.errors import UsageError

STATE_DIR = ".mimir"
#: Files MIMIR writes at the top of an output folder.
TOP_FILES = ("predictions.csv", "predictions.parquet", "failures.csv", "qc.csv", "run.json",
             "report.html", "merged.json", "changes.csv")


def state_path(out: Path) -> Path:
    return out / STATE_DIR / "state.json"


def read_state(out: Path) -> dict | None:
    """``state.json`` of a run folder, or None."""
    p = state_path(out)
    if not p.is_file():
        return None
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{p} is unreadable ({exc}); move the folder aside or use "
                         "another --out") from None
    if not isinstance(state, dict):
        raise UsageError(f"{p} is not a MIMIR state file; use another --out")
    return state


def owned_files(modules: list[str]) -> list[str]:
    """Relative paths of the files a run with these modules writes."""
    return list(TOP_FILES) + [f"{m}/predictions.csv" for m in modules]


def ensure_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Raises
    ------
    UsageError
        When it is a file, cannot be created, or is not writable.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".mimir-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to {what} {folder}: {exc.strerror or exc}") from None
    return folder


# the lock ----------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """A process's start time (Linux; tells a reused PID from the original)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _start_time(pid)
    return started is None or now is None or now == started


class RunLock:
    """``OUT/.mimir/lock``: one run per output folder.

    Parameters
    ----------
    out : Path
        The output folder (must exist).
    log : callable
        Receives the message when a stale lock is taken over.
    """

    def __init__(self, out: Path, log: Callable[[str], None] = print):
        self.path = Path(out) / STATE_DIR / "lock"
        self.log = log
        self.mine: dict | None = None

    def acquire(self, command: str = "") -> None:
        """Take the lock, or raise UsageError naming the run that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": _start_time(os.getpid()), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": command}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released meanwhile
                if holder.get("host") == me["host"] and not _alive(int(holder.get("pid", -1)),
                                                                   holder.get("started")):
                    self.log(f"taking over the lock of a run that is gone (pid "
                             f"{holder.get('pid')}, started {holder.get('since')}): "
                             f"{self.path}")
                    self.path.unlink(missing_ok=True)
                    continue
                raise UsageError(
                    f"{self.path.parent.parent} is in use by another mimir run (pid "
                    f"{holder.get('pid')} on {holder.get('host')}, since "
                    f"{holder.get('since')}); wait for it to finish, or remove "
                    f"{self.path} if that run no longer exists") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            self.mine = me
            return
        raise UsageError(f"could not take the lock {self.path}; another run keeps taking it")

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            holder = {}
        if not isinstance(holder, dict) or "pid" not in holder:
            # a lock torn by a crash while it was written: its writer is gone
            return {"pid": -1, "host": socket.gethostname(), "since": "unknown"}
        return holder

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.mine is None:
            return
        holder = self._holder()
        if holder is not None and holder.get("pid") == self.mine["pid"] and \
                holder.get("host") == self.mine["host"]:
            self.path.unlink(missing_ok=True)
        self.mine = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# resume / overwrite --------------------------------------------------------------------

def _remove_owned(out: Path, prev: dict | None) -> None:
    """Remove what an earlier run wrote (its listed files; the state except the lock)."""
    import shutil

    listed = (prev or {}).get("outputs") or owned_files((prev or {}).get("modules") or [])
    for rel in listed:
        p = out / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
        parent = p.parent
        if parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    state = out / STATE_DIR
    if state.is_dir():
        for p in state.iterdir():
            if p.name == "lock":
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def _foreign(out: Path, files: list[str]) -> list[str]:
    return [rel for rel in files if (out / rel).exists()]


def prepare(out: Path, state: dict, resume: bool, overwrite: bool) -> dict | None:
    """Make ``out`` ready for a run described by ``state`` (the lock already held).

    ``state`` must list ``modules`` and the run's ``outputs``; keys ``modules``,
    ``batch_size`` and ``shard`` must match an earlier run to resume it.

    Returns
    -------
    dict or None
        The earlier run's state, when resuming one.

    Raises
    ------
    UsageError
        When the folder holds results and neither ``resume`` nor ``overwrite`` is given,
        when a resumed run differs, or when files MIMIR would write exist but are not
        MIMIR's.
    """
    prev = read_state(out)
    mine = set((prev.get("outputs") or owned_files(prev.get("modules") or [])) if prev
               else [])
    has_results = (any((out / rel).exists() for rel in mine)
                   or (out / STATE_DIR / "journal").is_dir())
    if prev is None:
        clash = _foreign(out, state["outputs"])
        if clash:
            raise UsageError(f"{out} holds {', '.join(clash[:3])}, which MIMIR did not write "
                             "(no .mimir/state.json); move them or use another --out")
    elif has_results:
        if overwrite:
            _remove_owned(out, prev)
            prev = None
        elif not resume:
            raise UsageError(f"output folder {out} already holds results; use --resume to "
                             "finish it or --overwrite to start again")
        else:
            for key, what in (("modules", "modules"), ("batch_size", "--batch-size"),
                              ("shard", "--shard")):
                if prev.get(key) != state[key]:
                    raise UsageError(f"{out} was started with {what} {prev.get(key)}; resume "
                                     f"with the same {what} or use --overwrite")
        clash = [rel for rel in _foreign(out, state["outputs"]) if rel not in mine]
        if clash:
            raise UsageError(f"{out} holds {', '.join(clash[:3])}, which MIMIR did not write; "
                             "move them or use another --out")
    (out / STATE_DIR).mkdir(exist_ok=True)
    write_text(state_path(out), json.dumps(state, indent=1))
    return prev
