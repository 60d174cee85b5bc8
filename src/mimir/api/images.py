"""API: zips to cached images, looking at them, checking them, and synthetic subjects."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mimir.api.progress import preprocess_progress
from mimir.atomic import atomic_path
from mimir.cache.store import verify
from mimir.errors import UsageError
from mimir.execution.outdir import ensure_folder
from mimir.optspec import Opt, OptionSet, api_options
from mimir.output.dictionary import describe, read_dictionary, write_dictionary
from mimir.phantom.cohort import generate_cohort, generate_fast_cohort
from mimir.phantom.subject import FollowUp
from mimir.phantom.variants import Variants
from mimir.pipeline.batch import preprocess_batch
from mimir.pipeline.inputs import resolve_inputs
from mimir.pipeline.options import PREPROCESS_OPTIONS, PreprocessOptions
from mimir.projection.render import save_channels_png
from mimir.qc.exclusions import excluded_subjects
from mimir.qc.report import cohort_qc, flagged_grid, is_output_folder
from mimir.reading.archive import subject_name


@api_options(PREPROCESS_OPTIONS)
def preprocess(inputs, cache: str | os.PathLike, *,
               on_start: Callable[[int], None] | None = None,
               on_record: Callable | None = None, **options):
    """Make the MIMIR 2D image of every subject into a cache folder (``mimir preprocess``).

    Parameters
    ----------
    inputs : path or list of paths
        Zip files, folders of zips, or text files listing paths.
    cache : path-like
        Cache folder: ``<name>.npy`` and ``<name>.json`` per subject.
    on_start, on_record : callable, optional
        Progress hooks: the number of subjects, then each record.

    The tables of the run (``failures.csv``, ``warnings.csv``, ``qc.csv``, with
    ``columns.csv``) go to ``out`` when it is given, never into the cache.

    Returns
    -------
    mimir.pipeline.batch.BatchSummary
    """
    opts = PreprocessOptions(**options)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = resolve_inputs(list(inputs or []), ids=opts.ids, dicom_dir=opts.dicom_dir,
                           instance=opts.instance)
    if not paths:
        raise UsageError("no inputs: name zips, folders or lists, or use --ids/--dicom-dir")
    excluded = excluded_subjects([subject_name(p) for p in paths], opts.exclude,
                                 opts.exclude_column)
    if opts.out is not None and Path(opts.out).resolve() == Path(cache).resolve():
        raise UsageError("--out must not be the cache: the cache is shared by runs, the "
                         "tables are this run's")
    ensure_folder(Path(cache), "cache folder")
    if opts.out is not None:
        ensure_folder(Path(opts.out), "output folder")
    given = on_start is not None or on_record is not None
    with preprocess_progress(opts.progress and not given) as bar:
        on_start = on_start or bar.get("on_start")
        if on_start:
            on_start(len(paths))
        return preprocess_batch(paths, Path(cache), workers=opts.workers,
                                volumes_dir=opts.volumes, limits=opts.limits,
                                excluded=excluded, on_record=on_record or bar.get("on_record"),
                                tables=opts.out)


SHOW_OPTIONS = OptionSet(Opt("overwrite", False, "Replace an existing PNG."))


@api_options(SHOW_OPTIONS)
def show(image: str | os.PathLike, output: str | os.PathLike, **options) -> Path:
    """Draw a cached 2D image's three channels side by side, labelled, as a PNG
    (``mimir show``)."""
    o = SHOW_OPTIONS.build(**options)
    image, output = Path(image), Path(output)
    if not image.is_file():
        raise UsageError(f"{image} does not exist")
    if output.exists() and not o.overwrite:
        raise UsageError(f"{output} exists; use --overwrite to replace it")
    try:
        save_channels_png(image, output)
    except ValueError as exc:
        raise UsageError(f"{image} is not a MIMIR 2D image: {exc}") from None
    return output


QC_OPTIONS = OptionSet(
    Opt("cache", None, "The image cache, if not the one FOLDER's run.json names (or FOLDER "
        "itself when it is a cache).", type=Path),
    Opt("out", None, "Folder for qc_summary.csv, qc_flagged.png and columns.csv (default: "
        "FOLDER when it is an infer output folder; for a cache, nothing is written unless "
        "given).", type=Path, flags=("--out", "-o")),
    Opt("png", None, "Grid of flagged subjects' images (default OUT/qc_flagged.png).",
        type=Path),
    Opt("overwrite", False, "Replace existing QC outputs."),
)


@api_options(QC_OPTIONS)
def qc(folder: str | os.PathLike, **options) -> dict:
    """QC flags over a cohort (``mimir qc``): counts per flag in ``qc_summary.csv`` and a
    grid of the flagged subjects' images.

    Parameters
    ----------
    folder : path-like
        An image cache or an ``infer`` output folder.

    The cache is the one the output folder's ``run.json`` records (the shared cache by
    default), or the folder itself when it is a cache. The tables go to ``out``
    (default: the folder when it is an ``infer`` output folder), never into a cache.

    Returns
    -------
    dict
        ``table`` (flags per subject), ``counts`` (per flag), ``summary`` (path, or None
        when nothing was written), ``grid`` (path, or None when no subject is flagged or
        nothing was written), ``cache`` (the cache read).
    """
    o = QC_OPTIONS.build(**options)
    folder = Path(folder)
    table, counts, c = cohort_qc(folder, o.cache)
    dest = o.out if o.out is not None else (folder if is_output_folder(folder) else None)
    if dest is not None and Path(dest).resolve() == c.root.resolve():
        raise UsageError(f"--out {dest} is the image cache; name another folder for the "
                         "QC tables")
    if dest is None:
        return {"table": table, "counts": counts, "summary": None, "grid": None,
                "cache": c.root}
    dest = ensure_folder(Path(dest), "output folder")
    png = o.png or dest / "qc_flagged.png"
    summary = dest / "qc_summary.csv"
    for p in (png, summary):
        if p.exists() and not o.overwrite:
            raise UsageError(f"{p} exists; use --overwrite to replace it")
    with atomic_path(summary) as tmp:
        counts.to_csv(tmp, index=False)
    write_dictionary(dest, read_dictionary_rows(dest, skip="qc_summary.csv")
                     + describe("qc_summary.csv", counts.columns, meanings=QC_SUMMARY))
    return {"table": table, "counts": counts, "summary": summary,
            "grid": flagged_grid(c, table, png), "cache": c.root}


#: The columns of ``qc_summary.csv``.
QC_SUMMARY = {
    "flag": ("the QC flag (see qc.csv and docs/qc.md)", ""),
    "severity": ("fail: the subject does not pass QC; warn: a warning only", ""),
    "subjects": ("subjects with the flag raised", ""),
    "names": ("those subjects, space-separated", ""),
    "rule": ("the rule that raises the flag, in words", ""),
}


def read_dictionary_rows(folder: Path, skip: str) -> list[dict]:
    """The rows of a folder's ``columns.csv`` other than those of table ``skip`` (a
    command adding its table keeps the other commands' entries)."""
    d = read_dictionary(folder)
    return d[d["table"] != skip].to_dict("records")


