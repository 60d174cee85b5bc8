"""Options of the commands that read subjects' zips, validated once when built.

:class:`InputOptions` (which subjects, how many workers, the resource limits) is shared by
``preprocess`` (:class:`PreprocessOptions`) and ``infer``
(:class:`mimir.execution.options.InferOptions`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mimir.errors import UsageError
from mimir.limits import DEFAULT_LIMITS, Limits


def whole_number(value, what: str, minimum: int) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``, else UsageError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise UsageError(f"{what} must be at least {minimum}, got {value}")
    return value


@dataclass
class InputOptions:
    """Which subjects to read and how.

    Attributes
    ----------
    workers : int
        Preprocessing worker processes.
    ids, dicom_dir, instance
        The subjects of an id file (eids): ``<dicom_dir>/<eid>_20201_<instance>_0.zip``.
    exclude, exclude_column
        An exclusion list; listed subjects are reported as ``excluded``.
    limits : Limits
        Resource limits for untrusted zips.
    """

    workers: int = 1
    ids: str | os.PathLike | None = None
    dicom_dir: str | os.PathLike | None = None
    instance: int = 2
    exclude: str | os.PathLike | None = None
    exclude_column: str | None = None
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self):
        whole_number(self.workers, "--workers", 1)
        whole_number(self.instance, "--instance", 0)
        if (self.ids is None) != (self.dicom_dir is None):
            raise UsageError("--ids and --dicom-dir go together")
        if self.ids is not None and not Path(self.ids).is_file():
            raise UsageError(f"--ids {self.ids}: no such file")
        if self.dicom_dir is not None and not Path(self.dicom_dir).is_dir():
            raise UsageError(f"--dicom-dir {self.dicom_dir}: no such folder")
        if self.exclude is not None and not Path(self.exclude).is_file():
            raise UsageError(f"exclusion list {self.exclude} does not exist")
        if not isinstance(self.limits, Limits):
            raise UsageError(f"limits must be a mimir.limits.Limits, got {self.limits!r}")


@dataclass
class PreprocessOptions(InputOptions):
    """Options of ``preprocess``: :class:`InputOptions` plus ``volumes``, a folder for the
    fused volumes as NIfTI."""

    volumes: str | os.PathLike | None = None
