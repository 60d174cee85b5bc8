"""Backends: where and in what order the work of an ``infer`` run runs.

A backend is one file here defining a class with the :class:`~mimir.execution.backends.
base.Backend` interface and a ``wants(opts)`` static method saying whether the options ask
for it (``--scheduler``/``--cluster`` for Dask); files here are found on first use, and
:func:`backend_for` picks the first backend that wants the options, else the local one.
Every backend runs the same work (:mod:`mimir.execution.work`) and reports to the same
:class:`~mimir.execution.sink.ResultSink`, so journals, failure records, chunks, progress
hooks and ``run.json`` are the same whichever runs it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from mimir.execution.backends.base import Backend, BackendResult
from mimir.execution.options import InferOptions

#: The backend used when no other wants the options.
DEFAULT = "local"


def _classes() -> dict[str, Any]:
    """Backend name -> class, from the files of this folder."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__ \
                    and hasattr(obj, "wants") and hasattr(obj, "run"):
                found[obj.name] = obj  # type: ignore[attr-defined]
    return found


def backend_for(opts: InferOptions) -> Backend:
    """The backend the options ask for (local when none does)."""
    classes = _classes()
    for name in sorted(classes):
        if name != DEFAULT and classes[name].wants(opts):
            return classes[name]()
    return classes[DEFAULT]()


__all__ = ["Backend", "BackendResult", "backend_for"]
