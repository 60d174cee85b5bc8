"""Backends: what runs preprocessing and the modules for an ``infer`` run.

A backend is one file here defining a class with the :class:`~mimir.execution.backends.
base.Backend` interface; :func:`backend_for` picks it from the options. Every backend
reports to the same :class:`~mimir.execution.sink.ResultSink`, so journals, failure
records, chunks, progress hooks and ``run.json`` are the same whichever runs the work.
"""

from __future__ import annotations

from mimir.execution.backends.base import Backend, BackendResult
from mimir.execution.options import InferOptions


def backend_for(opts: InferOptions) -> Backend:
    """The backend the options ask for: Dask with ``--scheduler``/``--cluster``, else
    local."""
    if opts.distributed:
        from mimir.execution.backends.dask import DaskBackend

        return DaskBackend()
    from mimir.execution.backends.local import LocalBackend

    return LocalBackend()


__all__ = ["Backend", "BackendResult", "backend_for"]
