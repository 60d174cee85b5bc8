"""The ``infer`` job: inputs -> cached images -> every module -> prediction tables.

Flow. A background thread preprocesses the subjects that are not cached yet (worker
processes, the same code and failure records as ``mimir preprocess``) and loads each
ready image; the main thread runs the modules as soon as a batch is ready, so
preprocessing and the networks work at the same time.

Batches are fixed: the subjects (sorted by name) are cut into consecutive chunks of
``batch_size`` and a chunk runs once all its subjects are ready or failed. A subject's
prediction therefore never depends on worker timing, and ``--resume`` (which redoes
every chunk not yet complete) gives the same numbers as an uninterrupted run.

Durability. Each module's predictions are appended, batch by batch, to a journal in
``OUT/.mimir/journal/`` (flushed and fsynced). The final tables (``predictions.csv``,
``predictions.parquet``, ``<module>/predictions.csv``, ``failures.csv``) are written
atomically at the end, ``run.json`` last: an interrupted run leaves only the journal,
never a table that looks complete but is not.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir._version import __version__
from mimir.cache.store import Cache
from mimir.errors import MimirError, ModuleFormatError, UsageError
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.output.atomic import atomic_path, write_text
from mimir.output.predictions import combined_table, published_table
from mimir.output.records import FAILURE_COLUMNS, merge_records

STATE_DIR = ".mimir"
OUTPUT_FILES = ("predictions.csv", "predictions.parquet", "failures.csv", "qc.csv", "run.json")


@dataclass
class InferOptions:
    """Options of an ``infer`` run (the CLI flags of the same names)."""

    batch_size: int = 32
    device: str = "auto"
    workers: int = 1
    ci: float = 0.95
    resume: bool = False
    overwrite: bool = False
    precision: str = "fp32"
    compile: bool = False
    threads: int | None = None
    limits: Limits = DEFAULT_LIMITS
    exclude: str | os.PathLike | None = None
    exclude_column: str | None = None
    qc: str = "warn"
    command: str = ""


@dataclass
class InferSummary:
    """What an ``infer`` run did."""

    out: Path
    subjects: int
    predicted: int
    failures: list = field(default_factory=list)
    module_failures: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.module_failures

    def line(self) -> str:
        t = self.timings.get("total", 0.0)
        return (f"{self.subjects} subjects: {self.predicted} predicted, {len(self.failures)} "
                f"failed; {len(self.module_failures)} module(s) failed; {t:.1f} s; results in "
                f"{self.out}")


class Journal:
    """Append-only per-module record of predictions (name, mean and variance per target)."""

    def __init__(self, path: Path, n_targets: int):
        self.path = path
        self.T = n_targets

    def read(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Predictions so far; the last line of a subject wins; torn lines are skipped."""
        out: dict = {}
        if not self.path.is_file():
            return out
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    continue  # a line torn by an interruption
                parts = line.rstrip("\n").split(",")
                if len(parts) != 1 + 2 * self.T or parts[0] == "name":
                    continue
                try:
                    vals = np.array([float(v) for v in parts[1:]])
                except ValueError:
                    continue
                out[parts[0]] = (vals[0::2], vals[1::2])
        return out

    def append(self, names: list[str], mean: np.ndarray, var: np.ndarray) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, n in enumerate(names):
            vals = np.empty(2 * self.T)
            vals[0::2], vals[1::2] = mean[i], var[i]
            lines.append(n + "," + ",".join(repr(float(v)) for v in vals) + "\n")
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())


def _prepare_out(out: Path, opts: InferOptions, module_names: list[str]) -> None:
    state = out / STATE_DIR / "state.json"
    if out.exists() and any(out.iterdir()):
        if opts.overwrite:
            for name in OUTPUT_FILES:
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / STATE_DIR, ignore_errors=True)
            for d in out.iterdir():
                if d.is_dir() and (d / "predictions.csv").is_file():
                    shutil.rmtree(d)
        elif not opts.resume:
            raise UsageError(f"output folder {out} already holds results; use --resume to "
                             "finish it or --overwrite to start again")
        elif state.is_file():
            prev = json.loads(state.read_text(encoding="utf-8"))
            if prev.get("modules") != module_names:
                raise UsageError(f"{out} was started with modules {prev.get('modules')}; "
                                 "resume with the same modules or use --overwrite")
            if prev.get("batch_size") != opts.batch_size:
                raise UsageError(f"{out} was started with --batch-size "
                                 f"{prev.get('batch_size')}; resume with the same batch size "
                                 "(it fixes which subjects are predicted together)")
    out.mkdir(parents=True, exist_ok=True)
    (out / STATE_DIR).mkdir(exist_ok=True)
    write_text(state, json.dumps({"modules": module_names, "batch_size": opts.batch_size,
                                  "engine": __version__}))


