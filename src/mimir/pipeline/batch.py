"""Preprocessing many subjects: worker processes, the cache and failure records.

:func:`iter_preprocess` yields one record per subject as soon as it is ready, so
inference can start on the first images while later subjects are still being read. :func:`preprocess_batch` drives it to the end and, given
a tables folder, writes ``failures.csv``, ``warnings.csv``, ``qc.csv`` and their
``columns.csv`` there (never into the cache, which many runs share).

Worker processes run :func:`mimir.pipeline.worker.prepare_one` (re-exported here).
One bad subject never stops a batch: every exception is turned into a failure record,
and a worker process that dies (out of memory, a crash in a library) is replaced; the
subjects it held are retried once, alone, before they are recorded as failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from mimir.cache.store import Cache
from mimir.errors import Kind
from mimir.limits import DEFAULT_LIMITS, Limits, usable_cpus
from mimir.output.dictionary import dictionary_of_tables, write_dictionary
from mimir.output.records import FAILURE_COLUMNS, WARNING_COLUMNS, merge_records
from mimir.pipeline.inputs import name_problem
from mimir.pipeline.worker import (  # re-exported: the worker's task and its record
    WATCH_INTERVAL,
    Record,
    prepare_one,
    process_one,
    watch_parent,
    write_volumes,
)
from mimir.qc.flags import qc_table
from mimir.reading.archive import subject_name

__all__ = ["WATCH_INTERVAL", "BatchSummary", "Record", "iter_preprocess", "preprocess_batch",
           "prepare_one", "process_one", "watch_parent", "write_volumes"]


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