CACHE_VERIFY_OPTIONS = OptionSet(
    Opt("check_sources", True, "Compare entries with their source zips' size and time.",
        flags=("--sources",)),
)


@api_options(CACHE_VERIFY_OPTIONS)
def cache_verify(cache: str | os.PathLike, **options) -> dict:
    """Check every entry of an image cache (``mimir cache verify``).

    Returns
    -------
    dict
        ``entries``, ``ok``, ``problems`` (list of (name, why)), ``orphans``; see
        :func:`mimir.cache.store.verify`.
    """
    o = CACHE_VERIFY_OPTIONS.build(**options)
    if not Path(cache).is_dir():
        raise UsageError(f"cache folder {cache} does not exist")
    return verify(cache, check_sources=o.check_sources)


_STATION: dict[str, Any] = {"minimum": 1, "maximum": 6, "type": int}
PHANTOM_OPTIONS = OptionSet(
    Opt("n", 8, "Number of subjects.", minimum=1),
    Opt("seed", 0, "Seed: same seed and options give byte-identical zips."),
    Opt("superimposed", None, "Repeat station K (the first copy corrupted, the later "
        "clean).", **_STATION),
    Opt("mismatch", None, "Fat series of station K with 4 fewer rows than water.",
        **_STATION),
    Opt("missing_station", None, "Leave out station K.", **_STATION),
    Opt("missing_fat", None, "Leave out the fat series of station K.", **_STATION),
    Opt("swap", None, "Swap water and fat in station K.", **_STATION),
    Opt("manifest_csv", False, "Name the manifest manifest.csv instead of manifest.cvs."),
    Opt("crlf", False, "CRLF line ends in the manifest."),
    Opt("no_manifest", False, "Leave out the manifest."),
    Opt("truncated", False, "Cut each zip to 60%."),
    Opt("corrupt_member", False, "Replace one water slice with unreadable bytes."),
    Opt("knee_cut", False, "Position subjects so the knees lie 120 mm below the field of "
        "view."),
    Opt("overwrite", False, "Replace existing files."),
    Opt("fast", False, "Write 2D images straight into OUT as an image cache (fast path, no "
        "zips; for training data)."),
    Opt("workers", 1, "Processes writing subjects.", minimum=1),
    Opt("repeat", 0, "Also make the repeat imaging visit (instance 3) of the first N "
        "subjects, with a known change (see --vat-change and --years).", minimum=0),
    Opt("vat_change", 0.25, "Relative change of visceral fat at the repeat visit (0.25: a "
        "quarter more; liver fat follows).", minimum=-0.9, maximum=3.0),
    Opt("years", 2.5, "Years between the two visits (age, muscle and marrow fat move on).",
        minimum=0.0, maximum=20.0),
)


