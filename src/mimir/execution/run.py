"""The ``infer`` job: inputs -> cached images -> every module -> prediction tables.

Order of work: the options are validated when built; then the modules and inputs are
read and checked; only then is the output folder touched (created, locked, prepared for
``--resume``/``--overwrite``). A backend (:mod:`mimir.execution.backends`) does the
preprocessing and prediction, reporting to a :class:`~mimir.execution.sink.ResultSink`
whose predictions are journalled batch by batch; the tables are written from the
journals at the end and ``run.json`` last (see :mod:`mimir.execution.tables`).
``report.html`` (:mod:`mimir.report`) is built after them; its failure is reported,
never fatal.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir._version import __version__
from mimir.atomic import write_text
from mimir.cache.store import Cache
from mimir.errors import Kind, MimirError, ModuleFormatError, UsageError
from mimir.execution.backends import backend_for
from mimir.execution.journal import journals_for, read_names, repair, skipped_path
from mimir.execution.options import InferOptions
from mimir.execution.outdir import STATE_DIR, RunLock, ensure_folder, owned_files, prepare
from mimir.execution.plan import make_plan, subject_paths
from mimir.execution.sink import Hooks, ResultSink
from mimir.execution.tables import write_outputs
from mimir.home import default_cache
from mimir.limits import usable_cpus
from mimir.modules.catalogue import own_accuracy
from mimir.modules.format import load_module
from mimir.modules.registry import resolve

#: The row order of a run's tables, in its state folder (see :func:`write_order`).
ORDER_FILE = "order.txt"
REPORT_FILE = "report.html"


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
    qc_failed: int = 0

    @property
    def failed(self) -> list:
        """Failure rows other than deliberate exclusions."""
        return [f for f in self.failures if f.get("kind") != Kind.EXCLUDED]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.module_failures

    def line(self) -> str:
        """One line for people: the counts (QC failures among them), time, where."""
        t = self.timings.get("total", 0.0)
        excluded = len(self.failures) - len(self.failed)
        parts = [f"{self.predicted} predicted", f"{len(self.failed)} failed"]
        if self.qc_failed:
            parts.append(f"{self.qc_failed} failed QC (qc_pass false)")
        if excluded:
            parts.append(f"{excluded} excluded")
        mods = (f"; {len(self.module_failures)} module(s) failed"
                if self.module_failures else "")
        return (f"{self.subjects} subjects: {', '.join(parts)}{mods}; {t:.1f} s; results in "
                f"{self.out}")

    def results(self):
        """The predictions as a pandas DataFrame, with the data dictionary as column
        metadata (see :func:`mimir.output.results.read_results`)."""
        from mimir.output.results import read_results  # lazy: imports pandas

        return read_results(self.out)


def load_modules(specs: list) -> tuple[list, list]:
    """Read and validate module folders (networks are loaded later, by the backend).

    Every named module is checked here, before anything is written: one that is not a
    module folder, not installed, or whose files do not agree is a usage error naming
    it (a mistyped ``-m`` never runs the others and exits 1). A network that cannot be
    loaded later is recorded as a module failure instead.

    Raises
    ------
    UsageError
        For the first module that cannot be read, or two modules sharing a name.
    """
    modules: list = []
    for spec in specs:
        try:
            modules.append(load_module(resolve(spec)))
        except ModuleFormatError as exc:
            raise UsageError(f"module {spec}: {exc}") from None
    names = [m.name for m in modules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise UsageError(f"two modules share the folder name {sorted(dup)[0]!r}")
    return modules, []


def infer(inputs, modules, out: str | os.PathLike, cache: str | os.PathLike | None = None,
          options: InferOptions | None = None, hooks: Hooks | None = None,
          log=None) -> InferSummary:
    """Run modules on subjects and write the prediction tables.

    Parameters
    ----------
    inputs : list of path-like
        Zips, folders or list files (as for ``preprocess``); empty (and no ``ids`` in
        the options): every image already in the cache.
    modules : list of str or path-like
        Module folders or installed module names.
    out : path-like
        Output folder (with ``shard``: ``OUT/shards/I-of-N``).
    cache : path-like, optional
        Image cache (default: the shared one, :func:`mimir.home.default_cache`).
    options : InferOptions
    hooks : Hooks, optional
        Progress callbacks.
    log : callable, optional
        Messages for the user (default: stderr).

    Returns
    -------
    InferSummary
    """
    opts = options or InferOptions()
    hooks = hooks or Hooks()
    log = log or (lambda m: print(m, file=sys.stderr))
    t_start = time.perf_counter()
    out = Path(out)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(modules, (str, os.PathLike)):
        modules = [modules]
    if not modules:
        raise UsageError("no modules given (--modules)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output folder {out} exists and is not a folder")
    backend = backend_for(opts)
    backend.check(opts)
    mods, module_failures = load_modules(list(modules))
    if not inputs and opts.ids is None and cache is None:
        raise UsageError("no subjects named: give zips, folders of zips or list files "
                         "(or --ids with --dicom-dir); to predict every image of a cache, "
                         "name it with --cache")
    cache_dir = Cache(cache if cache is not None else default_cache())
    by_name, from_zips = subject_paths(inputs or [], cache_dir, opts)
    if opts.shard is not None:
        out = out / "shards" / f"{opts.shard[0]}-of-{opts.shard[1]}"
    if opts.workers > usable_cpus():
        log(f"--workers {opts.workers}: this machine has {usable_cpus()} CPUs; at most "
            f"{usable_cpus()} worker processes will run")
    new = _missing_folders([cache_dir.root] if from_zips else []) + _missing_folders([out])
    try:
        backend.open(opts)  # the device, and a cluster's workers, before anything is written
        if from_zips:
            ensure_folder(cache_dir.root, "cache folder")
        ensure_folder(out, "output folder")
        with RunLock(out, log) as lock:
            lock.acquire(opts.command or " ".join(sys.argv))
            return _run(out, opts, hooks, backend, mods, module_failures, cache_dir, by_name,
                        from_zips, t_start, log)
    except UsageError:
        for folder in new:  # a usage error leaves nothing behind
            _remove_empty(folder)
        raise
    finally:
        backend.close()


def _missing_folders(paths: list[Path]) -> list[Path]:
    """The topmost folders of ``paths`` that do not exist yet."""
    out = []
    for p in paths:
        p = Path(p).absolute()
        top = None
        while not p.exists() and p != p.parent:
            top, p = p, p.parent
        if top is not None:
            out.append(top)
    return out


def _remove_empty(folder: Path) -> None:
    """Remove a folder this run created, if it holds nothing but empty folders and the
    run's own lock and state."""
    for leftover in (folder.glob("**/.mimir/lock"), folder.glob("**/.mimir/state.json")):
        for p in leftover:
            p.unlink(missing_ok=True)
    for d in sorted((p for p in folder.glob("**/*") if p.is_dir()), key=lambda p: -len(
            p.parts)) + [folder]:
        try:
            d.rmdir()
        except OSError:
            pass


