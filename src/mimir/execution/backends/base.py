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
    """Runs preprocessing (for ``plan.todo`` subjects not cached) and every module on each
    complete chunk, reporting to ``sink``.

    Contract: every subject in ``plan.todo`` reaches ``sink.arrived`` exactly once; every
    complete chunk's ready subjects go through each loaded module and end in
    ``sink.predicted`` or ``sink.failed``, then ``sink.chunk_done``; a module that cannot
    be loaded is reported once with ``sink.module_failed``. Every option of
    :class:`InferOptions` is honoured, or refused in ``check``.
    """

    def check(self, opts: InferOptions) -> None:
        """Refuse options this backend cannot honour (UsageError), before any work."""

    def run(self, plan: Plan, cache: Cache, opts: InferOptions, modules: list,
            sink: ResultSink) -> BackendResult:
        """Do the work."""
