"""Options of the commands that read subjects' zips, defined once (:mod:`mimir.optspec`).

:data:`INPUT_OPTIONS` (which subjects, how many workers, the resource limits) is shared
by ``preprocess`` (:class:`PreprocessOptions`) and ``infer``
(:class:`mimir.execution.options.InferOptions`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mimir.errors import UsageError
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.optspec import Opt, Options, OptionSet

_D = DEFAULT_LIMITS


def whole_number(value, what: str, minimum: int) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``, else UsageError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise UsageError(f"{what} must be at least {minimum}, got {value}")
    return value


def existing_file(flag: str, what: str = "no such file") -> Callable[[Path], Path]:
    """A check: the path is a file."""
    def check(path: Path) -> Path:
        if not path.is_file():
            raise UsageError(f"{flag} {path}: {what}")
        return path
    return check


def existing_folder(flag: str) -> Callable[[Path], Path]:
    """A check: the path is a folder."""
    def check(path: Path) -> Path:
        if not path.is_dir():
            raise UsageError(f"{flag} {path}: no such folder")
        return path
    return check


#: The ``--max-*`` resource limits (see :class:`mimir.limits.Limits`).
LIMIT_OPTIONS = OptionSet(
    Opt("max_subject_bytes", _D.max_subject_bytes, "Decompressed bytes read from one zip.",
        minimum=1),
    Opt("max_member_bytes", _D.max_member_bytes, "Decompressed size of one zip member.",
        minimum=1),
    Opt("max_members", _D.max_members, "Members in one zip.", minimum=1),
    Opt("max_zip_bytes", _D.max_zip_bytes, "Size of one zip file on disk.", minimum=1),
    Opt("max_slice_pixels", _D.max_slice_pixels, "Rows x columns of one slice.", minimum=1),
    Opt("max_subject_pixels", _D.max_subject_pixels, "Water and fat pixels decoded from one "
        "zip.", minimum=1),
    Opt("max_fused_voxels", _D.max_fused_voxels, "Voxels of one subject's fused grid (also "
        "of its placed stations together); more fails it as implausible geometry.",
        minimum=1),
)

#: Which subjects, and how many processes read them (preprocess and infer).
INPUT_OPTIONS = OptionSet(
    Opt("workers", 1, "Preprocessing worker processes.", minimum=1),
    Opt("ids", None, "File of subject ids (eids, one per line or the first column; a header "
        "line is skipped), with --dicom-dir.", type=Path, check=existing_file("--ids")),
    Opt("dicom_dir", None, "Folder of <eid>_20201_<instance>_0.zip files (with --ids).",
        type=Path, check=existing_folder("--dicom-dir")),
    Opt("instance", 2, "Imaging visit for --ids (2: first, 3: repeat).", minimum=0),
    Opt("exclude", None, "Subjects not to process (CSV/TSV or a plain list of ids).",
        type=Path, check=existing_file("exclusion list", "does not exist")),
    Opt("exclude_column", None, "Column of --exclude holding the ids.", type=str),
) + LIMIT_OPTIONS


class InputOptions(Options):
    """Which subjects to read and how (:data:`INPUT_OPTIONS`).

    Raises
    ------
    UsageError
        On construction, for any invalid value or combination.
    """

    SPEC = INPUT_OPTIONS

    def check(self) -> None:
        if (self.ids is None) != (self.dicom_dir is None):
            raise UsageError("--ids and --dicom-dir go together")

    @staticmethod
    def limit_values(limits: Limits) -> dict:
        """The ``max_*`` option values of a :class:`~mimir.limits.Limits` (to pass limits
        to the API: ``mimir.preprocess(..., **InputOptions.limit_values(limits))``)."""
        return {o.name: getattr(limits, o.name) for o in LIMIT_OPTIONS}

    @property
    def limits(self) -> Limits:
        """The resource limits of the ``--max-*`` options."""
        return Limits(**{o.name: getattr(self, o.name) for o in LIMIT_OPTIONS})


#: ``preprocess``: the inputs plus ``--volumes``, where its tables go, and progress.
PREPROCESS_OPTIONS = INPUT_OPTIONS + OptionSet(
    Opt("volumes", None, "Also write fused water, fat, fat fraction and mask as NIfTI here.",
        type=Path),
    Opt("out", None, "Folder for this run's tables (failures.csv, warnings.csv, qc.csv and "
        "columns.csv, merged with earlier runs' there); never the cache. Default: none "
        "written (the summary lists failures).", type=Path, flags=("--out", "-o")),
    Opt("progress", True, "Show a progress bar when called from Python (in a notebook or a "
        "terminal, unless progress hooks are given); False: none.", cli=False),
)


class PreprocessOptions(InputOptions):
    """Options of ``preprocess`` (:data:`PREPROCESS_OPTIONS`)."""

    SPEC = PREPROCESS_OPTIONS
