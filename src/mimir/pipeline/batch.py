"""Preprocessing many subjects: worker processes, the cache and failure records.

:func:`iter_preprocess` yields one record per subject as soon as it is done (cached
subjects first, without work), so inference can start on the first images while later
subjects are still being read. :func:`preprocess_batch` drives it to the end and, given
a tables folder, writes ``failures.csv``, ``warnings.csv``, ``qc.csv`` and their
``columns.csv`` there (never into the cache, which many runs share).

One bad subject never stops a batch: every exception is turned into a failure record,
and a worker process that dies (out of memory, a crash in a library) is replaced; the
subjects it held are retried once, alone, before they are recorded as failed.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mimir.cache.store import Cache, CacheEntry, CacheError
from mimir.errors import NO_SPACE, Kind, SubjectError, disk_full, failure_row
from mimir.limits import DEFAULT_LIMITS, Limits, usable_cpus
from mimir.notes import Note
from mimir.output.dictionary import dictionary_of_tables, write_dictionary
from mimir.output.records import FAILURE_COLUMNS, WARNING_COLUMNS, merge_records
from mimir.pipeline.allocator import tune_allocator
from mimir.pipeline.inputs import name_problem
from mimir.pipeline.subject import preprocess_subject
from mimir.reading.archive import subject_name


@dataclass
class Record:
    """What happened to one subject."""

    name: str
    path: str
    status: str  # "done", "cached", "failed", "excluded"
    kind: str = ""
    member: str = ""
    message: str = ""
    warnings: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def failure_row(self) -> dict:
        return failure_row(self.name, self.kind, self.message, self.path, self.member)


@dataclass
class BatchSummary:
    """Counts and records of a preprocessing run."""

    records: list
    elapsed: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def failed(self) -> list:
        return [r for r in self.records if r.status == "failed"]

    def line(self) -> str:
        """One line for people; the rate only where subjects were preprocessed."""
        n, done = len(self.records), self.count("done")
        rate = f" ({done / self.elapsed:.2f} subjects/s)" if done and self.elapsed >= 1 else ""
        return (f"{n} subjects: {done} preprocessed, {self.count('cached')} "
                f"already cached, {self.count('failed')} failed, {self.count('excluded')} "
                f"excluded; {sum(len(r.warnings) for r in self.records)} warnings; "
                f"{self.elapsed:.1f} s{rate}")


def write_volumes(volumes: dict, folder: Path, name: str) -> None:
    """Write fused water, fat, fat fraction and mask as NIfTI (atomically)."""
    import nibabel as nib

    from mimir.atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    for key, dtype in (("water", np.float32), ("fat", np.float32), ("ff", np.float32),
                       ("mask", np.uint8)):
        img = nib.Nifti1Image(np.asarray(volumes[key], dtype=dtype), volumes["affine"])
        img.header.set_xyzt_units("mm")
        if key == "ff":
            img.header["descrip"] = b"fat fraction, per mille"
        target = folder / f"{name}_{key}.nii.gz"
        with atomic_path(target) as tmp:
            nib.save(img, str(tmp) + ".nii.gz")
            os.replace(str(tmp) + ".nii.gz", tmp)


def process_one(path: str, cache_root: str, volumes_dir: str | None,
                limits: Limits = DEFAULT_LIMITS) -> Record:
    """Preprocess one subject and write it to the cache (runs in a worker)."""
    tune_allocator()
    name = subject_name(path)
    try:
        res = preprocess_subject(path, limits, keep_volumes=volumes_dir is not None)
        if volumes_dir is not None and res.volumes is not None:
            write_volumes(res.volumes, Path(volumes_dir), name)
        entry = CacheEntry(name=name, source=str(path), warnings=res.warnings,
                           facts=res.facts)
        Cache(cache_root).write(res.image, entry)
        return Record(name=name, path=str(path), status="done", warnings=res.warnings,
                      timings=res.timings)
    except SubjectError as exc:
        return Record(name=name, path=str(path), status="failed", kind=exc.kind,
                      member=exc.member or "", message=str(exc))
    except OSError as exc:
        if exc.errno in NO_SPACE:  # stops the run: every later subject would fail too
            raise disk_full(exc, cache_root) from None
        tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return Record(name=name, path=str(path), status="failed", kind=Kind.INTERNAL_ERROR,
                      message=f"subject {name}: {type(exc).__name__}: {exc} ({tb})")
    except Exception as exc:  # a bug: recorded, never allowed to stop the batch
        tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return Record(name=name, path=str(path), status="failed", kind=Kind.INTERNAL_ERROR,
                      message=f"subject {name}: {type(exc).__name__}: {exc} ({tb})")


def prepare_one(path: str | None, cache_root: str, volumes_dir: str | None = None,
                limits: Limits = DEFAULT_LIMITS, name: str | None = None) -> Record:
    """One subject's image in the cache: the cache lookup, then preprocessing where needed.

    The one way every driver (``preprocess``, and every ``infer`` backend) gets a subject
    ready: an entry that is cached and sound (sidecar, image hash, unchanged zip) is used
    as it is; a damaged, replaced or stale one is made again from its zip (with a
    ``cache_rebuilt`` warning); a subject without a zip (``path`` None: from the cache
    alone) whose entry is damaged fails as ``cache corrupt``.

    Parameters
    ----------
    path : str or None
        The subject's zip, or None for a subject known only from the cache.
    cache_root : str
        The image cache.
    volumes_dir : str, optional
        Also write NIfTI volumes there (a cached subject without them is redone).
    limits : Limits
        Resource limits for the zip.
    name : str, optional
        The subject's name (default: from the zip's file name).

    Returns
    -------
    Record
        ``cached``, ``done`` or ``failed``.
    """
    name = name or subject_name(path or "")
    cache = Cache(cache_root)
    rebuilt = None
    present = os.path.lexists(cache.image_path(name))  # a link or FIFO there: a problem
    if present and (volumes_dir is None or
                    (Path(volumes_dir) / f"{name}_mask.nii.gz").exists()):
        problem = cache.problem(name, path)
        if problem is None:
            try:
                warnings = cache.read_entry(name).warnings
            except CacheError as exc:  # changed since the check
                problem = str(exc)
            else:
                return Record(name=name, path=str(path or ""), status="cached",
                              warnings=warnings)
        rebuilt = Note("cache_rebuilt", f"cache entry rebuilt: {problem}")
        if path is None:
            return Record(name=name, path="", status="failed", kind=Kind.CACHE_CORRUPT,
                          message=f"subject {name}: {problem}")
    elif path is None:
        return Record(name=name, path="", status="failed", kind=Kind.CACHE_CORRUPT,
                      message=f"subject {name}: not in the cache {cache_root} any more")
    rec = process_one(str(path), str(cache_root), volumes_dir, limits)
    if rebuilt is not None:
        rec.warnings.insert(0, rebuilt)
    return rec


def iter_preprocess(paths: list[Path], cache: Cache, workers: int = 1,
                    volumes_dir: str | os.PathLike | None = None,
                    limits: Limits = DEFAULT_LIMITS,
                    excluded: dict[str, str] | None = None) -> Iterator[Record]:
    """Yield a record per subject as each is ready (:func:`prepare_one`, in this process
    or in ``workers`` worker processes).

    Parameters
    ----------
    paths : list of Path
        Subject zips (names must be distinct).
    cache : Cache
        Where images go; subjects already there are not redone.
    workers : int
        Worker processes (1: work in this process); at most the CPUs this process may
        use (:func:`mimir.limits.usable_cpus`).
    volumes_dir : path-like, optional
        Also write NIfTI volumes there (subjects already cached are redone when their
        volumes are missing).
    limits : Limits
        Resource limits for the untrusted zips.
    excluded : dict, optional
        Subject name -> reason; these are not processed and yield ``excluded``.
    """
    excluded = excluded or {}
    todo = []
    for p in paths:
        name = subject_name(p)
        if name in excluded:
            yield Record(name=name, path=str(p), status="excluded", kind=Kind.EXCLUDED,
                         message=excluded[name])
        elif (why := name_problem(name)) is not None:
            yield Record(name=name, path=str(p), status="failed", kind=Kind.UNUSABLE_NAME,
                         message=f"{Path(p).name!r}: {why}")
        else:
            todo.append(p)
    vdir = str(volumes_dir) if volumes_dir is not None else None
    workers = min(workers, usable_cpus())  # more processes than CPUs only add memory
    if workers <= 1 or len(todo) <= 1:
        for p in todo:
            yield prepare_one(str(p), str(cache.root), vdir, limits)
    else:
        yield from _pool_run(todo, cache, workers, vdir, limits)


#: Seconds between a worker's checks that its parent is alive.
WATCH_INTERVAL = 0.5


def watch_parent(parent: int, interval: float = WATCH_INTERVAL) -> None:
    """Worker initialiser: library warnings to the log (:mod:`mimir.logs`), and an end to
    this worker when the process that started it is gone.

    A daemon thread compares ``os.getppid()`` with ``parent`` every ``interval`` seconds;
    after a kill -9 of ``mimir`` the workers are re-parented and exit within about a
    second instead of working on (and writing the cache) unobserved. (A parent-death
    signal, Linux's ``PR_SET_PDEATHSIG``, fires when the *thread* that started the
    worker ends, which in ``infer`` is a short-lived thread, so it is not used.)
    """
    import threading

    from mimir.logs import capture_library_warnings

    capture_library_warnings()  # as the parent: to the log, on the terminal with -v

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(interval)

    threading.Thread(target=watch, name="mimir-watch-parent", daemon=True).start()


def _run_pool(paths: list[str], workers: int, args: tuple) -> Iterator[tuple[str, Record | None]]:
    """Run :func:`prepare_one` over ``paths`` in worker processes.

    Yields (path, record), or (path, None) for subjects whose worker process died; the
    pool is then replaced and the remaining subjects continue.
    """
    ctx = get_context("spawn")
    todo = iter(paths)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=watch_parent, initargs=(os.getpid(),))

    pool = new_pool()
    inflight: dict = {}
    try:
        while True:
            while len(inflight) < 2 * workers:
                path = next(todo, None)
                if path is None:
                    break
                inflight[pool.submit(prepare_one, path, *args)] = path
            if not inflight:
                return
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                path = inflight.pop(fut)
                try:
                    yield path, fut.result()
                except BrokenProcessPool:
                    broken = True
                    yield path, None
            if broken:
                for path in inflight.values():
                    yield path, None
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool_run(todo: list[Path], cache: Cache, workers: int, vdir: str | None,
              limits: Limits) -> Iterator[Record]:
    args = (str(cache.root), vdir, limits)
    lost = []
    completed = 0
    for path, rec in _run_pool([str(p) for p in todo], workers, args):
        if rec is None:
            lost.append(path)
        else:
            completed += 1
            yield rec
    # subjects whose worker died: retried alone, so one cannot take others down
    for path in lost:
        for _, rec in _run_pool([path], 1, args):
            if rec is not None:
                completed += 1
            yield rec or Record(name=subject_name(path), path=path, status="failed",
                                kind=Kind.INTERNAL_ERROR,
                                message=_died_message(subject_name(path), completed))


def _died_message(name: str, completed: int) -> str:
    msg = f"subject {name}: the worker process died while preprocessing it (out of memory?)"
    if completed == 0:
        # every worker so far died: the usual cause is a script that starts a run without
        # the main-module guard, so each spawned worker re-runs the script and fails
        msg += ("; no worker has finished any subject yet: if you call mimir from a "
                "Python script, put the call under `if __name__ == \"__main__\":` "
                "(worker processes are spawned and import the script)")
    return msg


def preprocess_batch(paths: list[Path], cache_dir: str | os.PathLike, workers: int = 1,
                     volumes_dir: str | os.PathLike | None = None,
                     limits: Limits = DEFAULT_LIMITS,
                     excluded: dict[str, str] | None = None,
                     on_record: Callable[[Record], None] | None = None,
                     tables: str | os.PathLike | None = None) -> BatchSummary:
    """Preprocess subjects into a cache folder; write failures.csv, warnings.csv and
    qc.csv into ``tables``.

    Parameters
    ----------
    paths : list of Path
        Subject zips.
    cache_dir : path-like
        The cache folder (created if missing).
    workers : int
        Worker processes.
    volumes_dir : path-like, optional
        Also write fused volumes as NIfTI there.
    limits : Limits
        Resource limits.
    excluded : dict, optional
        Subject name -> reason for subjects not to process.
    on_record : callable, optional
        Called with every record as it arrives (progress display).
    tables : path-like, optional
        Folder for the tables, merged with what an earlier run wrote there (created if
        missing; None: none written).

    Returns
    -------
    BatchSummary
    """
    cache = Cache(cache_dir)
    cache.root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = []
    for rec in iter_preprocess(paths, cache, workers, volumes_dir, limits, excluded):
        records.append(rec)
        if on_record:
            on_record(rec)
    if tables is not None:
        folder = Path(tables)
        folder.mkdir(parents=True, exist_ok=True)
        write_tables(folder, records)
        write_qc(folder, cache, records)
        write_dictionary(folder, dictionary_of_tables(folder))
    return BatchSummary(records=records, elapsed=time.perf_counter() - t0)


def write_qc(folder: Path, cache: Cache, records: list[Record]) -> None:
    """Merge the QC flags of this run's subjects into the folder's ``qc.csv``."""
    from mimir.qc.flags import qc_table

    names = [r.name for r in records if r.status in ("done", "cached")]
    table = qc_table(cache, names)
    merge_records(folder / "qc.csv", table.to_dict("records"), set(names),
                  list(table.columns))


def write_tables(folder: Path, records: list[Record]) -> None:
    """Merge this run's failures and warnings into the folder's tables."""
    handled = {r.name for r in records}
    merge_records(folder / "failures.csv",
                  [r.failure_row() for r in records if r.status in ("failed", "excluded")],
                  handled, FAILURE_COLUMNS)
    merge_records(folder / "warnings.csv",
                  [{"name": r.name, "warning": w} for r in records for w in r.warnings],
                  handled, WARNING_COLUMNS)
