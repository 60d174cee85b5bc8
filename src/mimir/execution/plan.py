"""Planning a run: which subjects, their fixed batches, this shard's share, what is left.

Batches are fixed: the subjects (sorted by name, whatever the order they were named in)
are cut into consecutive chunks of ``batch_size``; a chunk runs once all its subjects are ready or failed. A prediction
therefore never depends on worker timing, ``--resume`` (which redoes every chunk not yet
complete) gives the same numbers as an uninterrupted run, and ``--shard I/N`` (chunk c
goes to shard c mod N) gives shards whose merge equals the unsharded run. The tables
list subjects in the order they were named (:attr:`Plan.order`), which decides nothing
else: the same subjects named in another order give the same numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

from mimir.cache.store import Cache
from mimir.errors import UsageError
from mimir.execution.options import InferOptions
from mimir.qc.exclusions import excluded_subjects
from mimir.reading.archive import subject_name


@dataclass
class Plan:
    """Which subjects a run handles and how they are batched.

    Attributes
    ----------
    by_name : dict
        Subject name -> zip path (None when the subject comes from the cache alone).
    excluded : dict
        Subject name -> reason, for this shard's excluded subjects.
    names : list
        This shard's subjects to predict, sorted.
    chunk_members, chunk_of : dict
        Chunk -> its subjects; subject -> its chunk.
    todo : list
        Subjects of chunks not complete yet.
    failures : list of dict
        Failure rows known before any work (exclusions, unusable names).
    from_zips : bool
        Subjects come from zips (preprocessed where not cached).
    order : list
        Every subject in the order named (the tables' row order); by name for a run
        over the whole cache.
    """

    by_name: dict
    excluded: dict
    names: list
    chunk_members: dict
    chunk_of: dict
    todo: list
    failures: list = field(default_factory=list)
    from_zips: bool = True
    order: list = field(default_factory=list)

    @property
    def subjects(self) -> int:
        """Every subject this run accounts for (predicted, failed or excluded)."""
        return len(self.names) + len(self.failures)


def shard_of(name: str, k: int) -> int:
    """Shard (0-based) of a subject that is in no chunk (an excluded one): a stable hash."""
    return zlib.crc32(name.encode("utf-8", errors="surrogateescape")) % k


def subject_paths(inputs, cache: Cache, opts: InferOptions) -> tuple[dict, bool]:
    """Subject name -> zip path for the inputs (or every cached image), and whether the
    subjects come from zips.

    Raises
    ------
    UsageError
        For unusable inputs (see :func:`mimir.pipeline.inputs.resolve_inputs`), or when
        nothing is given and the cache is empty.
    """
    from mimir.pipeline.inputs import resolve_inputs  # lazy: imports cv2

    from_zips = bool(inputs) or opts.ids is not None
    if from_zips:
        paths = resolve_inputs(list(inputs), ids=opts.ids, dicom_dir=opts.dicom_dir,
                               instance=opts.instance)
        return {subject_name(p): p for p in paths}, True
    by_name = {n: None for n in cache.names()}
    if not by_name:
        raise UsageError(f"no inputs given and no images in the cache {cache.root}")
    return by_name, False


def make_plan(by_name: dict, from_zips: bool, opts: InferOptions, done: set[str]) -> Plan:
    """Exclusions, unusable names, fixed chunks, this shard's chunks, and what is left."""
    from mimir.pipeline.inputs import name_problem  # lazy: imports cv2

    excluded = excluded_subjects(list(by_name), opts.exclude, opts.exclude_column)
    unusable = {n: why for n in by_name if n not in excluded
                and (why := name_problem(n)) is not None}
    names = sorted(n for n in by_name if n not in excluded and n not in unusable)
    B = opts.batch_size
    chunk_of = {n: i // B for i, n in enumerate(names)}
    members: dict[int, list[str]] = {}
    for n in names:
        members.setdefault(chunk_of[n], []).append(n)
    if opts.shard is not None:
        i, k = opts.shard
        members = {c: m for c, m in members.items() if c % k == i - 1}
        mine = {n for m in members.values() for n in m}
        excluded = {n: r for n, r in excluded.items() if shard_of(n, k) == i - 1}
        unusable = {n: r for n, r in unusable.items() if shard_of(n, k) == i - 1}
        names = [n for n in names if n in mine]
    todo = [n for c in sorted(members) if not set(members[c]) <= done for n in members[c]]

    def row(n: str, kind: str, message: str) -> dict:
        return {"name": n, "path": str(by_name[n] or ""), "kind": kind, "member": "",
                "message": message}

    failures = ([row(n, "excluded", r) for n, r in excluded.items()]
                + [row(n, "unusable name", f"{Path(str(by_name[n])).name!r}: {why}")
                   for n, why in unusable.items()])
    order = list(by_name) if from_zips else sorted(by_name)
    return Plan(by_name=by_name, excluded=excluded, names=names, chunk_members=members,
                chunk_of=chunk_of, todo=todo, failures=failures, from_zips=from_zips,
                order=order)
