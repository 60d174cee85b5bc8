"""The Dask backend: ``infer`` on a Dask cluster.

Subject preprocessing runs as one task per subject (``mimir.pipeline.batch.process_one``,
writing into the shared image cache) and module inference as one task per fixed chunk of
subjects; the client reports to the same sink as a local run, so results, failure
records and ``--resume`` behave exactly as locally. Tasks are retried by Dask when they
raise (``retries``) and rescheduled when a worker dies; a subject whose task keeps
failing is recorded as failed, never lost. A module that cannot be loaded on a worker is
reported once, as locally.

The cache (and the modules) must be on a filesystem every worker can read and write.
Dask is imported only here: the local default carries no Dask overhead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.execution.backends.base import BackendResult
from mimir.execution.options import InferOptions, parse_cluster
from mimir.execution.plan import Plan
from mimir.execution.sink import ResultSink

RETRIES = 2
_ENGINES: dict = {}
#: Marks a module that could not be loaded in a task's result.
LOAD_FAILED = "load failed"


def connect(scheduler: str | None = None, cluster: str | None = None):
    """A Dask client: to an existing scheduler, or to a new ``local[:N]`` cluster.

    Returns (client, cluster or None); close both when done.
    """
    from distributed import Client, LocalCluster

    if cluster is not None:
        n_workers = parse_cluster(cluster) or (os.cpu_count() or 1)
        lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None,
                          silence_logs=logging.ERROR)
        return Client(lc), lc
    try:
        return Client(scheduler, timeout=30), None
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def predict_chunk(module_paths: list[str], names: list[str], cache_root: str, device: str,
                  precision: str, threads: int) -> dict:
    """Run every module on a chunk of cached images (a task on a worker).

    Returns module name -> (mean, variance) arrays, -> (LOAD_FAILED, message) when the
    module cannot be loaded, or -> an error message.
    """
    import torch

    from mimir.errors import ModuleFormatError
    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    torch.set_num_threads(threads)
    cache = Cache(cache_root)
    images = np.stack([cache.read_image(n) for n in names])
    out: dict = {}
    for p in module_paths:
        key = (p, device, precision)
        try:
            if key not in _ENGINES:
                _ENGINES[key] = LoadedModule(load_module(p), EngineOptions(
                    device=device, precision=precision))
        except ModuleFormatError as exc:
            out[Path(p).name] = (LOAD_FAILED, str(exc))
            continue
        eng = _ENGINES[key]
        try:
            out[eng.module.name] = eng.predict(images)
        except Exception as exc:
            out[eng.module.name] = f"{type(exc).__name__}: {exc}"
    return out


class DaskBackend:
    """Preprocessing and the modules as tasks on a Dask cluster."""

    name = "dask"

    def check(self, opts: InferOptions) -> None:
        """Refuse ``--compile``: every worker process would compile every network again
        (a minute or more each on a CPU), for a speed-up smaller than that. Every other
        option travels with the tasks."""
        if opts.compile:
            raise UsageError("--compile is not available with --scheduler/--cluster: each "
                             "Dask worker would compile every network again; run without "
                             "--compile, or locally")

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        from distributed import as_completed

        from mimir.inference.engine import pick_device
        from mimir.pipeline.batch import Record, process_one

        device = pick_device(opts.device)
        threads = opts.threads or 1
        client, lc = connect(opts.scheduler, opts.cluster)
        address = client.scheduler.address if client.scheduler else ""
        module_paths = [str(m.path.resolve()) for m in modules]
        kinds: dict = {}
        ac = as_completed()

        def submit_chunk(c: int):
            ok, _ = sink.ready(c)
            if not ok:
                return
            f = client.submit(predict_chunk, module_paths, ok, str(cache.root), device,
                              opts.precision, threads, retries=RETRIES, pure=False)
            kinds[f.key] = ("pred", c, ok)
            ac.add(f)

        def arrived(rec: Record):
            c = sink.arrived(rec, rec.status in ("done", "cached"))
            if c is not None:
                submit_chunk(c)

        try:
            if plan.from_zips:
                for n in plan.todo:
                    f = client.submit(process_one, str(plan.by_name[n]), str(cache.root), None,
                                      opts.limits, retries=RETRIES, pure=False)
                    kinds[f.key] = ("pre", n)
                    ac.add(f)
            else:
                for n in plan.todo:
                    arrived(Record(name=n, path="", status="cached"))
            for f in ac:
                kind = kinds.pop(f.key)
                if kind[0] == "pre":
                    arrived(self._record(f, kind[1], plan))
                else:
                    self._chunk_result(f, kind[2], modules, sink)
        finally:
            client.close()
            if lc is not None:
                lc.close()
        failed = {f["module"] for f in sink.module_failures}
        return BackendResult(modules=[m for m in modules if m.name not in failed],
                             device=device, threads=threads,
                             description=f"dask {address}".strip())

    @staticmethod
    def _record(f, name: str, plan: Plan):
        from mimir.pipeline.batch import Record

        try:
            return f.result()
        except Exception as exc:  # the task kept failing or killed its workers
            return Record(name=name, path=str(plan.by_name[name]), status="failed",
                          kind="internal error",
                          message=f"subject {name}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _chunk_result(f, names: list[str], modules: list, sink: ResultSink) -> None:
        try:
            res = f.result()
        except Exception as exc:
            sink.failed("all", names, exc)
            return
        for m in modules:
            r = res.get(m.name)
            if isinstance(r, tuple) and r and isinstance(r[0], str) and r[0] == LOAD_FAILED:
                sink.module_failed(m.name, r[1])
            elif isinstance(r, tuple):
                sink.predicted(m.name, names, r[0], r[1])
            else:
                sink.failed(m.name, names, str(r))
        sink.chunk_done(len(names))
