"""The local backend: preprocessing in worker processes, the modules in this process.

Subjects are made ready (:func:`mimir.pipeline.batch.prepare_one`: the cache lookup,
rebuilds, preprocessing) in ``--workers`` processes, in a background thread, while this
process reads each ready image (:func:`mimir.execution.work.load`) and runs the modules
on every chunk as soon as it is complete (:func:`mimir.execution.work.predict`), so the
stages overlap. Preprocessing starts first; torch and the networks load while the first
subjects are being preprocessed.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from mimir.cache.store import Cache
from mimir.errors import MimirError
from mimir.execution.backends.base import BackendResult
from mimir.execution.options import InferOptions
from mimir.execution.plan import Plan
from mimir.execution.sink import ResultSink
from mimir.execution.work import load, load_engines, predict
from mimir.pipeline.batch import Record, iter_preprocess, prepare_one


class LocalBackend:
    """Worker processes for preprocessing, this process for the networks."""

    name = "local"

    @staticmethod
    def wants(opts: InferOptions) -> bool:
        """The default: always possible."""
        return True

    def check(self, opts: InferOptions) -> None:
        """Every option works locally."""

    def open(self, opts: InferOptions) -> None:
        """The device must exist here."""
        from mimir.inference.engine import pick_device  # lazy: imports torch

        pick_device(opts.device)

    def close(self) -> None:
        """Nothing to release."""

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        from mimir.inference.engine import pick_device, set_threads  # lazy: imports torch

        setup: dict = {}

        def load_all() -> list:
            setup["device"] = pick_device(opts.device)
            setup["threads"] = set_threads(opts.threads, opts.workers)
            engines, failed = load_engines(modules, opts, setup["device"])
            for name, message in failed.items():
                sink.module_failed(name, message)
            if not engines:
                raise MimirError("no module could be loaded: " +
                                 "; ".join(f["message"] for f in sink.module_failures))
            return engines

        engines = _run(plan, cache, opts, load_all, sink)
        return BackendResult(modules=[e.module for e in engines], device=setup["device"],
                             threads=setup["threads"], description=self.name)


def _records(plan: Plan, cache: Cache, opts: InferOptions) -> Iterator[Record]:
    """Each subject of ``plan.todo`` made ready, as it comes."""
    if plan.from_zips:
        return iter_preprocess([plan.by_name[n] for n in plan.todo], cache, opts.workers,
                               limits=opts.limits)
    return (prepare_one(None, str(cache.root), None, opts.limits, name=n) for n in plan.todo)


def _run(plan: Plan, cache: Cache, opts: InferOptions, load_all, sink: ResultSink):
    """Make subjects ready in a background thread, predict each chunk as soon as it is
    complete; returns the loaded engines."""
    q: queue.Queue = queue.Queue(maxsize=4 * opts.batch_size + 8)
    stop = threading.Event()

    def produce():
        t0 = time.perf_counter()
        try:
            for rec in _records(plan, cache, opts):
                if stop.is_set():
                    break
                img, rec = load(cache, rec)
                q.put((rec, img))
        except BaseException as exc:  # surfaced in the main thread
            q.put(("error", exc))
        finally:
            sink.timings["preprocess"] = time.perf_counter() - t0
            q.put(None)

    producer = threading.Thread(target=produce, name="mimir-preprocess", daemon=True)
    producer.start()

    def run_chunk(c: int):
        names, images = sink.ready(c)
        sink.book(predict(engines, names, images, cache, opts.qc, plan.by_name))

    try:
        engines = load_all()
        while True:
            t0 = time.perf_counter()
            item = q.get()
            sink.timings["wait"] += time.perf_counter() - t0
            if item is None:
                if opts.threads is None and opts.workers > 1:
                    from mimir.inference.engine import set_threads  # lazy: imports torch

                    set_threads(None, 1)  # preprocessing is over: every core to the networks
                break
            if item[0] == "error":
                raise item[1]
            rec, img = item
            c = sink.arrived(rec, img)
            if c is not None:
                run_chunk(c)
    finally:
        stop.set()
        while producer.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
    for c in sink.pending():
        run_chunk(c)
    return engines
