"""The output folder of a run: checks, the lock, and what ``--resume``/``--overwrite`` do.

Layout (MIMIR writes only these; anything else in the folder is the user's)::

    OUT/predictions.csv, predictions.parquet, qc.csv, failures.csv, run.json,
        report.html, columns.csv (the data dictionary), merged.json (after mimir merge)
    OUT/<module>/predictions.csv
    OUT/.mimir/state.json      what the run is (modules, batching, shard), the files it
                               writes and, once it ends, the size and SHA-256 of each
    OUT/.mimir/journal/<module>.jsonl   predictions so far (see mimir.execution.journal)
    OUT/.mimir/qc_skipped.txt  subjects not predicted under --qc strict
    OUT/.mimir/order.txt       the order subjects were named in (the tables' row order)
    OUT/.mimir/lock            the running process (pid, host) while a run writes

One run per folder at a time: the lock holds the PID and host; a second run is refused,
and a lock whose process is gone (same host) is taken over with a message.

Nothing in the folder is trusted: ``state.json`` may have been edited, files replaced
by links. ``--overwrite`` and ``--resume`` touch only the files above (a path that
``state.json`` lists is used only when it is one of them: ``../victim.txt`` or
``/etc/passwd`` never is), only when each is a regular file reached without a symbolic
link, and only when it still has the size and SHA-256 recorded when the run ended
(:func:`seal`; a run killed before that is checked by name alone). Anything else,
including the user's own files under ``.mimir/``, stays, with a note; a file MIMIR would
write but that is not its own stops the run. Folders MIMIR created go only when empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mimir.atomic import write_text
from mimir.errors import MimirError, UsageError
from mimir.safeio import UntrustedFile, load_json, read_regular, regular_file

STATE_DIR = ".mimir"
#: Files MIMIR writes at the top of an output folder.
TOP_FILES = ("predictions.csv", "predictions.parquet", "failures.csv", "qc.csv", "run.json",
             "report.html", "merged.json", "columns.csv",
             "changes.csv")


#: Files MIMIR writes under ``OUT/.mimir`` besides the journals and the lock.
STATE_FILES = ("state.json", "qc_skipped.txt", "order.txt")
#: Largest state.json read (a real one is a few kB).
MAX_STATE_BYTES = 16 << 20
#: Largest lock file read (a real one is about 150 bytes).
MAX_LOCK_BYTES = 64 << 10


def state_path(out: Path) -> Path:
    return out / STATE_DIR / "state.json"


def _state_dir(out: Path) -> Path:
    """``OUT/.mimir``, refusing a link or a file there (state would be written
    elsewhere)."""
    d = Path(out) / STATE_DIR
    if d.is_symlink() or (os.path.lexists(d) and not d.is_dir()):
        raise UsageError(f"{d} is a link or a file, not MIMIR's state folder; move it aside "
                         "or use another --out")
    return d


def read_state(out: Path) -> dict | None:
    """``state.json`` of a run folder, or None (read as a regular file of at most
    :data:`MAX_STATE_BYTES`, JSON depth checked)."""
    p = state_path(out)
    try:
        state = load_json(read_regular(p, MAX_STATE_BYTES), p)
    except FileNotFoundError:
        return None
    except (OSError, UntrustedFile) as exc:
        raise UsageError(f"{p} is unusable ({exc}); move the folder aside or use "
                         "another --out") from None
    if not isinstance(state, dict):
        raise UsageError(f"{p} is not a MIMIR state file; use another --out")
    return state


def plain_name(name: object) -> bool:
    """Whether ``name`` can be a module folder's name inside the output folder (one
    path component: no separators, not ``..``, not the state folder)."""
    return (isinstance(name, str) and bool(name) and not any(c in name for c in "/\\\0")
            and name not in (".", "..", STATE_DIR))


def owned_files(modules: list[str]) -> list[str]:
    """Relative paths of the files a run with these modules writes."""
    return list(TOP_FILES) + [f"{m}/predictions.csv" for m in modules if plain_name(m)]


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
    if pid <= 0:  # a torn lock (its writer is gone); kill(-1, 0) would probe every process
        return False
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
        _state_dir(self.path.parent.parent).mkdir(parents=True, exist_ok=True)
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
            holder = load_json(read_regular(self.path, MAX_LOCK_BYTES) or b"{}", self.path)
        except FileNotFoundError:
            return None
        except (OSError, UntrustedFile):
            holder = {}
        if not isinstance(holder, dict) or "pid" not in holder:
            # a lock torn by a crash while it was written: its writer is gone
            return {"pid": -1, "host": socket.gethostname(), "since": "unknown"}
        return holder

    def release(self) -> None:
        """Seal the run's outputs (:func:`seal`) if this process prepared the folder, then
        remove the lock if this process holds it."""
        if self.mine is None:
            return
        out = self.path.parent.parent
        if _key(out) in _PREPARED:
            _PREPARED.discard(_key(out))
            try:
                seal(out)
            except (OSError, MimirError, UntrustedFile):
                pass  # no record: a later run checks these outputs by name alone
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

def _say(log: Callable[[str], None] | None) -> Callable[[str], None]:
    return log or (lambda m: print(m, file=sys.stderr))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with regular_file(path) as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _reached_plainly(out: Path, rel: str) -> bool:
    """Whether every folder between ``out`` and ``out/rel`` is a real folder (no link)."""
    p = out
    for part in Path(rel).parts[:-1]:
        p = p / part
        if p.is_symlink() or not p.is_dir():
            return False
    return True


def _record(path: Path) -> dict:
    st = path.lstat()
    return {"size": st.st_size, "sha256": _sha256(path)}


def _not_mine(out: Path, rel: str, record: object) -> str | None:
    """Why ``out/rel`` (which exists) is not the file MIMIR wrote there; None when it is.

    ``record``: the size and SHA-256 :func:`seal` recorded (None: check by name only).
    """
    p = out / rel
    if not _reached_plainly(out, rel):
        return "it lies behind a symbolic link"
    st = p.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if isinstance(record, dict):
        if record.get("size") != st.st_size:
            return "it changed since MIMIR wrote it (size)"
        try:
            if record.get("sha256") != _sha256(p):
                return "it changed since MIMIR wrote it (SHA-256)"
        except (OSError, UntrustedFile):
            return "it cannot be read"
    return None


def recorded_outputs(prev: dict) -> tuple[dict, list]:
    """The outputs an earlier run's state lists that MIMIR may own, and the rest.

    Returns
    -------
    owned : dict
        Relative path -> the record :func:`seal` made of it (None when there is none),
        for listed paths that are files MIMIR writes (:func:`owned_files` of the state's
        modules).
    strange : list
        Listed paths that are not (``../victim.txt``, absolute paths, anything else).
    """
    modules = [m for m in (prev.get("modules") or []) if plain_name(m)] \
        if isinstance(prev.get("modules"), list) else []
    allowed = set(owned_files(modules))
    listed = prev.get("outputs")
    if not isinstance(listed, list):
        listed = owned_files(modules)
    written = prev.get("written")
    if not isinstance(written, dict):
        written = {}
    owned, strange = {}, []
    for rel in listed:
        if isinstance(rel, str) and rel in allowed:
            owned[rel] = written.get(rel)
        else:
            strange.append(rel)
    return owned, strange


def _mine_now(out: Path, prev: dict | None) -> tuple[set, dict, list]:
    """(paths of the earlier run's outputs that are still MIMIR's, {path: why not} for
    listed outputs that exist but are not, listed paths MIMIR never writes)."""
    if prev is None:
        return set(), {}, []
    owned, strange = recorded_outputs(prev)
    mine, other = set(), {}
    for rel, record in owned.items():
        if not os.path.lexists(out / rel):
            continue
        why = _not_mine(out, rel, record)
        if why is None:
            mine.add(rel)
        else:
            other[rel] = why
    return mine, other, strange


def _journal_names(prev: dict) -> set[str]:
    modules = prev.get("modules")
    if not isinstance(modules, list):
        modules = []
    return {f"{m}{ext}" for m in modules if plain_name(m) for ext in (".jsonl", ".csv")}


def _remove_state(out: Path, prev: dict, say: Callable[[str], None]) -> None:
    """Remove MIMIR's state files (regular files of MIMIR's names only; the lock stays)."""
    state = out / STATE_DIR
    journal = state / "journal"
    kept = []
    for folder, names in ((state, set(STATE_FILES)), (journal, _journal_names(prev))):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for p in sorted(folder.iterdir()):
            if p.name == "lock" and folder == state or p == journal:
                continue
            if p.name in names and not p.is_symlink() and p.is_file():
                p.unlink()
            else:
                kept.append(p)
    if journal.is_dir() and not journal.is_symlink() and not any(journal.iterdir()):
        journal.rmdir()
    if kept:
        say(f"--overwrite left {len(kept)} file(s) under {state} that MIMIR did not write "
            f"there (first: {kept[0].name})")


def _remove_owned(out: Path, prev: dict, mine: set, log=None) -> None:
    """Remove what an earlier run wrote: its outputs that are still MIMIR's (``mine``),
    their folders when empty, and its state files."""
    say = _say(log)
    for rel in sorted(mine):
        p = out / rel
        p.unlink()
        parent = p.parent
        if parent != out and not parent.is_symlink() and parent.is_dir() \
                and not any(parent.iterdir()):
            parent.rmdir()
    _remove_state(out, prev, say)


def _foreign(out: Path, files: list[str]) -> list[str]:
    return [rel for rel in files if os.path.lexists(out / rel)]


def _check_new_outputs(out: Path, files: list[str]) -> None:
    """Refuse outputs that would be written through a link or onto a folder."""
    for rel in files:
        if not _reached_plainly(out, rel) and os.path.lexists((out / rel).parent):
            raise UsageError(f"{(out / rel).parent} is a symbolic link or a file; MIMIR "
                             "writes only inside the output folder: move it aside or use "
                             "another --out")
        if (out / rel).is_dir() and not (out / rel).is_symlink():
            raise UsageError(f"{out / rel} is a folder; move it aside or use another --out")


def prepare(out: Path, state: dict, resume: bool, overwrite: bool,
            log: Callable[[str], None] | None = None) -> dict | None:
    """Make ``out`` ready for a run described by ``state`` (the lock already held).

    ``state`` must list ``modules`` and the run's ``outputs``; keys ``modules``,
    ``batch_size`` and ``shard`` must match an earlier run to resume it. Files an
    earlier run's state lists are used only as :func:`recorded_outputs` and
    :func:`_not_mine` allow; anything else is left where it is, with a note to ``log``
    (default: stderr).

    Returns
    -------
    dict or None
        The earlier run's state, when resuming one.

    Raises
    ------
    UsageError
        When the folder holds results and neither ``resume`` nor ``overwrite`` is given,
        when a resumed run differs, or when files MIMIR would write exist but are not
        MIMIR's (never written by it, or changed since).
    """
    say = _say(log)
    state_dir = _state_dir(out)
    _check_new_outputs(out, state["outputs"])
    prev = read_state(out)
    mine, other, strange = _mine_now(out, prev)
    if strange:
        say(f"{state_path(out)} lists {len(strange)} path(s) MIMIR never writes (first: "
            f"{str(strange[0])[:80]!r}); left alone")
    for rel, why in sorted(other.items()):
        say(f"{out / rel} is left alone: {why}")
    has_results = bool(mine) or (state_dir / "journal").is_dir()
    clash = [rel for rel in _foreign(out, state["outputs"]) if rel not in mine]
    if clash:
        why = [f"{rel} ({other[rel]})" if rel in other else rel for rel in clash[:3]]
        raise UsageError(f"{out} holds {', '.join(why)}, which MIMIR did not write"
                         f"{'' if prev else ' (no .mimir/state.json)'}; move them or use "
                         "another --out")
    if prev is not None and has_results:
        if overwrite:
            _remove_owned(out, prev, mine, say)
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
    state_dir.mkdir(exist_ok=True)
    if prev is not None:
        written = {rel: rec for rel, rec in recorded_outputs(prev)[0].items() if rel in mine}
        state = dict(state, written=written) if written else state
    write_text(state_path(out), json.dumps(state, indent=1))
    _PREPARED.add(_key(out))
    return prev


#: Output folders prepared by this process whose outputs :meth:`RunLock.release` seals.
_PREPARED: set[str] = set()


def _key(out: Path) -> str:
    return os.path.realpath(out)


def seal(out: Path) -> None:
    """Record in ``state.json`` the size and SHA-256 of each output the run listed and
    wrote (regular files reached without a link), so that a later ``--overwrite`` or
    ``--resume`` can tell them from files changed or put there since."""
    state = read_state(out)
    if state is None:
        return
    owned, _ = recorded_outputs(state)
    written = {}
    for rel in owned:
        p = out / rel
        if os.path.lexists(p) and _not_mine(out, rel, None) is None:
            written[rel] = _record(p)
    write_text(state_path(out), json.dumps(dict(state, written=written), indent=1))
