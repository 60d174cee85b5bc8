"""API: predictions (``infer``, ``merge``, ``report``), installed modules and the demo."""

from __future__ import annotations

import os
from pathlib import Path

from mimir.errors import UsageError
from mimir.limits import DEFAULT_LIMITS, Limits


def infer(paths_dicoms, path_cache, paths_modules, path_out, batch_size: int = 32, *,
          device: str = "auto", workers: int = 1, ci: float = 0.95, resume: bool = False,
          overwrite: bool = False, precision: str = "fp32", compile: bool = False,
          threads: int | None = None, exclude=None, exclude_column: str | None = None,
          qc: str = "warn", shard: tuple[int, int] | None = None, report: bool = True,
          scheduler: str | None = None, cluster: str | None = None,
          ids: str | os.PathLike | None = None, dicom_dir: str | os.PathLike | None = None,
          instance: int = 2, limits: Limits = DEFAULT_LIMITS, command: str = "",
          on_start=None, on_preprocessed=None, on_batch=None, on_module=None, log=None):
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
    command : str, optional
        The command line to record in run.json (default: this process's arguments).
    on_start, on_preprocessed, on_batch, on_module : callable, optional
        Progress hooks (see :class:`mimir.execution.sink.Hooks`).
    log : callable, optional
        Messages for the user (default: stderr).

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
                        instance=instance, command=command)
    return run(paths_dicoms or [], paths_modules, path_out, cache=path_cache, options=opts,
               hooks=Hooks(on_start=on_start, on_preprocessed=on_preprocessed,
                           on_batch=on_batch, on_module=on_module), log=log)


def merge(sources: list, out: str | os.PathLike | None = None, overwrite: bool = False,
          report: bool = True) -> dict:
    """Combine the outputs of ``infer --shard I/N`` runs into one set of tables
    (``mimir merge``).

    Parameters
    ----------
    sources : list of path-like
        The OUT of the shard runs (holding ``shards/``), or shard folders.
    out : path-like, optional
        Where to write the merged tables (default: the single source).
    overwrite : bool
        Replace merged tables already there.
    report : bool
        Also write ``report.html``.

    Returns
    -------
    dict
        ``shards``, ``subjects``, ``out`` and, with ``report``, ``report`` (path or None)
        and ``report_error``.
    """
    from mimir.execution.merge import merge as run

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if out is None:
        if len(sources) != 1:
            raise UsageError("give --out when merging several folders")
        out = sources[0]
    res = dict(run(sources, out, overwrite=overwrite))
    res["out"] = Path(out)
    if report:
        from mimir.report import try_build_report

        res["report"], res["report_error"] = try_build_report(out)
    return res


def report(out: str | os.PathLike, covariates: str | os.PathLike | None = None,
           cache: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` for an ``infer`` (or ``merge``) output folder
    (``mimir report``).

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


def modules_install(source: str | os.PathLike, name: str | None = None,
                    overwrite: bool = False):
    """Install a module (a zip as downloaded, or a folder) into ``$MIMIR_HOME/modules``
    (``mimir modules install``); returns the installed :class:`~mimir.modules.format.
    Module`."""
    from mimir.modules.registry import install

    return install(source, name=name, overwrite=overwrite)


def modules_list() -> list:
    """Installed modules that load (``mimir modules list``)."""
    from mimir.modules.registry import installed

    return installed()


def demo(out: str | os.PathLike = "mimir-demo", n: int = 8, seed: int = 7, workers: int = 1,
         overwrite: bool = False, on_stage=None) -> dict:
    """The whole job on synthetic subjects with the built-in module (``mimir demo``).

    Returns
    -------
    dict
        ``summary`` (per target against the phantom truth), ``report`` (path),
        ``infer`` (the run's summary).
    """
    from mimir.demo.run import run_demo
    from mimir.pipeline.options import whole_number

    whole_number(n, "--n", 1)
    whole_number(workers, "--workers", 1)
    return run_demo(out, n=n, seed=seed, workers=workers, overwrite=overwrite,
                    on_stage=on_stage)
