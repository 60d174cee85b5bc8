"""API: zips to cached images, looking at them, checking them, and synthetic subjects."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mimir.errors import UsageError
from mimir.limits import DEFAULT_LIMITS, Limits


def preprocess(inputs, cache: str | os.PathLike, workers: int = 1,
               volumes: str | os.PathLike | None = None, ids: str | os.PathLike | None = None,
               dicom_dir: str | os.PathLike | None = None, instance: int = 2,
               exclude: str | os.PathLike | None = None, exclude_column: str | None = None,
               limits: Limits = DEFAULT_LIMITS,
               on_start: Callable[[int], None] | None = None,
               on_record: Callable | None = None):
    """Make the MIMIR 2D image of every subject into a cache folder (``mimir preprocess``).

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
    from mimir.execution.outdir import ensure_folder
    from mimir.pipeline.batch import preprocess_batch
    from mimir.pipeline.inputs import resolve_inputs
    from mimir.pipeline.options import PreprocessOptions
    from mimir.qc.exclusions import excluded_subjects
    from mimir.reading.archive import subject_name

    opts = PreprocessOptions(workers=workers, volumes=volumes, ids=ids, dicom_dir=dicom_dir,
                             instance=instance, exclude=exclude,
                             exclude_column=exclude_column, limits=limits)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = resolve_inputs(list(inputs or []), ids=opts.ids, dicom_dir=opts.dicom_dir,
                           instance=opts.instance)
    if not paths:
        raise UsageError("no inputs: name zips, folders or lists, or use --ids/--dicom-dir")
    excluded = excluded_subjects([subject_name(p) for p in paths], opts.exclude,
                                 opts.exclude_column)
    ensure_folder(Path(cache), "cache folder")
    if on_start:
        on_start(len(paths))
    return preprocess_batch(paths, Path(cache), workers=opts.workers,
                            volumes_dir=opts.volumes, limits=opts.limits, excluded=excluded,
                            on_record=on_record)


def show(image: str | os.PathLike, output: str | os.PathLike,
         overwrite: bool = False) -> Path:
    """Draw a cached 2D image's three channels side by side, labelled, as a PNG
    (``mimir show``)."""
    from mimir.projection.render import save_channels_png

    image, output = Path(image), Path(output)
    if not image.is_file():
        raise UsageError(f"{image} does not exist")
    if output.exists() and not overwrite:
        raise UsageError(f"{output} exists; use --overwrite to replace it")
    try:
        save_channels_png(image, output)
    except ValueError as exc:
        raise UsageError(f"{image} is not a MIMIR 2D image: {exc}") from None
    return output


def qc(folder: str | os.PathLike, cache: str | os.PathLike | None = None,
       png: str | os.PathLike | None = None, overwrite: bool = False) -> dict:
    """QC flags over a cohort (``mimir qc``): counts per flag in ``qc_summary.csv`` and a
    grid of the flagged subjects' images.

    Parameters
    ----------
    folder : path-like
        An image cache or an ``infer`` output folder.
    cache : path-like, optional
        The image cache, if not in ``folder`` or ``folder/cache``.
    png : path-like, optional
        The grid (default ``folder/qc_flagged.png``).
    overwrite : bool
        Replace existing QC outputs.

    Returns
    -------
    dict
        ``table`` (flags per subject), ``counts`` (per flag), ``summary`` (path),
        ``grid`` (path, or None when no subject is flagged).
    """
    from mimir.atomic import atomic_path
    from mimir.qc.report import cohort_qc, flagged_grid

    folder = Path(folder)
    table, counts, c = cohort_qc(folder, cache)
    png = Path(png) if png else folder / "qc_flagged.png"
    summary = folder / "qc_summary.csv"
    for p in (png, summary):
        if p.exists() and not overwrite:
            raise UsageError(f"{p} exists; use --overwrite to replace it")
    with atomic_path(summary) as tmp:
        counts.to_csv(tmp, index=False)
    return {"table": table, "counts": counts, "summary": summary,
            "grid": flagged_grid(c, table, png)}


def cache_verify(cache: str | os.PathLike, check_sources: bool = True) -> dict:
    """Check every entry of an image cache (``mimir cache verify``).

    Returns
    -------
    dict
        ``entries``, ``ok``, ``problems`` (list of (name, why)), ``orphans``; see
        :func:`mimir.cache.store.verify`.
    """
    from mimir.cache.store import verify

    if not Path(cache).is_dir():
        raise UsageError(f"cache folder {cache} does not exist")
    return verify(cache, check_sources=check_sources)


def phantom(out: str | os.PathLike, n: int = 8, seed: int = 0,
            superimposed: int | None = None, mismatch: int | None = None,
            missing_station: int | None = None, missing_fat: int | None = None,
            swap: int | None = None, manifest_csv: bool = False, crlf: bool = False,
            no_manifest: bool = False, truncated: bool = False, corrupt_member: bool = False,
            knee_cut: bool = False, overwrite: bool = False, fast: bool = False,
            workers: int = 1,
            on_subject: Callable[[str], None] | None = None) -> list[Path] | Path:
    """Synthetic subjects with known truth (``mimir phantom``): field-20201 zips and
    ``truth.csv``, or with ``fast`` their 2D images straight into an image cache.

    The variant options build in the irregularities of docs/phantoms.md (station K for
    the numbered ones). Returns the zips written, or with ``fast`` the path of
    ``truth.csv`` beside the cached images.
    """
    from mimir.phantom.cohort import generate_cohort, generate_fast_cohort
    from mimir.phantom.variants import Variants
    from mimir.pipeline.options import whole_number

    whole_number(n, "--n", 1)
    whole_number(workers, "--workers", 1)
    if fast:
        return generate_fast_cohort(out, n, seed, workers=workers, overwrite=overwrite,
                                    on_subject=on_subject)
    try:
        variants = Variants(superimposed=superimposed, mismatch=mismatch,
                            missing_station=missing_station, missing_fat=missing_fat,
                            swap=swap,
                            manifest_name="manifest.csv" if manifest_csv else "manifest.cvs",
                            crlf=crlf, no_manifest=no_manifest, truncated=truncated,
                            corrupt_member=corrupt_member, knee_cut=knee_cut)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return generate_cohort(out, n, seed, variants, overwrite=overwrite, on_subject=on_subject,
                           workers=workers)
