"""The Dask backend: ``infer`` on a Dask cluster.

One task per fixed chunk of subjects (:func:`mimir.execution.work.chunk_task`): on a
worker, each subject is made ready exactly as locally (the cache lookup, stale-entry
rebuild and preprocessing of :func:`mimir.pipeline.batch.prepare_one`), its image read,
and the chunk predicted by every module on the device chosen on that worker. The client
books each chunk's records and result in the same sink as a local run, so tables,
failure records and ``--resume`` are the same. Dask reruns a task whose worker died
(and ``retries`` times one that raised); a chunk whose task keeps failing is recorded as
failed, never lost.

Before anything is written, :meth:`DaskBackend.check` connects, refuses options the
cluster cannot honour (``--compile``; ``--workers``, which sets local processes: on a
cluster, each worker process preprocesses one subject at a time, so the cluster's size
sets the parallelism) and checks the device on every worker.

The cache and the modules must be on a filesystem every worker can read and write.
"""

from __future__ import annotations

import logging
import os

from mimir.cache.store import Cache
from mimir.errors import Kind, UsageError
from mimir.execution.backends.base import BackendResult
from mimir.execution.options import InferOptions, parse_cluster
from mimir.execution.plan import Plan
from mimir.execution.sink import ResultSink
from mimir.execution.work import ChunkResult, chunk_task
from mimir.pipeline.batch import Record

#: Dask reruns a task that raised this many times (a dead worker's tasks are rerun anyway).
RETRIES = 2


def connect(scheduler: str | None = None, cluster: str | None = None):
    """A Dask client: to an existing scheduler, or to a new ``local[:N]`` cluster.

    Returns (client, cluster or None); close both when done.
    """
    from distributed import Client, LocalCluster  # lazy: Dask only for cluster runs

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


def worker_device(device: str) -> str:
    """The device a worker would use for ``--device`` (run on every worker up front);
    "error: ..." when it has none such."""
    from mimir.inference.engine import pick_device  # lazy: imports torch

    try:
        return pick_device(device)
    except UsageError as exc:
        return f"error: {exc}"


class DaskBackend:
    """Chunk tasks on a Dask cluster."""

    name = "dask"

    @staticmethod
    def wants(opts: InferOptions) -> bool:
        """``--scheduler`` or ``--cluster`` given."""
        return opts.distributed

    def __init__(self):
        self.client = None
        self.cluster = None

    def check(self, opts: InferOptions) -> None:
        """Refuse what a cluster cannot honour (UsageError)."""
        if opts.compile:
            raise UsageError("--compile is not available with --scheduler/--cluster: each "
                             "Dask worker would compile every network again; run without "
                             "--compile, or locally")
        if opts.workers != 1:
            raise UsageError("--workers sets the preprocessing processes of a local run; on "
                             "a Dask cluster each worker process preprocesses one subject at "
                             "a time: grow the cluster instead (--cluster local:N, or more "
                             "`dask worker` processes)")

    def open(self, opts: InferOptions) -> None:
        """Connect, and check the device on every worker (UsageError)."""
        self.client, self.cluster = connect(opts.scheduler, opts.cluster)
        devices = self.client.run(worker_device, opts.device)
        bad = sorted(f"{w} ({d[7:]})" for w, d in devices.items() if d.startswith("error"))
        if bad:
            self.close()
            raise UsageError(f"--device {opts.device}: not available on Dask worker(s) "
                             f"{', '.join(bad)}")

    def close(self) -> None:
        """Disconnect (and stop a cluster this backend started)."""
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        from distributed import as_completed  # lazy: Dask only for cluster runs

        if self.client is None:
            self.open(opts)
        client = self.client
        assert client is not None
        address = client.scheduler.address if client.scheduler else ""
        module_paths = [str(m.path.resolve()) for m in modules]
        todo = set(plan.todo)
        chunks = sorted(c for c, members in plan.chunk_members.items()
                        if todo.intersection(members))
        futures, chunk_of = [], {}
        for c in chunks:
            names = plan.chunk_members[c]
            paths = [str(plan.by_name[n]) if plan.from_zips else None for n in names]
            f = client.submit(chunk_task, names, paths, str(cache.root), module_paths, opts,
                              retries=RETRIES, pure=False)
            futures.append(f)
            chunk_of[f.key] = c
        device = ""
        try:
            for f in as_completed(futures):
                c = chunk_of[f.key]
                records, res = self._result(f, plan.chunk_members[c], plan)
                for rec in records:
                    sink.arrived(rec, rec.status in ("done", "cached"))
                sink.ready(c)
                sink.book(res)
                device = device or res.device
        finally:
            self.close()
        failed = {f["module"] for f in sink.module_failures}
        return BackendResult(modules=[m for m in modules if m.name not in failed],
                             device=device or opts.device, threads=opts.threads or 1,
                             description=f"dask {address}".strip())

    @staticmethod
    def _result(f, names: list[str], plan: Plan) -> tuple[list[Record], ChunkResult]:
        try:
            return f.result()
        except Exception as exc:  # the task kept failing or killed its workers
            return ([Record(name=n, path=str(plan.by_name.get(n) or ""), status="failed",
                            kind=Kind.INTERNAL_ERROR,
                            message=f"subject {n}: {type(exc).__name__}: {exc}")
                     for n in names], ChunkResult())

