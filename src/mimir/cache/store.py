"""Reading and writing the image cache.

Layout of a cache folder::

    <name>.npy      the 2D image, uint8, shape (3, 256, 256)
    <name>.json     sidecar: format, engine version, the subject's name, the source zip
                    (path, size, modification time), the image's SHA-256, warnings
                    (``warning_codes``: their codes, see :mod:`mimir.notes`), facts

The cache holds images and sidecars only. The tables of a run (``failures.csv``,
``warnings.csv``, ``qc.csv``) go to that run's own folder (``mimir preprocess --out``
or ``mimir infer -o``), so one cache can be shared by many runs and users.

The sidecar is written before the image and both atomically, so a subject counts as
cached exactly when its ``.npy`` exists. A cache folder may come from someone else, or
be damaged: images are loaded without pickles, their header (dtype and shape) is checked
before any memory is allocated, their content must match the SHA-256 in the sidecar,
and sidecars must have the right types. Every file of an entry is opened as a regular
file only (:mod:`mimir.safeio`: no symbolic links, FIFOs or devices, a size limit
before reading) and sidecar JSON has its nesting depth checked before it is parsed and
the types of its QC facts after. A problem is a :class:`CacheError`; the
preprocessing drivers rebuild such an entry from its zip (with a warning), or fail the
subject as ``cache corrupt`` when there is no zip. An entry whose zip changed since
(size or modification time) is rebuilt too. ``mimir cache verify`` checks a whole cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from mimir._version import __version__
from mimir.atomic import write_bytes, write_text
from mimir.errors import MimirError
from mimir.notes import as_notes, code_of
from mimir.safeio import UntrustedFile, load_json, read_regular

IMAGE_FORMAT = "mimir-2d-v1"
IMAGE_SHAPE = (3, 256, 256)
#: Largest sidecar read (a real one is a few kB).
MAX_SIDECAR_BYTES = 1 << 20
#: Largest image file read (a real one is 196,736 bytes).
MAX_IMAGE_BYTES = 1 << 20


class CacheError(MimirError, ValueError):
    """A cache entry that cannot be trusted (corrupt, replaced, wrong types or shape).

    Also a ValueError, as bad images were before this class existed."""


@dataclass
class CacheEntry:
    """Metadata of a cached subject (the sidecar)."""

    name: str
    source: str = ""
    warnings: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    qc: dict = field(default_factory=dict)
    engine: str = __version__
    format: str = IMAGE_FORMAT
    image_sha256: str | None = None
    source_size: int | None = None
    source_mtime_ns: int | None = None

    def to_json(self) -> str:
        d = dict(self.__dict__, warning_codes=[code_of(w) for w in self.warnings])
        return json.dumps(d, indent=1, default=_jsonable)


#: Sidecar keys and the types they must have (None allowed where the default is None).
_TYPES: dict[str, type | tuple[type, ...]] = {"name": str, "source": str, "warnings": list, "facts": dict, "qc": dict,
          "engine": str, "format": str, "image_sha256": (str, type(None)),
          "source_size": (int, type(None)), "source_mtime_ns": (int, type(None))}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _whole_list(v) -> bool:
    return isinstance(v, list) and all(_whole(x) for x in v)


def _optional(check):
    return lambda v: v is None or check(v)


#: The QC facts MIMIR reads (:class:`mimir.qc.facts.SubjectFacts`, and the report's
#: ``station_slices``) and what each must be. Float facts may be NaN (a measure that
#: could not be taken); counts and indices must be whole numbers.
FACT_CHECKS = {
    "source": _optional(lambda v: isinstance(v, str)),
    "water_stations": _optional(_whole),
    "superimposed": _optional(_whole),
    "cropped": _optional(_whole),
    "overlaps": _whole_list,
    "shape": _whole_list,
    "planes": _whole_list,
    "threshold": _optional(_number),
    "bottom_ratio": _optional(_number),
    "lateral_edge": _optional(_number),
    "anterior_edge": _optional(_number),
    "swap_scores": lambda v: isinstance(v, list) and all(
        isinstance(s, dict) and all(x is None or _number(x) for x in s.values()) for s in v),
    "station_slices": lambda v: isinstance(v, list) and all(_whole_list(s) for s in v),
}


def _check_facts(facts: dict, where: Path) -> None:
    for key, ok in FACT_CHECKS.items():
        if key in facts and not ok(facts[key]):
            raise CacheError(f"{where}: sidecar fact {key!r} has the wrong type or values "
                             f"({str(facts[key])[:60]})")


def _entry_from(d, name: str, where: Path) -> CacheEntry:
    if not isinstance(d, dict):
        raise CacheError(f"{where}: the sidecar is not a JSON object")
    for key, kind in _TYPES.items():
        if key in d and (not isinstance(d[key], kind) or isinstance(d[key], bool)):
            raise CacheError(f"{where}: sidecar field {key!r} has the wrong type "
                             f"({type(d[key]).__name__})")
    _check_facts(d.get("facts") or {}, where)
    if not all(isinstance(w, str) for w in d.get("warnings", [])):
        raise CacheError(f"{where}: sidecar warnings must be text")
    codes = d.get("warning_codes")
    if codes is not None and not (isinstance(codes, list) and all(isinstance(c, str) for c in codes)):
        raise CacheError(f"{where}: sidecar warning_codes must be a list of text")
    if d.get("name", name) != name:
        raise CacheError(f"{where}: the sidecar belongs to subject {d['name']!r}")
    if d.get("format", IMAGE_FORMAT) != IMAGE_FORMAT:
        raise CacheError(f"{where}: image format {d['format']!r}, expected {IMAGE_FORMAT!r}")
    known = {k: d[k] for k in CacheEntry.__dataclass_fields__ if k in d}
    known["name"] = name
    known["warnings"] = as_notes(d.get("warnings", []), codes)  # codes: see mimir.notes
    return CacheEntry(**known)


def source_stamp(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """(size, modification time in ns) of a source zip, or (None, None)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None, None
    return st.st_size, st.st_mtime_ns


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v)}")