def _run(out, opts, hooks, backend, mods, module_failures, cache_dir, by_name, from_zips,
         t_start, log) -> InferSummary:
    state = {"modules": [m.name for m in mods], "module_paths": [str(m.path) for m in mods],
             "batch_size": opts.batch_size, "shard": list(opts.shard) if opts.shard else None,
             "ci": opts.ci, "qc": opts.qc, "cache": str(cache_dir.root.resolve()),
             "options": _jsonable(opts),
             "engine": __version__, "outputs": owned_files([m.name for m in mods])}
    prepare(out, state, opts.resume, opts.overwrite, log=log)
    journals = journals_for(out, mods)
    for j in journals.values():
        j.repair()  # a line torn by an interruption is redone, never glued to the next
    repair(skipped_path(out))
    done_sets = [set(j.read()) for j in journals.values()]
    skipped_before = read_names(skipped_path(out))
    done = (set.intersection(*done_sets) if done_sets else set()) | skipped_before
    plan = make_plan(by_name, from_zips, opts, done)
    sink = ResultSink(plan=plan, cache=cache_dir, out=out, journals=journals, qc=opts.qc,
                      hooks=hooks, module_failures=module_failures)
    if hooks.on_start:
        hooks.on_start(len(plan.todo), len(plan.todo))
    result = backend.run(plan, cache_dir, opts, mods, sink)
    if not result.modules:
        raise MimirError("no module could be loaded: " +
                         "; ".join(f["message"] for f in sink.module_failures))
    mods = result.modules
    entries = {m.name: journals[m.name].read() for m in mods}
    skipped = skipped_before | sink.skipped
    handled = set(plan.todo) | {f["name"] for f in plan.failures}
    write_order(out, plan.order)
    table, merged = write_outputs(out, mods, entries, cache_dir, opts, skipped,
                                  plan.failures + sink.failures, handled,
                                  expected=set(plan.names), by_name=plan.by_name,
                                  order=plan.order)
    timing = dict(sink.timings)
    timing["total"] = time.perf_counter() - t_start
    records = sink.records
    summary = InferSummary(out=out, subjects=plan.subjects, predicted=sink.predicted_count,
                           failures=merged.to_dict("records"),
                           module_failures=sink.module_failures, timings=timing,
                           qc_failed=_qc_failed(table))
    run = {
        "engine": f"mimir {__version__}",
        "command": opts.command or " ".join(sys.argv),
        "python": platform.python_version(),
        "torch": _torch_version(),
        "backend": result.description,
        "device": result.device,
        "threads": result.threads,
        "precision": opts.precision,
        "compile": opts.compile,
        "batch_size": opts.batch_size,
        "ci": opts.ci,
        "qc": opts.qc,
        "shard": list(opts.shard) if opts.shard else None,
        "qc_failed_not_predicted": sorted(skipped),
        "cache": str(cache_dir.root.resolve()),
        "row_order": "as named (zips, folders of zips by name, list files and --ids in "
                     "their order)" if plan.from_zips else "by subject name (every image "
                     "of the cache)",
        "modules": [{"name": m.name, "path": str(m.path), "backbone": m.backbone,
                     "targets": len(m.targets), "snapshot_sha256": m.snapshot_sha256(),
                     "members": max(1, len(m.members)), **module_record(m)}
                    for m in mods],
        "module_failures": sink.module_failures,
        "counts": {"subjects": summary.subjects, "predicted_this_run": sink.predicted_count,
                   "rows": len(table), "failed": len(merged), "excluded": len(plan.excluded),
                   "qc_failed": summary.qc_failed,
                   "preprocessed": sum(r.status == "done" for r in records),
                   "cached": sum(r.status == "cached" for r in records)},
        "timings_s": {k: round(v, 3) for k, v in timing.items()},
        "files": [f for f in state["outputs"] if (out / f).is_file() or f == "run.json"
                  or (f == REPORT_FILE and opts.report)],
        "complete": True,
    }
    write_text(out / "run.json", json.dumps(run, indent=1))
    if opts.report:
        from mimir.report import try_build_report  # lazy: matplotlib only when needed

        summary.report, summary.report_error = try_build_report(out)
    return summary


