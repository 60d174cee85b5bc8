"""The module folder format (modules.md) and its validation.

A module folder holds ``snapshot.pth.tar``, ``metadata.txt`` (``Name,Field,Unit,Divisor``),
``standardization_parameters.txt`` (``stand_mean,stand_stdev``) and
``calibration_factors.txt`` (``calibration_factor``), one line per target after each
header, plus optionally ``module.json`` (our additions: format version, backbone,
input format, provenance, checksums, uncertainty thresholds). Without ``module.json``
a module is read as published: ResNet50 on the 2D format of preprocessing.md.

Every problem is a :class:`mimir.errors.ModuleFormatError` naming the file and line.
A module folder is untrusted: each file is read as a regular file only (a symbolic link
only when it resolves inside the folder; never a FIFO or device, see
:mod:`mimir.safeio`), with a size limit checked before reading
(:data:`MAX_TEXT_BYTES` for the text files, :data:`MAX_MODULE_JSON_BYTES`), at most
:data:`MAX_TARGETS` targets, and every check linear in the number of targets.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir.errors import ModuleFormatError
from mimir.modules import backbones
from mimir.modules.members import (
    ENSEMBLE_FORMAT_VERSION,
    Member,
    check_member_sums,
    read_members,
)
from mimir.safeio import UntrustedFile, load_json, read_regular, regular_file

SNAPSHOT = "snapshot.pth.tar"
METADATA = "metadata.txt"
STANDARDIZATION = "standardization_parameters.txt"
CALIBRATION = "calibration_factors.txt"
MODULE_JSON = "module.json"
MODULE_FORMAT_VERSION = 1
#: The newest format version this MIMIR reads (2: ensembles, :mod:`mimir.modules.members`).
READ_FORMAT_VERSION = ENSEMBLE_FORMAT_VERSION
INPUT_FORMAT = "mimir-2d-v1"
#: Most targets a module may have. Published modules have up to a few dozen; the output
#: layer of a ResNet50 for 131,072 targets alone would fill the 2 GiB snapshot limit.
MAX_TARGETS = 100_000
#: Largest metadata, standardisation or calibration file (100,000 rows of 160 bytes).
MAX_TEXT_BYTES = 16 << 20


@dataclass(frozen=True)
class Target:
    """One predicted measurement.

    Attributes
    ----------
    name : str
        E.g. ``AtlasVatVolume``.
    field : str
        UK Biobank field id ('' when none).
    unit : str
        Unit after dividing by ``divisor`` (``L``, ``%``, ``(male = 1)`` ...).
    divisor : float
        Network outputs (in training units) are divided by this.
    mean, sd : float
        Standardisation of the training labels (sd with ddof = 1).
    calibration : float
        Variance scale making the predicted variances calibrated.
    """

    name: str
    field: str
    unit: str
    divisor: float
    mean: float
    sd: float
    calibration: float


@dataclass
class Module:
    """A loaded (not yet instantiated) inference module."""

    path: Path
    name: str
    targets: list
    backbone: str = "resnet50"
    input_format: str = INPUT_FORMAT
    info: dict = field(default_factory=dict)
    #: Ensemble members (module.json ``members``); empty for a single network.
    members: tuple[Member, ...] = ()
    _sha256: str | None = field(default=None, repr=False, compare=False)

    @property
    def snapshot_path(self) -> Path:
        return self.path / SNAPSHOT

    def member_paths(self) -> list[Path]:
        """The snapshot of every member (of a single network: ``snapshot.pth.tar``)."""
        return [self.path / m.file for m in self.members] or [self.snapshot_path]

    def snapshot_sha256(self) -> str:
        """SHA-256 of the snapshot file, computed once (also when module.json is checked)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.snapshot_path)
        return self._sha256

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def arrays(self) -> dict:
        """Per-target parameters as float64 arrays: mean, sd, calibration, divisor."""
        return {k: np.array([getattr(t, a) for t in self.targets], dtype=np.float64)
                for k, a in (("mean", "mean"), ("sd", "sd"), ("calibration", "calibration"),
                             ("divisor", "divisor"))}

    def sd_threshold(self, target: str) -> float | None:
        """Uncertainty threshold (predicted sd) for a target, if module.json gives one."""
        th = self.info.get("uncertainty_thresholds") or {}
        v = th.get(target)
        return float(v) if v is not None else None