class Cache:
    """A folder of cached 2D images.

    Parameters
    ----------
    root : path-like
        The folder (created on first write).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def image_path(self, name: str) -> Path:
        return self.root / f"{name}.npy"

    def meta_path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def has(self, name: str) -> bool:
        """Whether the subject's image is cached."""
        return self.image_path(name).is_file()

    def names(self) -> list[str]:
        """Names of all cached subjects, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.npy") if not p.name.startswith("."))

    def write(self, image: np.ndarray, entry: CacheEntry) -> Path:
        """Write a subject's sidecar (with the image's SHA-256 and the source zip's size
        and time), then its image (both atomically)."""
        if image.dtype != np.uint8 or image.shape != IMAGE_SHAPE:
            raise ValueError(f"image must be uint8 {IMAGE_SHAPE}, got {image.dtype} "
                             f"{image.shape}")
        self.root.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, image, allow_pickle=False)
        data = buf.getvalue()
        entry.image_sha256 = hashlib.sha256(data).hexdigest()
        if entry.source and entry.source_size is None:
            entry.source_size, entry.source_mtime_ns = source_stamp(entry.source)
        write_text(self.meta_path(entry.name), entry.to_json())
        write_bytes(self.image_path(entry.name), data)
        return self.image_path(entry.name)

    def read_image(self, name: str) -> np.ndarray:
        """Load a cached image: no pickles, header checked before allocation, content
        checked against the sidecar's SHA-256.

        Raises
        ------
        CacheError
            When the image or its sidecar cannot be trusted.
        """
        entry = self.read_entry(name)
        return load_image(self.image_path(name), entry.image_sha256)

    def read_entry(self, name: str) -> CacheEntry:
        """Load a subject's sidecar (an empty entry when it has none).

        Raises
        ------
        CacheError
            When the sidecar is unreadable, too large, or has wrong types.
        """
        p = self.meta_path(name)
        try:
            d = load_json(read_regular(p, MAX_SIDECAR_BYTES), p)
        except FileNotFoundError:
            return CacheEntry(name=name)
        except UntrustedFile as exc:
            raise CacheError(f"unusable sidecar: {exc}") from None
        except OSError as exc:
            raise CacheError(f"{p}: unreadable sidecar ({exc.strerror or exc})") from None
        return _entry_from(d, name, p)

    def problem(self, name: str, source: str | os.PathLike | None = None) -> str | None:
        """Why the cached entry of ``name`` cannot be used (None when it can).

        Checks the sidecar, the image (header, content hash) and, when the sidecar
        records them and ``source`` is given, that the zip's size and modification time
        are unchanged.
        """
        try:
            entry = self.read_entry(name)
            load_image(self.image_path(name), entry.image_sha256)
        except CacheError as exc:
            return str(exc)
        if source is not None and entry.source_size is not None:
            size, mtime = source_stamp(source)
            if size is not None and (size, mtime) != (entry.source_size,
                                                      entry.source_mtime_ns):
                return f"{source} changed since it was cached"
        return None


def _read_header(fh, path) -> tuple[tuple, np.dtype]:
    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(fh)
        else:
            raise ValueError(f"npy format version {version}")
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise CacheError(f"{path}: not a readable .npy image ({exc})") from None
    return shape, dtype


def load_image(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Load a 2D image file, refusing anything but uint8 (3, 256, 256).

    The header is checked before any memory is allocated; with ``sha256`` the file's
    content must match it.

    Raises
    ------
    CacheError
        For a missing, unreadable, wrong-shaped or altered file.
    """
    path = Path(path)
    try:
        data = read_regular(path, MAX_IMAGE_BYTES)
    except UntrustedFile as exc:
        raise CacheError(f"unusable image: {exc}") from None
    except OSError as exc:
        raise CacheError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    fh = io.BytesIO(data)
    shape, dtype = _read_header(fh, path)
    if dtype != np.uint8 or tuple(shape) != IMAGE_SHAPE:
        raise CacheError(f"{path}: expected a uint8 image of shape {IMAGE_SHAPE}, got "
                         f"{dtype} {shape}")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CacheError(f"{path}: content does not match its record (changed or replaced "
                         "since it was written)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CacheError(f"{path}: truncated or damaged image ({exc})") from None
    return arr


def verify(root: str | os.PathLike, check_sources: bool = True) -> dict:
    """Check every entry of a cache folder.

    Parameters
    ----------
    root : path-like
        The cache folder.
    check_sources : bool
        Also compare each entry's source zip (the path its sidecar records, where it
        still exists) with the size and time recorded.

    Returns
    -------
    dict
        ``entries`` (count), ``ok`` (count), ``problems`` (list of (name, problem)),
        ``orphans`` (sidecars without an image).
    """
    cache = Cache(root)
    names = cache.names()
    problems = []
    for n in names:
        source = None
        if check_sources:
            try:
                source = cache.read_entry(n).source or None
            except CacheError:
                source = None
        why = cache.problem(n, source if source and os.path.exists(source) else None)
        if why is not None:
            problems.append((n, why))
    orphans = sorted(p.stem for p in cache.root.glob("*.json")
                     if not p.name.startswith(".") and not cache.image_path(p.stem).exists())
    return {"entries": len(names), "ok": len(names) - len(problems), "problems": problems,
            "orphans": orphans}
