"""The local backend: preprocessing in worker processes, the modules in this process.

Subjects that are not cached yet are preprocessed (worker processes, the same code and
failure records as ``mimir preprocess``) while the modules already run on the images
that are ready, so the stages overlap. Preprocessing starts first; torch and the
networks load while the first subjects are being preprocessed.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from mimir.cache.store import Cache
from mimir.errors import MimirError, ModuleFormatError
from mimir.execution.backends.base import BackendResult
from mimir.execution.options import InferOptions
from mimir.execution.plan import Plan
from mimir.execution.sink import ResultSink


class LocalBackend:
    """Worker processes for preprocessing, this process for the networks."""

    name = "local"

    def check(self, opts: InferOptions) -> None:
        """Every option works locally."""

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        from mimir.inference.engine import EngineOptions, LoadedModule, pick_device, set_threads

        setup: dict = {}

        def load_engines() -> list:
            setup["device"] = pick_device(opts.device)
            setup["threads"] = set_threads(opts.threads, opts.workers)
            eopts = EngineOptions(device=setup["device"], precision=opts.precision,
                                  compile=opts.compile)
            engines = []
            for m in modules:
                try:
                    engines.append(LoadedModule(m, eopts))
                except ModuleFormatError as exc:
                    sink.module_failed(m.name, str(exc))
            if not engines:
                raise MimirError("no module could be loaded: " +
                                 "; ".join(f["message"] for f in sink.module_failures))
            return engines

        engines = _run(plan, cache, opts, load_engines, sink)
        return BackendResult(modules=[e.module for e in engines], device=setup["device"],
                             threads=setup["threads"], description=self.name)


def _run(plan: Plan, cache: Cache, opts: InferOptions, load_engines, sink: ResultSink):
    """Preprocess in a background thread, predict each chunk as soon as it is complete;
    returns the loaded engines."""
    from mimir.pipeline.batch import Record, iter_preprocess

    B = opts.batch_size
    q: queue.Queue = queue.Queue(maxsize=4 * B + 8)
    stop = threading.Event()

    def produce():
        t0 = time.perf_counter()
        try:
            if plan.from_zips:
                recs = iter_preprocess([plan.by_name[n] for n in plan.todo], cache,
                                       opts.workers, limits=opts.limits)
            else:
                recs = (Record(name=n, path="", status="cached") for n in plan.todo)
            for rec in recs:
                if stop.is_set():
                    break
                img = None
                if rec.status in ("done", "cached"):
                    img, rec = _image(cache, rec)
                q.put((rec, img))
        except BaseException as exc:  # surfaced in the main thread
            q.put(("error", exc))
        finally:
            sink.timings["preprocess"] = time.perf_counter() - t0
            q.put(None)

    producer = threading.Thread(target=produce, name="mimir-preprocess", daemon=True)
    producer.start()

    def run_chunk(c: int):
        ready, images = sink.ready(c)
        if not ready:
            return
        batch = np.stack(images)
        t0 = time.perf_counter()
        for eng in engines:
            try:
                mean, var = eng.predict(batch)
            except Exception as exc:  # e.g. out of GPU memory: those subjects fail
                sink.failed(eng.module.name, ready, exc)
                continue
            sink.predicted(eng.module.name, ready, mean, var)
        sink.timings["inference"] += time.perf_counter() - t0
        sink.chunk_done(len(ready))

    try:
        engines = load_engines()
        while True:
            t0 = time.perf_counter()
            item = q.get()
            sink.timings["wait"] += time.perf_counter() - t0
            if item is None:
                if opts.threads is None and opts.workers > 1:
                    from mimir.inference.engine import set_threads

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


def _image(cache: Cache, rec):
    """The cached image of a record, or the record turned into a failure."""
    from mimir.cache.store import CacheError

    try:
        return cache.read_image(rec.name), rec
    except CacheError as exc:
        rec.status, rec.kind = "failed", "cache corrupt"
        rec.message = f"subject {rec.name}: {exc}"
        return None, rec
