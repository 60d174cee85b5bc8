"""API: predictions (``infer``, ``merge``, ``report``), installed modules and the demo."""

from __future__ import annotations

import os
from pathlib import Path

from mimir.api.progress import infer_progress
from mimir.demo.run import run_demo
from mimir.errors import ModuleFormatError, UsageError
from mimir.execution.merge import merge as run_merge
from mimir.execution.options import INFER_OPTIONS, InferOptions
from mimir.execution.run import infer as run_infer
from mimir.execution.sink import Hooks
from mimir.modules.catalogue import module_table, published
from mimir.modules.format import load_module
from mimir.modules.registry import install, installed, resolve
from mimir.optspec import Opt, OptionSet, api_options
from mimir.output.results import read_results as load_results
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
        Cache folder for the 2D images (None: the shared cache, ``$MIMIR_CACHE`` or else
        ``$MIMIR_HOME/cache``; without inputs, name the cache to predict all of it).
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
        Counts, failures and where the results are; ``summary.results()`` (or
        :func:`read_results` of the output folder) gives the predictions as a pandas
        DataFrame.
    """
    opts = InferOptions(batch_size=batch_size, **options)
    given = any(h is not None for h in (on_start, on_preprocessed, on_batch, on_module))
    with infer_progress(opts.progress and not given) as bar:
        hooks = Hooks(on_start=on_start or bar.get("on_start"),
                      on_preprocessed=on_preprocessed or bar.get("on_preprocessed"),
                      on_batch=on_batch, on_module=on_module or bar.get("on_module"))
        return run_infer(paths_dicoms or [], paths_modules, path_out, cache=path_cache,
                         options=opts, hooks=hooks, log=log)


def read_results(out: str | os.PathLike):
    """The predictions of an ``infer`` (or ``merge``) output folder as a pandas
    DataFrame, one row per subject in the run's row order; ``df.attrs["columns"]``
    holds the data dictionary (``columns.csv``): per column its meaning, unit, module
    and UK Biobank field.

    >>> df = mimir.read_results("/data/out")  # doctest: +SKIP
    >>> df.attrs["columns"]["VAT_variance_in_L"]["unit"]  # doctest: +SKIP
    'L²'
    """
    return load_results(out)


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


def modules_info(module: str | os.PathLike):
    """Each target of a module with its UK Biobank field, unit, the module's own
    cross-validation accuracy (``module.json``, where it has one) and the published
    accuracy of the target it matches (by field id, else by name; both published
    sources where a target has two) (``mimir modules info``).

    Parameters
    ----------
    module : str or path-like
        An installed module's name or a module folder.

    Returns
    -------
    pandas.DataFrame
        One row per target and published source: ``target``, ``field``, ``unit``,
        ``own_*`` and ``published_*`` (``n``, ``icc``, ``r2``, ``mae``,
        ``mape_percent``; MAPE in %).
    """
    try:
        m = load_module(resolve(module))
    except ModuleFormatError as exc:
        raise UsageError(f"module {module}: {exc}") from None
    return module_table(m)


def modules_published():
    """The published targets and their accuracy (``mimir modules published``): the 83
    rows shipped with MIMIR (71 of the original's 10-fold cross-validation, 12 of its
    later test), as a pandas DataFrame with ``source``, ``table``, ``target``,
    ``field``, ``n``, ``unit``, ``icc``, ``r2``, ``mae`` and ``mape_percent`` (MAPE in
    %)."""
    import pandas as pd  # lazy: pandas loads only where it is used

    return pd.DataFrame([vars(p) for p in published()])


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
