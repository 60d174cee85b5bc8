"""The work of an ``infer`` run, the same for every backend.

A subject becomes ready with :func:`mimir.pipeline.batch.prepare_one` (cache lookup,
stale-entry rebuild, preprocessing, failure record) and its image is read with
:func:`load`; a complete chunk of subjects goes through :func:`predict` (the ``--qc
strict`` filter, every module, a failure row per subject a module could not predict).
:func:`chunk_task` does all of it for one chunk in one call: it is what a distributed
backend sends to a worker. A backend only decides where and in what order these run;
what they return is booked by the :class:`~mimir.execution.sink.ResultSink`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np

from mimir.cache.store import Cache, CacheError
from mimir.errors import Kind, ModuleFormatError, failure_row
from mimir.modules.format import load_module
from mimir.pipeline.batch import Record, prepare_one
from mimir.qc.flags import subject_flags


@dataclass
class ChunkResult:
    """What one chunk's predictions gave.

    Attributes
    ----------
    names : list of str
        The subjects that went through the modules.
    skipped : list of str
        Subjects left out because they fail QC (``--qc strict``).
    predictions : dict
        Module name -> (mean, variance), arrays (len(names), T).
    failures : list of dict
        Failure rows of subjects a module could not predict.
    module_failures : dict
        Module name -> why it could not be loaded (where that was found on a worker).
    device : str
        Where the networks ran.
    seconds : float
        Time in the networks.
    """

    names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    predictions: dict = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    module_failures: dict = field(default_factory=dict)
    device: str = ""
    seconds: float = 0.0


def load(cache: Cache, rec: Record) -> tuple[np.ndarray | None, Record]:
    """The cached image of a ready record (None for others); an image that cannot be
    read turns the record into a ``cache corrupt`` failure."""
    if rec.status not in ("done", "cached"):
        return None, rec
    try:
        return cache.read_image(rec.name), rec
    except CacheError as exc:
        rec.status, rec.kind = "failed", Kind.CACHE_CORRUPT
        rec.message = f"subject {rec.name}: {exc}"
        return None, rec


def qc_split(cache: Cache, names: list[str], qc: str) -> tuple[list[str], list[str]]:
    """(subjects to predict, subjects left out for failing QC); only ``strict`` leaves
    any out."""
    if qc != "strict":
        return list(names), []
    keep, skipped = [], []
    for n in names:
        entry = cache.read_entry(n)
        if entry.facts and not subject_flags(entry.facts, entry.warnings)["qc_pass"]:
            skipped.append(n)
        else:
            keep.append(n)
    return keep, skipped


def engine_options(opts, device: str):
    """The engine options of a run's options: every field of
    :class:`~mimir.inference.engine.EngineOptions` that is also an ``infer`` option is
    taken from it, so an option reaches the network by its name alone."""
    from mimir.inference.engine import EngineOptions  # lazy: imports torch

    names = set(opts.SPEC.names())
    return EngineOptions(device=device, **{f.name: getattr(opts, f.name)
                                           for f in fields(EngineOptions)
                                           if f.name in names and f.name != "device"})


def load_engines(modules: list, opts, device: str) -> tuple[list, dict]:
    """Every module's network on ``device``: (engines, module name -> why it could not
    be loaded)."""
    from mimir.inference.engine import LoadedModule  # lazy: imports torch

    eopts = engine_options(opts, device)
    engines, failed = [], {}
    for m in modules:
        try:
            engines.append(LoadedModule(m, eopts))
        except ModuleFormatError as exc:
            failed[m.name] = str(exc)
    return engines, failed


def predict(engines: list, names: list[str], images: list, cache: Cache, qc: str,
            paths: dict) -> ChunkResult:
    """Run every module on a chunk's ready subjects.

    Parameters
    ----------
    engines : list of LoadedModule
    names, images : list
        The chunk's ready subjects and their images, in chunk order.
    cache : Cache
        For the QC facts (``--qc strict``).
    qc : str
        The ``--qc`` mode.
    paths : dict
        Subject -> zip path (for failure rows).
    """
    keep, skipped = qc_split(cache, names, qc)
    res = ChunkResult(names=keep, skipped=skipped)
    if not keep:
        return res
    by_name = dict(zip(names, images, strict=True))
    batch = np.stack([by_name[n] for n in keep])
    t0 = time.perf_counter()
    for eng in engines:
        try:
            res.predictions[eng.module.name] = eng.predict(batch)
        except Exception as exc:  # e.g. out of GPU memory: these subjects fail
            res.failures += [failure_row(n, Kind.MODULE_ERROR,
                                         f"subject {n}: module {eng.module.name}: "
                                         f"{type(exc).__name__}: {exc}", paths.get(n))
                             for n in keep]
    res.seconds = time.perf_counter() - t0
    return res


#: Engines loaded in this (worker) process: (module path, options) -> engine or error.
_ENGINES: dict = {}


def _worker_engines(module_paths: list[str], opts, device: str) -> tuple[list, dict]:
    engines, failed = [], {}
    for p in module_paths:
        key = (p, device, repr(engine_options(opts, device)))
        if key not in _ENGINES:
            try:
                got, why = load_engines([load_module(p)], opts, device)
                _ENGINES[key] = got[0] if got else ModuleFormatError(next(iter(why.values())))
            except ModuleFormatError as exc:
                _ENGINES[key] = exc
        hit = _ENGINES[key]
        if isinstance(hit, ModuleFormatError):
            failed[_module_name(p)] = str(hit)
        else:
            engines.append(hit)
    return engines, failed


def _module_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def chunk_task(names: list[str], paths: list[str | None], cache_root: str,
               module_paths: list[str], opts) -> tuple[list[Record], ChunkResult]:
    """One chunk, start to end, in one call (what a worker of a distributed backend runs).

    Each subject is made ready (:func:`~mimir.pipeline.batch.prepare_one`), its image
    read (:func:`load`), and the ready ones predicted (:func:`predict`) on the device
    chosen here, on the worker. Returns the subjects' records and the chunk's result.
    """
    from mimir.inference.engine import pick_device, set_threads  # lazy: imports torch

    device = pick_device(opts.device)
    set_threads(opts.threads or 1)
    cache = Cache(cache_root)
    records, ready, images = [], [], []
    t0 = time.perf_counter()
    for n, p in zip(names, paths, strict=True):
        rec = prepare_one(p, cache_root, None, opts.limits, name=n)
        img, rec = load(cache, rec)
        records.append(rec)
        if img is not None:
            ready.append(n)
            images.append(img)
    prep = time.perf_counter() - t0
    engines, failed = _worker_engines(module_paths, opts, device)
    res = predict(engines, ready, images, cache, opts.qc, dict(zip(names, paths, strict=True)))
    res.module_failures, res.device = failed, device
    for rec in records:
        rec.timings.setdefault("prepare", prep / max(1, len(records)))
    return records, res