@api_options(PHANTOM_OPTIONS)
def phantom(out: str | os.PathLike, *, on_subject: Callable[[str], None] | None = None,
            **options) -> list[Path] | Path:
    """Synthetic subjects with known truth (``mimir phantom``): field-20201 zips and
    ``truth.csv``, or with ``fast`` their 2D images straight into an image cache.

    The variant options build in the irregularities of docs/phantoms.md (station K for
    the numbered ones); ``repeat`` adds second visits with a known change. Returns the zips written, or with ``fast`` the path of
    ``truth.csv`` beside the cached images.
    """
    o = PHANTOM_OPTIONS.build(**options)
    if o.repeat > o.n:
        raise UsageError(f"--repeat {o.repeat} is more than --n {o.n}")
    follow_up = FollowUp(years=o.years, vat=o.vat_change)
    if o.fast:
        return generate_fast_cohort(out, o.n, o.seed, workers=o.workers,
                                    overwrite=o.overwrite, on_subject=on_subject,
                                    repeat=o.repeat, follow_up=follow_up)
    try:
        variants = Variants(superimposed=o.superimposed, mismatch=o.mismatch,
                            missing_station=o.missing_station, missing_fat=o.missing_fat,
                            swap=o.swap,
                            manifest_name="manifest.csv" if o.manifest_csv
                            else "manifest.cvs",
                            crlf=o.crlf, no_manifest=o.no_manifest, truncated=o.truncated,
                            corrupt_member=o.corrupt_member, knee_cut=o.knee_cut)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return generate_cohort(out, o.n, o.seed, variants, overwrite=o.overwrite,
                           on_subject=on_subject, workers=o.workers, repeat=o.repeat,
                           follow_up=follow_up)
