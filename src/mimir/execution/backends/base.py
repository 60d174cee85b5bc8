"""The interface every backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mimir.cache.store import Cache
from mimir.execution.options import InferOptions
from mimir.execution.plan import Plan
from mimir.execution.sink import ResultSink


@dataclass
class BackendResult:
    """What a backend reports besides the sink's contents.

    Attributes
    ----------
    modules : list of Module
        The modules that loaded and predicted (tables are written for these).
    device : str
        The torch device the modules ran on.
    threads : int
        Torch threads per network.
    description : str
        ``local``, or ``dask <scheduler address>``; recorded in run.json.
    """

    modules: list
    device: str
    threads: int
    description: str


class Backend(Protocol):
    """Decides where and in what order the work of :mod:`mimir.execution.work` runs for
    ``plan.todo``, reporting to ``sink``.

    Contract: every subject in ``plan.todo`` is made ready with
    :func:`~mimir.pipeline.batch.prepare_one` and reaches ``sink.arrived`` exactly once;
    every complete chunk's ready subjects go through
    :func:`~mimir.execution.work.predict` and its result to ``sink.book``; a module that
    cannot be loaded is reported once with ``sink.module_failed``. Every option of
    :class:`InferOptions` is honoured, or refused in ``check``.
    """

    name: str

    @staticmethod
    def wants(opts: InferOptions) -> bool:
        """Whether the options ask for this backend."""

    def check(self, opts: InferOptions) -> None:
        """Refuse options this backend cannot honour (UsageError), before anything is
        read."""

    def open(self, opts: InferOptions) -> None:
        """Connect (where there is something to connect to) and refuse a device the
        backend does not have (UsageError), before anything is written."""

    def close(self) -> None:
        """Release what ``open`` opened (also for a run that never reaches ``run``)."""

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        """Do the work."""
