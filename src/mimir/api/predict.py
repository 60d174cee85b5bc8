"""API: predictions (``infer``, ``merge``, ``report``), installed modules and the demo."""

from __future__ import annotations

import os
from pathlib import Path

from mimir.demo.run import run_demo
from mimir.errors import UsageError
from mimir.execution.merge import merge as run_merge
from mimir.execution.options import INFER_OPTIONS, InferOptions
from mimir.execution.run import infer as run_infer
from mimir.execution.sink import Hooks
from mimir.modules.registry import install, installed
from mimir.optspec import Opt, OptionSet, api_options
from mimir.report import build_report, try_build_report


@api_options(INFER_OPTIONS)
def infer(paths_dicoms, path_cache, paths_modules, path_out,
          batch_size: int = INFER_OPTIONS.default("batch_size"), *, on_start=None,
          on_preprocessed=None, on_batch=None, on_module=None, log=None, **options):
    """Predict every module's targets for every subject, with confidence intervals.

    The first five arguments keep the original MIMIR ``infer`` order, so existing
    scripts port by changing the import. The options (below) are those of ``mimir
    infer``, with the same defaults.

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
        Output folder (with ``shard``: results in ``<path_out>/shards/I-of-N``, combined
        by :func:`merge`).
    batch_size : int
        Images per network batch.
    on_start, on_preprocessed, on_batch, on_module : callable, optional
        Progress hooks (see :class:`mimir.execution.sink.Hooks`).
    log : callable, optional
        Messages for the user (default: stderr).

    Returns
    -------
    mimir.execution.run.InferSummary
    """
    opts = InferOptions(batch_size=batch_size, **options)
    return run_infer(paths_dicoms or [], paths_modules, path_out, cache=path_cache,
                     options=opts, hooks=Hooks(on_start=on_start,
                                               on_preprocessed=on_preprocessed,
                                               on_batch=on_batch, on_module=on_module),
                     log=log)


MERGE_OPTIONS = OptionSet(
    Opt("out", None, "Where to write the merged tables (default: the single SOURCE).",
        type=Path, flags=("--out", "-o")),
    Opt("overwrite", False, "Replace merged tables already there."),
    Opt("report", True, "Also write report.html."),
)


@api_options(MERGE_OPTIONS)
def merge(sources: list, **options) -> dict:
    """Combine the outputs of ``infer --shard I/N`` runs into one set of tables
    (``mimir merge``).

    Parameters
    ----------
    sources : list of path-like
        The OUT of the shard runs (holding ``shards/``), or shard folders.

    Returns
    -------
    dict
        ``shards``, ``subjects``, ``out`` and, with ``report``, ``report`` (path or None)
        and ``report_error``.
    """
    o = MERGE_OPTIONS.build(**options)
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out = o.out
    if out is None:
        if len(sources) != 1:
            raise UsageError("give --out when merging several folders")
        out = Path(sources[0])
    res = dict(run_merge(sources, out, overwrite=o.overwrite))
    res["out"] = out
    if o.report:
        res["report"], res["report_error"] = try_build_report(out)
    return res


REPORT_OPTIONS = OptionSet(
    Opt("covariates", None, "CSV/TSV with eid and sex columns (UK Biobank coding 0 female, "
        "1 male, or words): histograms split by recorded sex.", type=Path),
    Opt("cache", None, "The image cache, if not where the run recorded it.", type=Path),
)


@api_options(REPORT_OPTIONS)
def report(out: str | os.PathLike, **options) -> Path:
    """Write ``report.html`` for an ``infer`` (or ``merge``) output folder
    (``mimir report``).

    ``infer`` writes it at the end of every run; this rebuilds it (replacing the old
    one), e.g. with covariates.

    Returns
    -------
    Path
        ``OUT/report.html``.
    """
    o = REPORT_OPTIONS.build(**options)
    return build_report(out, covariates=o.covariates, cache=o.cache)


MODULES_INSTALL_OPTIONS = OptionSet(
    Opt("name", None, "Install under this name (default: the module's folder name).",
        type=str),
    Opt("overwrite", False, "Replace an installed module."),
)


@api_options(MODULES_INSTALL_OPTIONS)
def modules_install(source: str | os.PathLike, **options):
    """Install a module (a zip as downloaded, or a folder) into ``$MIMIR_HOME/modules``
    (``mimir modules install``); returns the installed :class:`~mimir.modules.format.
    Module`."""
    o = MODULES_INSTALL_OPTIONS.build(**options)
    return install(source, name=o.name, overwrite=o.overwrite)


def modules_list() -> list:
    """Installed modules that load (``mimir modules list``)."""
    return installed()


DEMO_OPTIONS = OptionSet(
    Opt("out", Path("mimir-demo"), "Output folder.", type=Path, flags=("--out", "-o")),
    Opt("n", 8, "Number of phantom subjects.", minimum=1),
    Opt("repeat", 2, "Of those, how many are also imaged at a repeat visit with a known "
        "change (changes.csv and its report section).", minimum=0),
    Opt("seed", 7, "Phantom seed."),
    Opt("workers", 1, "Preprocessing processes.", minimum=1),
    Opt("overwrite", False, "Replace earlier demo results in --out."),
)


@api_options(DEMO_OPTIONS)
def demo(*, on_stage=None, **options) -> dict:
    """The whole job on synthetic subjects with the built-in module (``mimir demo``).

    Returns
    -------
    dict
        ``summary`` (per target against the phantom truth), ``report`` (path),
        ``infer`` (the run's summary).
    """
    o = DEMO_OPTIONS.build(**options)
    return run_demo(o.out, n=o.n, seed=o.seed, workers=o.workers, overwrite=o.overwrite,
                    on_stage=on_stage, repeat=min(o.repeat, o.n))
