"""The ``infer`` job: inputs -> cached images -> every module -> prediction tables.

Flow. Subjects that are not cached yet are preprocessed (worker processes, the same
code and failure records as ``mimir preprocess``) while the modules already run on the
images that are ready, so the stages overlap. With ``--scheduler``/``--cluster`` both
run as tasks on a Dask cluster instead (:mod:`mimir.distributed.dask_backend`).

Batches are fixed: the subjects (sorted by name) are cut into consecutive chunks of
``batch_size``; a chunk runs once all its subjects are ready or failed. A prediction
therefore never depends on worker timing, ``--resume`` (which redoes every chunk not
yet complete) gives the same numbers as an uninterrupted run, and ``--shard I/N``
(chunk c goes to shard c mod N) gives shards whose merge equals the unsharded run.

Durability. Each module's predictions are appended, batch by batch, to a journal in
``OUT/.mimir/journal/`` (flushed and fsynced). The final tables (``predictions.csv``,
``predictions.parquet``, ``<module>/predictions.csv``, ``qc.csv``, ``failures.csv``)
are written atomically at the end and ``run.json`` last: an interrupted run leaves only
the journal, never a table that looks complete but is not. ``report.html``
(:mod:`mimir.report`) is built after them; its failure is reported, never fatal.
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
    shard: tuple[int, int] | None = None
    scheduler: str | None = None
    cluster: str | None = None
    command: str = ""
    report: bool = True


@dataclass
class InferSummary:
    """What an ``infer`` run did."""

    out: Path
    subjects: int
    predicted: int
    failures: list = field(default_factory=list)
    module_failures: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    report: Path | None = None
    report_error: str | None = None

    @property
    def failed(self) -> list:
        """Failure rows other than deliberate exclusions."""
        return [f for f in self.failures if f.get("kind") != "excluded"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.module_failures

    def line(self) -> str:
        t = self.timings.get("total", 0.0)
        excluded = len(self.failures) - len(self.failed)
        return (f"{self.subjects} subjects: {self.predicted} predicted, {len(self.failed)} "
                f"failed, {excluded} excluded; {len(self.module_failures)} module(s) failed; "
                f"{t:.1f} s; results in {self.out}")


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
                if len(parts) != 1 + 2 * self.T:
                    continue
                try:
                    vals = np.array([float(v) for v in parts[1:]])
                except ValueError:
                    continue
                out[parts[0]] = (vals[0::2], vals[1::2])
        return out

    def append(self, names: list[str], mean: np.ndarray, var: np.ndarray) -> None:
        lines = []
        for i, n in enumerate(names):
            vals = np.empty(2 * self.T)
            vals[0::2], vals[1::2] = mean[i], var[i]
            lines.append(n + "," + ",".join(repr(float(v)) for v in vals) + "\n")
        _append_lines(self.path, lines)


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))
        fh.flush()
        os.fsync(fh.fileno())


def _read_names(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip()}


def journals_for(out: Path, modules) -> dict:
    return {m.name: Journal(out / STATE_DIR / "journal" / f"{m.name}.csv", m.n_targets)
            for m in modules}


def skipped_path(out: Path) -> Path:
    """Subjects not predicted because they failed QC with ``--qc strict``."""
    return out / STATE_DIR / "qc_skipped.txt"


def _prepare_out(out: Path, opts: InferOptions, state: dict) -> None:
    path = out / STATE_DIR / "state.json"
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
        elif path.is_file():
            prev = json.loads(path.read_text(encoding="utf-8"))
            for key, what in (("modules", "modules"), ("batch_size", "--batch-size"),
                              ("shard", "--shard")):
                if prev.get(key) != state[key]:
                    raise UsageError(f"{out} was started with {what} {prev.get(key)}; resume "
                                     f"with the same {what} or use --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    (out / STATE_DIR).mkdir(exist_ok=True)
    write_text(path, json.dumps(state, indent=1))


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


@dataclass
class Plan:
    """Which subjects a run handles and how they are batched."""

    by_name: dict
    excluded: dict
    names: list
    chunk_members: dict
    chunk_of: dict
    todo: list
    failures: list = field(default_factory=list)


def make_plan(inputs, cache: Cache, opts: InferOptions, done: set[str]) -> Plan:
    """Subjects, exclusions, fixed chunks, this shard's chunks, and what is left to do."""
    from mimir.pipeline.inputs import resolve_inputs
    from mimir.qc.exclusions import excluded_subjects
    from mimir.reading.archive import subject_name

    if inputs:
        by_name = {subject_name(p): p for p in resolve_inputs(list(inputs))}
    else:
        by_name = {n: None for n in cache.names()}
        if not by_name:
            raise UsageError(f"no inputs given and no images in the cache {cache.root}")
    excluded = excluded_subjects(list(by_name), opts.exclude, opts.exclude_column)
    names = sorted(n for n in by_name if n not in excluded)
    B = opts.batch_size
    chunk_of = {n: i // B for i, n in enumerate(names)}
    members: dict[int, list[str]] = {}
    for n in names:
        members.setdefault(chunk_of[n], []).append(n)
    if opts.shard is not None:
        i, k = opts.shard
        members = {c: m for c, m in members.items() if c % k == i - 1}
        mine = {n for m in members.values() for n in m}
        excluded = {n: r for n, r in excluded.items() if _shard_of(n, k) == i - 1}
        names = [n for n in names if n in mine]
    todo = [n for c in sorted(members) if not set(members[c]) <= done for n in members[c]]
    failures = [{"name": n, "path": str(by_name[n] or ""), "kind": "excluded", "member": "",
                 "message": reason} for n, reason in excluded.items()]
    return Plan(by_name=by_name, excluded=excluded, names=names, chunk_members=members,
                chunk_of=chunk_of, todo=todo, failures=failures)


def _shard_of(name: str, k: int) -> int:
    """Shard of a subject that is in no chunk (an excluded one): a stable hash."""
    import zlib

    return zlib.crc32(name.encode()) % k


def qc_filter(cache: Cache, names: list[str], skipped: set[str], out: Path) -> list[str]:
    """Names passing QC (``--qc strict``); the others are added to ``skipped`` and to the
    run's record of skipped subjects (so a resumed run counts them as handled)."""
    from mimir.qc.flags import subject_flags

    keep, new = [], []
    for n in names:
        entry = cache.read_entry(n)
        if entry.facts and not subject_flags(entry.facts, entry.warnings)["qc_pass"]:
            if n not in skipped:
                new.append(n + "\n")
            skipped.add(n)
        else:
            keep.append(n)
    if new:
        _append_lines(skipped_path(out), new)
    return keep


def _run_local(inputs, plan: Plan, cache: Cache, opts: InferOptions,
               load_engines: Callable[[], list], journals: dict, out: Path,
               hooks: dict) -> dict:
    """Preprocess in the background, predict each chunk as soon as it is complete.

    Preprocessing starts first; ``load_engines`` (torch and the networks) runs while the
    first subjects are being preprocessed. The returned dict holds the engines.
    """
    from mimir.pipeline.batch import Record, iter_preprocess

    B = opts.batch_size
    q: queue.Queue = queue.Queue(maxsize=4 * B + 8)
    stop = threading.Event()
    st = {"preprocess": 0.0, "inference": 0.0, "wait": 0.0, "predicted": 0, "records": [],
          "failures": [], "skipped": set()}

    def produce():
        t0 = time.perf_counter()
        try:
            if inputs:
                recs = iter_preprocess([plan.by_name[n] for n in plan.todo], cache,
                                       opts.workers, limits=opts.limits)
            else:
                recs = (Record(name=n, path="", status="cached") for n in plan.todo)
            for rec in recs:
                if stop.is_set():
                    break
                img = None
                if rec.status in ("done", "cached"):
                    try:
                        img = cache.read_image(rec.name)
                    except (OSError, ValueError) as exc:
                        rec.status, rec.kind = "failed", "internal error"
                        rec.message = f"subject {rec.name}: cached image unreadable: {exc}"
                q.put((rec, img))
        except BaseException as exc:  # surfaced in the main thread
            q.put(("error", exc))
        finally:
            st["preprocess"] = time.perf_counter() - t0
            q.put(None)

    producer = threading.Thread(target=produce, name="mimir-preprocess", daemon=True)
    producer.start()
    pending: dict[int, dict] = {}

    def run_chunk(c: int):
        got = pending.pop(c)
        ready = [n for n in plan.chunk_members[c] if got.get(n) is not None]
        if opts.qc == "strict":
            ready = qc_filter(cache, ready, st["skipped"], out)
        if not ready:
            return
        batch = np.stack([got[n] for n in ready])
        t0 = time.perf_counter()
        for eng in engines:
            try:
                mean, var = eng.predict(batch)
            except Exception as exc:  # e.g. out of GPU memory: those subjects fail
                st["failures"] += [_inference_failure(plan, n, eng.module.name, exc)
                                   for n in ready]
                continue
            journals[eng.module.name].append(ready, mean, var)
            if hooks.get("on_module"):
                hooks["on_module"](eng.module.name, len(ready))
        st["inference"] += time.perf_counter() - t0
        st["predicted"] += len(ready)
        if hooks.get("on_batch"):
            hooks["on_batch"](len(ready))

    try:
        engines = st["engines"] = load_engines()
        while True:
            t0 = time.perf_counter()
            item = q.get()
            st["wait"] += time.perf_counter() - t0
            if item is None:
                if opts.threads is None and opts.workers > 1:
                    from mimir.inference.engine import set_threads

                    set_threads(None, 1)  # preprocessing is over: every core to the networks
                break
            if item[0] == "error":
                raise item[1]
            rec, img = item
            c = record_arrived(rec, img, plan, pending, st, hooks)
            if c is not None:
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
    return st


def record_arrived(rec, value, plan: Plan, held: dict, st: dict, hooks: dict) -> int | None:
    """Book one subject's preprocessing record (both backends).

    The record and any failure go into ``st``, ``value`` (the image, or whether it is
    usable) into ``held`` under the subject's chunk. Returns the chunk when it is now
    complete, else None.
    """
    st["records"].append(rec)
    if hooks.get("on_preprocessed"):
        hooks["on_preprocessed"](rec)
    if rec.status not in ("done", "cached"):
        st["failures"].append(rec.failure_row())
    c = plan.chunk_of[rec.name]
    held.setdefault(c, {})[rec.name] = value
    return c if len(held[c]) == len(plan.chunk_members[c]) else None


def _inference_failure(plan: Plan, name: str, module: str, exc: BaseException) -> dict:
    return {"name": name, "path": str(plan.by_name.get(name) or ""), "kind": "internal error",
            "member": "", "message": f"subject {name}: module {module}: "
                                     f"{type(exc).__name__}: {exc}"}


def write_outputs(out: Path, modules: list, entries: dict, cache: Cache, ci: float, qc: str,
                  skipped: set[str], failures: list, handled: set[str]):
    """Write every final table from journal entries (used by infer and merge).

    Parameters
    ----------
    entries : dict
        module name -> {subject: (mean, variance)}.
    skipped : set of str
        Subjects not predicted because they failed QC (strict mode): listed with flags.
    failures : list of dict
        This run's failure rows; merged into ``failures.csv`` (rows of ``handled``
        subjects replaced).

    Returns
    -------
    (DataFrame, DataFrame)
        The combined prediction table and the failure table as written.
    """
    results = {}
    for m in modules:
        e = entries[m.name]
        ns = sorted(e)
        mean = np.array([e[n][0] for n in ns]).reshape(len(ns), m.n_targets)
        var = np.array([e[n][1] for n in ns]).reshape(len(ns), m.n_targets)
        results[m.name] = (ns, mean, var)
        (out / m.name).mkdir(exist_ok=True)
        with atomic_path(out / m.name / "predictions.csv") as tmp:
            published_table(m.targets, ns, mean, var).to_csv(tmp, index=False)
    qc_tab = None
    if qc != "off":
        from mimir.qc.flags import qc_table

        listed = sorted({n for ns, _, _ in results.values() for n in ns} | skipped)
        qc_tab = qc_table(cache, [n for n in listed if cache.has(n)])
        with atomic_path(out / "qc.csv") as tmp:
            qc_tab.to_csv(tmp, index=False)
    table = combined_table(modules, results, ci, qc=qc_tab, extra_names=sorted(skipped))
    with atomic_path(out / "predictions.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "predictions.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    merged = merge_records(out / "failures.csv", failures, handled, FAILURE_COLUMNS)
    return table, merged


def infer(inputs, modules, out: str | os.PathLike, cache: str | os.PathLike | None = None,
          options: InferOptions | None = None,
          on_start: Callable[[int, int], None] | None = None,
          on_preprocessed: Callable | None = None,
          on_batch: Callable[[int], None] | None = None,
          on_module: Callable[[str, int], None] | None = None) -> InferSummary:
    """Run modules on subjects and write the prediction tables.

    Parameters
    ----------
    inputs : list of path-like
        Zips, folders or list files (as for ``preprocess``); empty: every image
        already in the cache.
    modules : list of str or path-like
        Module folders or installed module names.
    out : path-like
        Output folder (with ``shard``: ``OUT/shards/I-of-N``).
    cache : path-like, optional
        Image cache (default ``OUT/cache``).
    options : InferOptions
    on_start, on_preprocessed, on_batch, on_module : callable, optional
        Progress hooks: (subjects to preprocess, subjects to predict), each
        preprocessing record, the size of each predicted batch, and (module name, size)
        after each module's batch.

    Returns
    -------
    InferSummary
    """
    from mimir.inference.engine import EngineOptions, LoadedModule, pick_device, set_threads

    opts = options or InferOptions()
    t_start = time.perf_counter()
    out = Path(out)
    if opts.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if not 0 < opts.ci < 1:
        raise UsageError("--ci must be between 0 and 1 (e.g. 0.95)")
    if opts.qc not in ("strict", "warn", "off"):
        raise UsageError("--qc must be strict, warn or off")
    if opts.shard is not None:
        i, k = opts.shard
        if not (k >= 1 and 1 <= i <= k):
            raise UsageError(f"--shard {i}/{k}: I must be between 1 and N")
    if opts.scheduler and opts.cluster:
        raise UsageError("--scheduler and --cluster exclude each other")
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
    cache_dir = Cache(cache if cache is not None else out / "cache")
    if opts.shard is not None:
        out = out / "shards" / f"{opts.shard[0]}-of-{opts.shard[1]}"
    state = {"modules": [m.name for m in mods], "module_paths": [str(m.path) for m in mods],
             "batch_size": opts.batch_size, "shard": list(opts.shard) if opts.shard else None,
             "ci": opts.ci, "qc": opts.qc, "cache": str(cache_dir.root.resolve()),
             "engine": __version__}
    _prepare_out(out, opts, state)
    journals = journals_for(out, mods)
    done_sets = [set(j.read()) for j in journals.values()]
    skipped_before = _read_names(skipped_path(out))
    done = (set.intersection(*done_sets) if done_sets else set()) | skipped_before
    plan = make_plan(inputs, cache_dir, opts, done)

    hooks = {"on_preprocessed": on_preprocessed, "on_batch": on_batch, "on_module": on_module}
    if opts.scheduler or opts.cluster:
        from mimir.distributed.dask_backend import run_dask

        device = pick_device(opts.device)
        if on_start:
            on_start(len(plan.todo), len(plan.todo))
        threads = opts.threads or 1
        st = run_dask(inputs, plan, cache_dir, opts, mods, journals, out, hooks, device,
                      threads)
        backend = st.pop("backend")
    else:
        setup: dict = {}

        def load_engines() -> list:
            # runs while the first subjects are preprocessed (importing torch and
            # building the networks takes seconds)
            setup["device"] = pick_device(opts.device)
            setup["threads"] = set_threads(opts.threads, opts.workers)
            eopts = EngineOptions(device=setup["device"], precision=opts.precision,
                                  compile=opts.compile)
            engines = []
            for m in mods:
                try:
                    engines.append(LoadedModule(m, eopts))
                except ModuleFormatError as exc:
                    module_failures.append({"module": m.name, "message": str(exc)})
            if not engines:
                raise MimirError("no module could be loaded: " +
                                 "; ".join(f["message"] for f in module_failures))
            return engines

        if on_start:
            on_start(len(plan.todo), len(plan.todo))
        st = _run_local(inputs, plan, cache_dir, opts, load_engines, journals, out, hooks)
        device, threads = setup["device"], setup["threads"]
        mods = [e.module for e in st.pop("engines")]
        backend = "local"

    entries = {m.name: journals[m.name].read() for m in mods}
    skipped = skipped_before | st["skipped"]
    handled = set(plan.todo) | set(plan.excluded)
    table, merged = write_outputs(out, mods, entries, cache_dir, opts.ci, opts.qc, skipped,
                                  plan.failures + st["failures"], handled)
    timing = {k: st[k] for k in ("preprocess", "inference", "wait")}
    timing["total"] = time.perf_counter() - t_start
    records = st["records"]
    summary = InferSummary(out=out, subjects=len(plan.names) + len(plan.excluded),
                           predicted=st["predicted"], failures=merged.to_dict("records"),
                           module_failures=module_failures, timings=timing)
    run = {
        "engine": f"mimir {__version__}",
        "command": opts.command or " ".join(sys.argv),
        "python": platform.python_version(),
        "torch": _torch_version(),
        "backend": backend,
        "device": device,
        "threads": threads,
        "precision": opts.precision,
        "compile": opts.compile,
        "batch_size": opts.batch_size,
        "ci": opts.ci,
        "qc": opts.qc,
        "shard": list(opts.shard) if opts.shard else None,
        "qc_failed_not_predicted": sorted(skipped),
        "modules": [{"name": m.name, "path": str(m.path), "backbone": m.backbone,
                     "targets": len(m.targets), "snapshot_sha256": m.snapshot_sha256()}
                    for m in mods],
        "module_failures": module_failures,
        "counts": {"subjects": summary.subjects, "predicted_this_run": st["predicted"],
                   "rows": len(table), "failed": len(merged), "excluded": len(plan.excluded),
                   "preprocessed": sum(r.status == "done" for r in records),
                   "cached": sum(r.status == "cached" for r in records)},
        "timings_s": {k: round(v, 3) for k, v in timing.items()},
        "complete": True,
    }
    write_text(out / "run.json", json.dumps(run, indent=1))
    if opts.report:
        from mimir.report import try_build_report  # lazy: matplotlib only when needed

        summary.report, summary.report_error = try_build_report(out)
    return summary


def _torch_version() -> str:
    import torch

    return torch.__version__


def merge(sources: list, out: str | os.PathLike, overwrite: bool = False) -> dict:
    """Combine the outputs of ``--shard`` runs into one set of tables.

    Parameters
    ----------
    sources : list of path-like
        Shard output folders, or a run folder holding ``shards/*`` (``OUT`` of the shard
        runs).
    out : path-like
        Where to write the merged tables (may be the run folder itself).
    overwrite : bool
        Replace merged tables already in ``out``.

    Returns
    -------
    dict
        ``shards``, ``subjects``, ``missing`` (shard numbers not found or incomplete).
    """
    from mimir.modules.format import load_module

    dirs: list[Path] = []
    for s in sources:
        s = Path(s)
        if (s / "shards").is_dir():
            dirs += sorted(p for p in (s / "shards").iterdir() if p.is_dir())
        elif (s / STATE_DIR / "state.json").is_file():
            dirs.append(s)
        else:
            raise UsageError(f"{s} is neither a shard output nor a folder with shards/")
    if not dirs:
        raise UsageError("no shard outputs found")
    states = [json.loads((d / STATE_DIR / "state.json").read_text(encoding="utf-8"))
              for d in dirs]
    ref = states[0]
    for d, s in zip(dirs, states, strict=True):
        for key in ("modules", "batch_size", "ci", "qc"):
            if s.get(key) != ref.get(key):
                raise UsageError(f"{d}: {key} {s.get(key)} differs from {dirs[0]}'s "
                                 f"{ref.get(key)}; these shards are not one run")
        if not s.get("shard"):
            raise UsageError(f"{d} is not a shard output (run with --shard I/N)")
    n_shards = ref["shard"][1]
    seen = {s["shard"][0] for s, d in zip(states, dirs, strict=True)
            if (d / "run.json").is_file()}
    missing = sorted(set(range(1, n_shards + 1)) - seen)
    if missing:
        raise UsageError(f"shards {missing} of {n_shards} are missing or unfinished")
    out = Path(out)
    if (out / "predictions.csv").exists() and not overwrite:
        raise UsageError(f"{out} already holds merged results; use --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    mods = [load_module(p) for p in ref["module_paths"]]
    entries: dict = {m.name: {} for m in mods}
    skipped: set[str] = set()
    failures: list = []
    import pandas as pd

    for d in dirs:
        for name, e in ((m.name, j.read()) for m, j in zip(
                mods, journals_for(d, mods).values(), strict=True)):
            entries[name].update(e)
        skipped |= _read_names(skipped_path(d))
        if (d / "failures.csv").is_file():
            failures += pd.read_csv(d / "failures.csv", dtype=str,
                                    keep_default_na=False).to_dict("records")
    (out / "failures.csv").unlink(missing_ok=True)
    table, _ = write_outputs(out, mods, entries, Cache(ref["cache"]), ref["ci"], ref["qc"],
                             skipped, failures, set())
    write_text(out / "merged.json", json.dumps({"shards": [str(d) for d in dirs],
                                                "subjects": len(table)}, indent=1))
    return {"shards": len(dirs), "subjects": len(table), "missing": missing}
