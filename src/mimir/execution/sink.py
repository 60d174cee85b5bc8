"""The result sink every backend reports to: records, failures, chunks, journals, hooks.

A backend feeds it each subject's preprocessing record (:meth:`ResultSink.arrived`); the
sink tells when a chunk is complete, which of its subjects can be predicted
(:meth:`ResultSink.ready`), and books what the chunk's predictions gave
(:meth:`ResultSink.book`: QC exclusions, each module's predictions or failures, a module
that could not be loaded). What it gathers becomes the tables and ``run.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir.cache.store import Cache
from mimir.errors import Kind, failure_row
from mimir.execution.journal import Journal, append_lines, skipped_path
from mimir.execution.plan import Plan
from mimir.execution.work import ChunkResult
from mimir.inference.formulas import nonfinite_subjects


@dataclass
class Hooks:
    """Progress callbacks (all optional).

    Attributes
    ----------
    on_start : callable(int, int)
        Subjects to preprocess, subjects to predict.
    on_preprocessed : callable(Record)
        Each preprocessing record.
    on_batch : callable(int)
        The size of each predicted chunk.
    on_module : callable(str, int)
        (module name, size) after each module's chunk.
    """

    on_start: Callable[[int, int], None] | None = None
    on_preprocessed: Callable | None = None
    on_batch: Callable[[int], None] | None = None
    on_module: Callable[[str, int], None] | None = None


@dataclass
class ResultSink:
    """What a run gathers, whichever backend runs it."""

    plan: Plan
    cache: Cache
    out: Path
    journals: dict[str, Journal]
    qc: str = "warn"
    hooks: Hooks = field(default_factory=Hooks)
    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    module_failures: list = field(default_factory=list)
    skipped: set = field(default_factory=set)
    predicted_count: int = 0
    timings: dict = field(default_factory=lambda: {"preprocess": 0.0, "inference": 0.0,
                                                    "wait": 0.0})
    _held: dict = field(default_factory=dict)

    def arrived(self, rec, value) -> int | None:
        """Book one subject's preprocessing record.

        ``value`` (the image, or whether the subject is usable) is held under the
        subject's chunk. Returns the chunk when it is now complete, else None.
        """
        self.records.append(rec)
        if self.hooks.on_preprocessed:
            self.hooks.on_preprocessed(rec)
        if rec.status not in ("done", "cached"):
            self.failures.append(rec.failure_row())
        c = self.plan.chunk_of[rec.name]
        self._held.setdefault(c, {})[rec.name] = value
        return c if len(self._held[c]) == len(self.plan.chunk_members[c]) else None

    def pending(self) -> list[int]:
        """Chunks with subjects held but not yet handed out (after an early stop)."""
        return sorted(self._held)

    def ready(self, c: int) -> tuple[list[str], list]:
        """Chunk ``c``'s usable subjects (and their held values), taken out of the sink."""
        got = self._held.pop(c)
        names = [n for n in self.plan.chunk_members[c]
                 if got.get(n) is not None and got.get(n) is not False]
        return names, [got[n] for n in names]

    def book(self, res: ChunkResult) -> None:
        """A chunk's result (:func:`mimir.execution.work.predict`): subjects left out for
        QC, each module's predictions (journalled at once) or failures, then the chunk
        counts as done."""
        new = [n for n in res.skipped if n not in self.skipped]
        if new:
            append_lines(skipped_path(self.out), [n + "\n" for n in new])
        self.skipped.update(res.skipped)
        for module, message in res.module_failures.items():
            self.module_failed(module, message)
        for module, (mean, var) in res.predictions.items():
            self.predicted(module, res.names, mean, var)
        self.failures += res.failures
        self.timings["inference"] += res.seconds
        self.chunk_done(len(res.names))

    def predicted(self, module: str, names: list[str], mean: np.ndarray,
                  var: np.ndarray) -> None:
        """One module's predictions for a chunk's subjects (journalled at once); subjects
        with a value that is not finite fail as ``non-finite prediction`` instead."""
        if bad := nonfinite_subjects(mean, var):
            self.failures += [failure_row(names[i], Kind.NON_FINITE_PREDICTION,
                                          f"subject {names[i]}: module {module}: {why}",
                                          self.plan.by_name.get(names[i]) or "")
                              for i, why in bad.items()]
            keep = [i for i in range(len(names)) if i not in bad]
            names, mean, var = [names[i] for i in keep], mean[keep], var[keep]
        self.journals[module].append(names, mean, var)
        if self.hooks.on_module:
            self.hooks.on_module(module, len(names))

    def module_failed(self, module: str, message: str) -> None:
        """A module could not be loaded: one entry, whatever the number of subjects."""
        if not any(f["module"] == module for f in self.module_failures):
            self.module_failures.append({"module": module, "message": message})

    def chunk_done(self, n: int) -> None:
        """A chunk of ``n`` subjects went through every module."""
        self.predicted_count += n
        if self.hooks.on_batch:
            self.hooks.on_batch(n)