def read_file(path: Path, max_bytes: int) -> bytes:
    """A file of a module folder: a regular file (a link only within the folder) of at
    most ``max_bytes``.

    Raises
    ------
    ModuleFormatError
        When it is missing, not a regular file, or too large.
    """
    try:
        return read_regular(path, max_bytes, root=path.parent)
    except FileNotFoundError:
        raise ModuleFormatError(f"{path}: missing (a module folder needs {SNAPSHOT}, "
                                f"{METADATA}, {STANDARDIZATION} and {CALIBRATION})") from None
    except (UntrustedFile, OSError) as exc:
        raise ModuleFormatError(str(exc) if isinstance(exc, UntrustedFile)
                                else f"{path}: unreadable ({exc.strerror or exc})") from None


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = read_file(path, MAX_TEXT_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModuleFormatError(f"{path}: not UTF-8 text ({exc})") from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if len(lines) > MAX_TARGETS + 1:
        raise ModuleFormatError(f"{path}: {len(lines) - 1} rows, more than the {MAX_TARGETS} "
                                "targets a module may have")
    return lines


def _number(path: Path, lineno: int, text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ModuleFormatError(f"{path}, line {lineno}: {what} {text!r} is not a number") \
            from None
    if not math.isfinite(v):
        raise ModuleFormatError(f"{path}, line {lineno}: {what} is not finite")
    return v


#: Plausible ranges of module numbers: outside them predictions overflow, vanish or flip
#: sign (published divisors are 1 or 1000; calibration factors lie around 0.05-20).
DIVISOR_RANGE = (1e-6, 1e9)
SD_RANGE = (1e-12, 1e12)
CALIBRATION_RANGE = (1e-6, 1e6)
MAX_ABS_MEAN = 1e12


def _in_range(path: Path, lineno: int, v: float, what: str, bounds: tuple) -> None:
    lo, hi = bounds
    if v <= 0:
        raise ModuleFormatError(f"{path}, line {lineno}: {what} must be > 0 (it would give "
                                "sign-flipped or infinite predictions)")
    if not lo <= v <= hi:
        raise ModuleFormatError(f"{path}, line {lineno}: {what} {v:g} is outside the "
                                f"plausible range {lo:g} to {hi:g} (it would give "
                                "non-finite or sign-flipped predictions)")


def _header(path: Path, lines, expected: list[str]) -> list[tuple[int, str]]:
    if not lines:
        raise ModuleFormatError(f"{path}: empty")
    lineno, head = lines[0]
    cols = [c.strip() for c in head.split(",")]
    if [c.lower() for c in cols] != [c.lower() for c in expected]:
        raise ModuleFormatError(f"{path}, line {lineno}: header {head!r}, expected "
                                f"{','.join(expected)!r}")
    return lines[1:]


def read_metadata(path: Path) -> list[tuple[str, str, str, float]]:
    """Rows of ``metadata.txt``: (name, field, unit, divisor)."""
    rows = []
    for lineno, line in _header(path, _lines(path), ["Name", "Field", "Unit", "Divisor"]):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            raise ModuleFormatError(f"{path}, line {lineno}: {len(parts)} fields, expected 4 "
                                    "(Name,Field,Unit,Divisor)")
        name, fld, unit, div = parts
        if not name:
            raise ModuleFormatError(f"{path}, line {lineno}: empty target name")
        d = _number(path, lineno, div, "divisor")
        _in_range(path, lineno, d, "divisor", DIVISOR_RANGE)
        rows.append((name, "" if fld in ("", "/") else fld, unit, d))
    dup = {n for n, k in Counter(r[0] for r in rows).items() if k > 1}
    if dup:
        shown = ", ".join(sorted(dup)[:5]) + (f" and {len(dup) - 5} more" if len(dup) > 5 else "")
        raise ModuleFormatError(f"{path}: target names repeated: {shown}")
    return rows


def read_standardization(path: Path) -> list[tuple[float, float]]:
    """Rows of ``standardization_parameters.txt``: (mean, sd)."""
    rows = []
    for lineno, line in _header(path, _lines(path), ["stand_mean", "stand_stdev"]):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            raise ModuleFormatError(f"{path}, line {lineno}: {len(parts)} fields, expected 2")
        m = _number(path, lineno, parts[0], "mean")
        s = _number(path, lineno, parts[1], "standard deviation")
        _in_range(path, lineno, s, "standard deviation", SD_RANGE)
        if abs(m) > MAX_ABS_MEAN:
            raise ModuleFormatError(f"{path}, line {lineno}: mean {m:g} is beyond "
                                    f"+-{MAX_ABS_MEAN:g}")
        rows.append((m, s))
    return rows


def read_calibration(path: Path) -> list[float]:
    """Rows of ``calibration_factors.txt``."""
    rows = []
    for lineno, line in _header(path, _lines(path), ["calibration_factor"]):
        c = _number(path, lineno, line.split(",")[0], "calibration factor")
        _in_range(path, lineno, c, "calibration factor", CALIBRATION_RANGE)
        rows.append(c)
    return rows


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    try:
        with regular_file(path, root=path.parent) as fh:
            while block := fh.read(chunk):
                h.update(block)
    except (UntrustedFile, OSError) as exc:
        raise ModuleFormatError(f"{path}: cannot be read for its checksum ({exc})") from None
    return h.hexdigest()


#: module.json fields MIMIR reads, with the types they must have.
_JSON_TYPES = {"format_version": int, "backbone": str, "input_format": str,
               "targets": list, "target_columns": list, "checksums": dict,
               "uncertainty_thresholds": dict, "provenance": dict, "weights_dtype": str,
               "members": list}
_KIND_NAMES = {int: "a whole number", str: "text", list: "a list", dict: "an object"}
MAX_MODULE_JSON_BYTES = 16 << 20


def read_module_json(jp: Path, targets: list[Target]) -> dict:
    """Read and check ``module.json`` (types, version, backbone, input format, targets,
    uncertainty thresholds).

    Raises
    ------
    ModuleFormatError
        Naming the field that is wrong.
    """
    try:
        info = load_json(read_file(jp, MAX_MODULE_JSON_BYTES), jp)
    except UntrustedFile as exc:
        raise ModuleFormatError(str(exc)) from None
    if not isinstance(info, dict):
        raise ModuleFormatError(f"{jp}: must hold a JSON object")
    for key, kind in _JSON_TYPES.items():
        v = info.get(key)
        if v is not None and (not isinstance(v, kind) or isinstance(v, bool)):
            raise ModuleFormatError(f"{jp}: {key!r} must be {_KIND_NAMES[kind]}, not "
                                    f"{type(v).__name__} {v!r:.40}")
    version = info.get("format_version", MODULE_FORMAT_VERSION)
    if version > READ_FORMAT_VERSION:
        raise ModuleFormatError(f"{jp}: format_version {version!r} is newer than this "
                                f"MIMIR understands ({READ_FORMAT_VERSION}); upgrade")

    backbone = info.get("backbone", "resnet50")
    if backbone not in backbones.names():
        raise ModuleFormatError(f"{jp}: backbone {backbone!r} not one of "
                                f"{', '.join(backbones.names())}")
    fmt = info.get("input_format", INPUT_FORMAT)
    if fmt != INPUT_FORMAT:
        raise ModuleFormatError(f"{jp}: input_format {fmt!r}; this MIMIR makes "
                                f"{INPUT_FORMAT!r} images")
    listed = info.get("targets")
    if listed is not None:
        names = [t if isinstance(t, str) else t.get("name") if isinstance(t, dict) else None
                 for t in listed]
        if names != [t.name for t in targets]:
            raise ModuleFormatError(f"{jp}: targets do not match {METADATA}")
    for key, v in (info.get("checksums") or {}).items():
        if not isinstance(v, str):
            raise ModuleFormatError(f"{jp}: checksum of {key!r} must be text")
    for key, v in (info.get("uncertainty_thresholds") or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v <= 0:
            raise ModuleFormatError(f"{jp}: uncertainty threshold of {key!r} must be a "
                                    f"positive number, not {v!r}")
    return info


def load_module(path: str | os.PathLike) -> Module:
    """Read and validate a module folder (the snapshot itself is loaded later).

    Raises
    ------
    ModuleFormatError
        Naming the file (and line) that is wrong.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModuleFormatError(f"{path}: not a module folder")
    meta = read_metadata(path / METADATA)
    stand = read_standardization(path / STANDARDIZATION)
    calib = read_calibration(path / CALIBRATION)
    T = len(meta)
    if T == 0:
        raise ModuleFormatError(f"{path / METADATA}: no targets")
    for p, rows in ((path / STANDARDIZATION, stand), (path / CALIBRATION, calib)):
        if len(rows) != T:
            raise ModuleFormatError(f"{p}: {len(rows)} targets, but {METADATA} lists {T}")
    if not os.path.lexists(path / SNAPSHOT):
        raise ModuleFormatError(f"{path / SNAPSHOT}: missing")
    targets = [Target(name=n, field=f, unit=u, divisor=d, mean=m, sd=s, calibration=c)
               for (n, f, u, d), (m, s), c in zip(meta, stand, calib, strict=True)]
    module = Module(path=path, name=path.name, targets=targets)
    jp = path / MODULE_JSON
    if os.path.lexists(jp):
        info = read_module_json(jp, targets)
        sums = info.get("checksums") or {}
        want = sums.get(SNAPSHOT)
        if want is not None and module.snapshot_sha256() != want:
            raise ModuleFormatError(f"{path / SNAPSHOT}: SHA-256 does not match {MODULE_JSON} "
                                    "(corrupted or replaced)")
        module.members = read_members(path, info)
        if module.members:
            check_member_sums(path, module.members,
                              lambda p: module.snapshot_sha256() if p == module.snapshot_path
                              else file_sha256(p))
        module.backbone = info.get("backbone", "resnet50")
        module.input_format = info.get("input_format", INPUT_FORMAT)
        module.info = info
    return module
