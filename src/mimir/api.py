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
    from mimir.execution.outdir import ensure_folder
    from mimir.pipeline.batch import preprocess_batch
    from mimir.pipeline.inputs import resolve_inputs
    from mimir.qc.exclusions import excluded_subjects
    from mimir.reading.archive import subject_name

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = resolve_inputs(list(inputs), ids=ids, dicom_dir=dicom_dir, instance=instance)
    if not paths:
        raise UsageError("no inputs: name zips, folders or lists, or use --ids/--dicom-dir")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"--workers must be a whole number of at least 1, got {workers!r}")
    excluded = excluded_subjects([subject_name(p) for p in paths], exclude, exclude_column)
    ensure_folder(Path(cache), "cache folder")
    if on_start:
        on_start(len(paths))
    return preprocess_batch(paths, Path(cache), workers=workers, volumes_dir=volumes,
                            limits=limits, excluded=excluded, on_record=on_record)


def report(out: str | os.PathLike, covariates: str | os.PathLike | None = None,
           cache: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` for an ``infer`` (or ``merge``) output folder.

    ``infer`` writes it at the end of every run; this rebuilds it (replacing the old
    one), e.g. with covariates.

    Parameters
    ----------
    out : path-like
        The output folder.
    covariates : path-like, optional
        CSV/TSV with ``eid`` and ``sex`` columns (UK Biobank coding 0 female, 1 male, or
        words): histograms split by recorded sex.
    cache : path-like, optional
        The image cache, when not where the run recorded it.

    Returns
    -------
    Path
        ``OUT/report.html``.
    """
    from mimir.report import build_report

    return build_report(out, covariates=covariates, cache=cache)


def infer(paths_dicoms, path_cache, paths_modules, path_out, batch_size: int = 32, *,
          device: str = "auto", workers: int = 1, ci: float = 0.95, resume: bool = False,
          overwrite: bool = False, precision: str = "fp32", compile: bool = False,
          threads: int | None = None, exclude=None, exclude_column: str | None = None,
          qc: str = "warn", shard: tuple[int, int] | None = None, report: bool = True,
          scheduler: str | None = None, cluster: str | None = None,
          ids: str | os.PathLike | None = None, dicom_dir: str | os.PathLike | None = None,
          instance: int = 2, limits: Limits = DEFAULT_LIMITS, on_start=None,
          on_preprocessed=None, on_batch=None, on_module=None):
    """Predict every module's targets for every subject, with confidence intervals.

    The first five arguments keep the original MIMIR ``infer`` order, so existing
    scripts port by changing the import.

    Parameters
    ----------
    paths_dicoms : list of path-like
        Field-20201 zips, folders of zips, or list files; empty (and no ``ids``): every
        cached image.
    path_cache : path-like or None
        Cache folder for the 2D images (None: ``<path_out>/cache``).
    paths_modules : list of path-like or str
        Module folders or installed module names.
    path_out : path-like
        Output folder.
    batch_size : int
        Images per network batch (as high as memory allows is fastest).
    device : {'auto', 'cpu', 'cuda'}
    workers : int
        Preprocessing worker processes.
    ci : float
        Confidence interval level.
    resume, overwrite : bool
        What to do with an existing output folder (refused without either).
    precision : {'fp32', 'tf32', 'bf16', 'fp16'}
        ``fp32`` is IEEE float32 on every device (TF32 off); the faster, less exact
        options are opt-in.
    compile : bool
        Use ``torch.compile`` (opt-in).
    threads : int, optional
        Torch CPU threads (default: CPUs not used by workers).
    exclude, exclude_column
        An exclusion list (subjects reported as ``excluded``).
    qc : {'warn', 'strict', 'off'}
        QC flags as columns (warn), and no predictions for subjects failing QC
        (strict), or no QC columns (off).
    report : bool
        Write ``report.html`` after the tables (see :func:`report`).
    shard : (int, int), optional
        (I, N): only this job's share of the subjects, written to
        ``<path_out>/shards/I-of-N`` (combine with :func:`mimir.execution.merge.merge`).
    scheduler, cluster : str, optional
        Run on a Dask scheduler at this address, or on a new ``local[:N]`` cluster.
    ids, dicom_dir, instance
        The original's entry point: the subjects of an id file (eids),
        ``<dicom_dir>/<eid>_20201_<instance>_0.zip`` each.
    limits : Limits
        Resource limits for untrusted zips.

    Returns
    -------
    mimir.execution.run.InferSummary
    """
    from mimir.execution.options import InferOptions
    from mimir.execution.run import infer as run
    from mimir.execution.sink import Hooks

    opts = InferOptions(batch_size=batch_size, device=device, workers=workers, ci=ci,
                        resume=resume, overwrite=overwrite, precision=precision, report=report,
                        compile=compile, threads=threads, limits=limits, exclude=exclude,
                        exclude_column=exclude_column, qc=qc, shard=shard,
                        scheduler=scheduler, cluster=cluster, ids=ids, dicom_dir=dicom_dir,
                        instance=instance)
    return run(paths_dicoms or [], paths_modules, path_out, cache=path_cache, options=opts,
               hooks=Hooks(on_start=on_start, on_preprocessed=on_preprocessed,
                           on_batch=on_batch, on_module=on_module))


def cache_verify(cache: str | os.PathLike, check_sources: bool = True) -> dict:
    """Check every entry of an image cache (``mimir cache verify``).

    Returns
    -------
    dict
        ``entries``, ``ok``, ``problems`` (list of (name, why)), ``orphans``; see
        :func:`mimir.cache.store.verify`.
    """
    from mimir.cache.store import verify
    from mimir.errors import UsageError

    if not Path(cache).is_dir():
        raise UsageError(f"cache folder {cache} does not exist")
    return verify(cache, check_sources=check_sources)
