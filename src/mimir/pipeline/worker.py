"""What a preprocessing worker process runs: one subject, from its zip to the cache.

:func:`prepare_one` (the cache lookup, then :func:`process_one` where needed) is the
task of every worker (local processes, Dask tasks) and
:func:`watch_parent` the initialiser of local worker processes. They live apart from
:mod:`mimir.pipeline.batch` so that a worker process imports only what preprocessing
needs (not pandas and the tables of the batch), which makes worker start-up about a
second shorter on the benchmark machine.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir.atomic import atomic_path
from mimir.cache.store import Cache, CacheEntry, CacheError
from mimir.errors import NO_SPACE, Kind, SubjectError, disk_full, failure_row
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.logs import capture_library_warnings
from mimir.notes import Note
from mimir.pipeline.allocator import tune_allocator
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


def write_volumes(volumes: dict, folder: Path, name: str) -> None:
    """Write fused water, fat, fat fraction and mask as NIfTI (atomically)."""
    import nibabel as nib  # lazy: nibabel loads only where it is used

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
    capture_library_warnings()  # as the parent: to the log, on the terminal with -v

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(interval)

    threading.Thread(target=watch, name="mimir-watch-parent", daemon=True).start()


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