def _qc_failed(table) -> int:
    """Subjects whose ``qc_pass`` is False in the combined table."""
    if "qc_pass" not in table.columns:
        return 0
    return int(sum(v is False or v is np.False_ for v in table["qc_pass"]))


def write_order(out: Path, order: list[str]) -> None:
    """``OUT/.mimir/order.txt``: the subjects in the order named, one per line (the row
    order ``merge`` gives the shards' tables). Names unusable as table keys are left
    out (they hold line breaks; they appear only in ``failures.csv``)."""
    from mimir.pipeline.inputs import name_problem  # lazy: imports cv2

    names = [n for n in order if name_problem(n) is None]
    write_text(out / STATE_DIR / ORDER_FILE, "".join(n + "\n" for n in names))


def read_order(folder: Path) -> list[str]:
    """The order ``write_order`` recorded in a run folder ([] when there is none)."""
    p = Path(folder) / STATE_DIR / ORDER_FILE
    if not p.is_file():
        return []
    return p.read_text(encoding="utf-8").splitlines()


def module_record(m) -> dict:
    """What ``run.json`` keeps of a module's targets for the report and the dictionary:
    per target its unit, UK Biobank field and the module's own cross-validation figures
    (module.json), where it has them."""
    own = own_accuracy(m)
    return {"target_info": [{"name": t.name, "unit": t.unit, "field": t.field,
                             "own": own.get(t.name)} for t in m.targets]}


def _jsonable(opts: InferOptions) -> dict:
    """The run's options as JSON values (paths as text, the shard as [I, N])."""
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in opts.as_dict().items()}


def _torch_version() -> str:
    import torch  # lazy: torch loads only where it is used

    return torch.__version__
