"""The Python API: the same operations as the command line, with the same options.

>>> import mimir
>>> summary = mimir.preprocess(["/data/zips"], "/data/cache", workers=2)  # doctest: +SKIP
>>> mimir.infer(paths, "/data/cache", ["module_bodycomp"], "/data/out", 32)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mimir.limits import DEFAULT_LIMITS, Limits


def preprocess(inputs, cache: str | os.PathLike, workers: int = 1,
               volumes: str | os.PathLike | None = None, ids: str | os.PathLike | None = None,
               dicom_dir: str | os.PathLike | None = None, instance: int = 2,
               exclude: str | os.PathLike | None = None, exclude_column: str | None = None,
               limits: Limits = DEFAULT_LIMITS,
               on_start: Callable[[int], None] | None = None,
               on_record: Callable | None = None):
    """Make the MIMIR 2D image of every subject into a cache folder.

    Parameters
    ----------
    inputs : path or list of paths
        Zip files, folders of zips, or text files listing paths.
    cache : path-like
        Cache folder: ``<name>.npy`` per subject, ``failures.csv``, ``warnings.csv``.
    workers : int
        Worker processes.
    volumes : path-like, optional
        Also write fused volumes (NIfTI) there.
    ids, dicom_dir, instance
        Build ``<dicom_dir>/<eid>_20201_<instance>_0.zip`` for each id in ``ids``.
    exclude, exclude_column
        An exclusion list; listed subjects are reported as ``excluded``.
    limits : Limits
        Resource limits for untrusted zips.
    on_start, on_record : callable, optional
        Progress hooks: the number of subjects, then each record.

    Returns
    -------
    mimir.pipeline.batch.BatchSummary
    """
    from mimir.errors import UsageError
    from mimir.pipeline.batch import preprocess_batch
    from mimir.pipeline.inputs import resolve_inputs
    from mimir.qc.exclusions import excluded_subjects
    from mimir.reading.archive import subject_name

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = resolve_inputs(list(inputs), ids=ids, dicom_dir=dicom_dir, instance=instance)
    if not paths:
        raise UsageError("no inputs: name zips, folders or lists, or use --ids/--dicom-dir")
    excluded = excluded_subjects([subject_name(p) for p in paths], exclude, exclude_column)
    if on_start:
        on_start(len(paths))
    return preprocess_batch(paths, Path(cache), workers=workers, volumes_dir=volumes,
                            limits=limits, excluded=excluded, on_record=on_record)