def _load_modules(specs: list) -> tuple[list, list]:
    from mimir.modules.format import load_module
    from mimir.modules.registry import resolve

    modules, failures = [], []
    for spec in specs:
        try:
            modules.append(load_module(resolve(spec)))
        except ModuleFormatError as exc:
            failures.append({"module": str(spec), "message": str(exc)})
    names = [m.name for m in modules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise UsageError(f"two modules share the folder name {sorted(dup)[0]!r}")
    return modules, failures


def infer(inputs, modules, out: str | os.PathLike, cache: str | os.PathLike | None = None,
          options: InferOptions | None = None,
          on_start: Callable[[int, int], None] | None = None,
          on_preprocessed: Callable | None = None,
          on_batch: Callable[[int], None] | None = None) -> InferSummary:
    """Run modules on subjects and write the prediction tables.

    Parameters
    ----------
    inputs : list of path-like
        Zips, folders or list files (as for ``preprocess``); empty: every image
        already in the cache.
    modules : list of str or path-like
        Module folders or installed module names.
    out : path-like
        Output folder.
    cache : path-like, optional
        Image cache (default ``OUT/cache``).
    options : InferOptions
    on_start, on_preprocessed, on_batch : callable, optional
        Progress hooks: (subjects to preprocess, subjects to predict), each
        preprocessing record, and the size of each predicted batch.

    Returns
    -------
    InferSummary
    """
    from mimir.inference.engine import EngineOptions, LoadedModule, pick_device, set_threads
    from mimir.pipeline.batch import iter_preprocess
    from mimir.pipeline.inputs import resolve_inputs
    from mimir.qc.exclusions import excluded_subjects
    from mimir.reading.archive import subject_name

    opts = options or InferOptions()
    t_start = time.perf_counter()
    out = Path(out)
    if opts.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if not 0 < opts.ci < 1:
        raise UsageError("--ci must be between 0 and 1 (e.g. 0.95)")
    if opts.qc not in ("strict", "warn", "off"):
        raise UsageError("--qc must be strict, warn or off")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(modules, (str, os.PathLike)):
        modules = [modules]
    if not modules:
        raise UsageError("no modules given (--modules)")
    mods, module_failures = _load_modules(list(modules))
    if not mods:
        raise MimirError("no module could be loaded: " +
                         "; ".join(f["message"] for f in module_failures))
    _prepare_out(out, opts, [m.name for m in mods])
    cache_dir = Cache(cache if cache is not None else out / "cache")

    # subjects ------------------------------------------------------------------------
    if inputs:
        paths = resolve_inputs(list(inputs))
        by_name = {subject_name(p): p for p in paths}
    else:
        by_name = {n: None for n in cache_dir.names()}
        if not by_name:
            raise UsageError(f"no inputs given and no images in the cache {cache_dir.root}")
    excluded = excluded_subjects(list(by_name), opts.exclude, opts.exclude_column)
    failures = [{"name": n, "path": str(by_name[n] or ""), "kind": "excluded", "member": "",
                 "message": reason} for n, reason in excluded.items()]
    names = sorted(n for n in by_name if n not in excluded)
    B = opts.batch_size
    chunk_of = {n: i // B for i, n in enumerate(names)}
    chunk_members: dict[int, list[str]] = {}
    for n in names:
        chunk_members.setdefault(chunk_of[n], []).append(n)
    journals = {m.name: Journal(out / STATE_DIR / "journal" / f"{m.name}.csv", m.n_targets)
                for m in mods}
    done_sets = [set(j.read()) for j in journals.values()]
    done = set.intersection(*done_sets) if done_sets else set()
    todo_chunks = {c for c, mem in chunk_members.items() if not set(mem) <= done}
    todo = [n for n in names if chunk_of[n] in todo_chunks]

    # engines -------------------------------------------------------------------------
    device = pick_device(opts.device)
    threads = set_threads(opts.threads, opts.workers)
    eopts = EngineOptions(device=device, precision=opts.precision, compile=opts.compile)
    engines = []
    for m in mods:
        try:
            engines.append(LoadedModule(m, eopts))
        except ModuleFormatError as exc:
            module_failures.append({"module": m.name, "message": str(exc)})
    if not engines:
        raise MimirError("no module could be loaded: " +
                         "; ".join(f["message"] for f in module_failures))
    if on_start:
        on_start(len(todo), len(todo))

    # producer: preprocess and load images in the background ---------------------------
    q: queue.Queue = queue.Queue(maxsize=4 * B + 8)
    stop = threading.Event()
    timing = {"preprocess": 0.0, "inference": 0.0, "wait": 0.0}

    def produce():
        t0 = time.perf_counter()
        try:
            if inputs:
                recs = iter_preprocess([by_name[n] for n in todo], cache_dir, opts.workers,
                                       limits=opts.limits)
            else:
                from mimir.pipeline.batch import Record
                recs = (Record(name=n, path="", status="cached") for n in todo)
            for rec in recs:
                if stop.is_set():
                    break
                img = None
                if rec.status in ("done", "cached"):
                    try:
                        img = cache_dir.read_image(rec.name)
                    except (OSError, ValueError) as exc:
                        rec.status, rec.kind = "failed", "internal error"
                        rec.message = f"subject {rec.name}: cached image unreadable: {exc}"
                q.put((rec, img))
        except BaseException as exc:  # surfaced in the main thread
            q.put(("error", exc))
        finally:
            timing["preprocess"] = time.perf_counter() - t0
            q.put(None)

    producer = threading.Thread(target=produce, name="mimir-preprocess", daemon=True)
    producer.start()

    pending: dict[int, dict[str, np.ndarray | None]] = {}
    predicted = 0
    records = []
    qc_failed: set[str] = set()

    def passes_qc(name: str) -> bool:
        from mimir.qc.flags import subject_flags

        entry = cache_dir.read_entry(name)
        if not entry.facts:
            return True
        if subject_flags(entry.facts, entry.warnings)["qc_pass"]:
            return True
        qc_failed.add(name)
        return False

    def run_chunk(c: int):
        nonlocal predicted
        got = pending.pop(c)
        ready = [n for n in chunk_members[c] if got.get(n) is not None]
        if opts.qc == "strict":
            ready = [n for n in ready if passes_qc(n)]
        if not ready:
            return
        batch = np.stack([got[n] for n in ready])
        t0 = time.perf_counter()
        for eng in engines:
            try:
                mean, var = eng.predict(batch)
            except Exception as exc:  # e.g. out of GPU memory: those subjects fail
                for n in ready:
                    failures.append({"name": n, "path": str(by_name.get(n) or ""),
                                     "kind": "internal error", "member": "",
                                     "message": f"subject {n}: module {eng.module.name}: "
                                                f"{type(exc).__name__}: {exc}"})
                continue
            journals[eng.module.name].append(ready, mean, var)
        timing["inference"] += time.perf_counter() - t0
        predicted += len(ready)
        if on_batch:
            on_batch(len(ready))

    try:
        while True:
            t0 = time.perf_counter()
            item = q.get()
            timing["wait"] += time.perf_counter() - t0
            if item is None:
                break
            if item[0] == "error":
                raise item[1]
            rec, img = item
            records.append(rec)
            if on_preprocessed:
                on_preprocessed(rec)
            if rec.status not in ("done", "cached"):
                failures.append(rec.failure_row())
            c = chunk_of[rec.name]
            pending.setdefault(c, {})[rec.name] = img
            if len(pending[c]) == len(chunk_members[c]):
                run_chunk(c)
    finally:
        stop.set()
        while producer.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
    for c in sorted(pending):
        run_chunk(c)

    # final tables ----------------------------------------------------------------------
    results = {}
    for eng in engines:
        m = eng.module
        entries = journals[m.name].read()
        ns = sorted(entries)
        mean = np.array([entries[n][0] for n in ns]).reshape(len(ns), m.n_targets)
        var = np.array([entries[n][1] for n in ns]).reshape(len(ns), m.n_targets)
        results[m.name] = (ns, mean, var)
        (out / m.name).mkdir(exist_ok=True)
        with atomic_path(out / m.name / "predictions.csv") as tmp:
            published_table(m.targets, ns, mean, var).to_csv(tmp, index=False)
    qc = None
    if opts.qc != "off":
        from mimir.qc.flags import qc_table

        listed = sorted({n for ns, _, _ in results.values() for n in ns} | qc_failed)
        qc = qc_table(cache_dir, [n for n in listed if cache_dir.has(n)])
        with atomic_path(out / "qc.csv") as tmp:
            qc.to_csv(tmp, index=False)
    table = combined_table([e.module for e in engines], results, opts.ci, qc=qc,
                           extra_names=sorted(qc_failed))
    with atomic_path(out / "predictions.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    handled = set(todo) | set(excluded)
    merged = merge_records(out / "failures.csv", failures, handled, FAILURE_COLUMNS)
    timing["total"] = time.perf_counter() - t_start
    summary = InferSummary(out=out, subjects=len(by_name), predicted=predicted,
                           failures=merged.to_dict("records"),
                           module_failures=module_failures, timings=timing)
    run = {
        "engine": f"mimir {__version__}",
        "command": opts.command or " ".join(sys.argv),
        "python": platform.python_version(),
        "torch": _torch_version(),
        "device": device,
        "threads": threads,
        "precision": opts.precision,
        "qc": opts.qc,
        "qc_failed_not_predicted": sorted(qc_failed),
        "compile": opts.compile,
        "batch_size": B,
        "ci": opts.ci,
        "modules": [{"name": e.module.name, "path": str(e.module.path),
                     "backbone": e.module.backbone, "targets": len(e.module.targets),
                     "snapshot_sha256": e.checksum} for e in engines],
        "module_failures": module_failures,
        "counts": {"subjects": len(by_name), "predicted_this_run": predicted,
                   "rows": len(table), "failed": len(merged), "excluded": len(excluded),
                   "preprocessed": sum(r.status == "done" for r in records),
                   "cached": sum(r.status == "cached" for r in records)},
        "timings_s": {k: round(v, 3) for k, v in timing.items()},
        "complete": True,
    }
    write_text(out / "run.json", json.dumps(run, indent=1))
    return summary


def _torch_version() -> str:
    import torch

    return torch.__version__
