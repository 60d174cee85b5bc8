"""Running ``infer`` on a Dask cluster.

Subject preprocessing runs as one task per subject (``mimir.pipeline.batch.process_one``,
writing into the shared image cache) and module inference as one task per fixed chunk of
subjects; the client appends results to the same journals as a local run, so results,
failure records and ``--resume`` behave exactly as locally. Tasks are retried by Dask
when they raise (``retries``) and rescheduled when a worker dies; a subject whose task
keeps failing is recorded as failed, never lost.

The cache (and the modules) must be on a filesystem every worker can read and write.
Dask is imported only here: the local default carries no Dask overhead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from mimir.errors import UsageError

RETRIES = 2
_ENGINES: dict = {}


def connect(scheduler: str | None = None, cluster: str | None = None):
    """A Dask client: to an existing scheduler, or to a new ``local[:N]`` cluster.

    Returns (client, cluster or None); close both when done.
    """
    from distributed import Client, LocalCluster

    if cluster is not None:
        kind, _, n = cluster.partition(":")
        if kind != "local":
            raise UsageError(f"--cluster {cluster!r}: only local[:N] is built in; for SLURM "
                             "start a dask-jobqueue cluster and pass its --scheduler address")
        try:
            n_workers = int(n) if n else (os.cpu_count() or 1)
        except ValueError:
            raise UsageError(f"--cluster {cluster!r}: N must be a number") from None
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

    Returns module name -> (mean, variance) arrays, or -> error message.
    """
    import torch

    from mimir.cache.store import Cache
    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    torch.set_num_threads(threads)
    cache = Cache(cache_root)
    images = np.stack([cache.read_image(n) for n in names])
    out = {}
    for p in module_paths:
        key = (p, device, precision)
        try:
            if key not in _ENGINES:
                _ENGINES[key] = LoadedModule(load_module(p), EngineOptions(device=device,
                                                                           precision=precision))
            eng = _ENGINES[key]
            out[eng.module.name] = eng.predict(images)
        except Exception as exc:
            out[Path(p).name] = f"{type(exc).__name__}: {exc}"
    return out


def run_dask(inputs, plan, cache, opts, modules, journals, out: Path, hooks: dict,
             device: str, threads: int) -> dict:
    """The ``infer`` loop on a Dask cluster (same bookkeeping as the local loop)."""
    from distributed import as_completed

    from mimir.inference.run import _inference_failure, qc_filter, record_arrived
    from mimir.pipeline.batch import Record, process_one

    client, lc = connect(opts.scheduler, opts.cluster)
    st = {"preprocess": 0.0, "inference": 0.0, "wait": 0.0, "predicted": 0, "records": [],
          "failures": [], "skipped": set(),
          "backend": f"dask {client.scheduler.address if client.scheduler else ''}"}
    module_paths = [str(m.path.resolve()) for m in modules]
    resolved: dict[int, dict[str, bool]] = {}
    kinds: dict = {}
    ac = as_completed()

    def submit_chunk(c: int):
        ok = [n for n in plan.chunk_members[c] if resolved[c].get(n)]
        if opts.qc == "strict":
            ok = qc_filter(cache, ok, st["skipped"], out)
        if not ok:
            return
        f = client.submit(predict_chunk, module_paths, ok, str(cache.root), device,
                          opts.precision, threads, retries=RETRIES, pure=False)
        kinds[f.key] = ("pred", c, ok)
        ac.add(f)

    def resolve(rec: Record):
        c = record_arrived(rec, rec.status in ("done", "cached"), plan, resolved, st, hooks)
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
                resolve(Record(name=n, path="", status="cached"))
        for f in ac:
            kind = kinds.pop(f.key)
            if kind[0] == "pre":
                n = kind[1]
                try:
                    rec = f.result()
                except Exception as exc:  # the task kept failing or killed its workers
                    rec = Record(name=n, path=str(plan.by_name[n]), status="failed",
                                 kind="internal error",
                                 message=f"subject {n}: {type(exc).__name__}: {exc}")
                resolve(rec)
            else:
                _, c, names = kind
                try:
                    res = f.result()
                except Exception as exc:
                    st["failures"] += [_inference_failure(plan, n, "all", exc) for n in names]
                    continue
                for m in modules:
                    r = res.get(m.name)
                    if isinstance(r, tuple):
                        journals[m.name].append(names, r[0], r[1])
                        if hooks.get("on_module"):
                            hooks["on_module"](m.name, len(names))
                    else:
                        st["failures"] += [_inference_failure(plan, n, m.name,
                                                              RuntimeError(str(r)))
                                           for n in names]
                st["predicted"] += len(names)
                if hooks.get("on_batch"):
                    hooks["on_batch"](len(names))
    finally:
        client.close()
        if lc is not None:
            lc.close()
    return st
