"""Reading and writing the image cache.

Layout of a cache folder::

    <name>.npy      the 2D image, uint8, shape (3, 256, 256)
    <name>.json     sidecar: format, engine version, source path, warnings, facts
    failures.csv    subjects that could not be preprocessed (merged across runs)
    warnings.csv    warnings of cached subjects (merged across runs)

The sidecar is written before the image and both atomically, so a subject counts as
cached exactly when its ``.npy`` exists. Loading an image checks its dtype and shape
(``allow_pickle`` is never used: a cache folder may come from someone else).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir._version import __version__
from mimir.output.atomic import write_bytes, write_text

IMAGE_FORMAT = "mimir-2d-v1"
IMAGE_SHAPE = (3, 256, 256)


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

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, default=_jsonable)


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
        """Write a subject's sidecar, then its image (both atomically)."""
        if image.dtype != np.uint8 or image.shape != IMAGE_SHAPE:
            raise ValueError(f"image must be uint8 {IMAGE_SHAPE}, got {image.dtype} "
                             f"{image.shape}")
        self.root.mkdir(parents=True, exist_ok=True)
        write_text(self.meta_path(entry.name), entry.to_json())
        buf = io.BytesIO()
        np.save(buf, image, allow_pickle=False)
        write_bytes(self.image_path(entry.name), buf.getvalue())
        return self.image_path(entry.name)

    def read_image(self, name: str) -> np.ndarray:
        """Load a cached image (no pickles; dtype and shape checked)."""
        return load_image(self.image_path(name))

    def read_entry(self, name: str) -> CacheEntry:
        """Load a subject's sidecar (an empty entry when it has none)."""
        p = self.meta_path(name)
        if not p.is_file():
            return CacheEntry(name=name)
        d = json.loads(p.read_text(encoding="utf-8"))
        known = {k: d[k] for k in CacheEntry.__dataclass_fields__ if k in d}
        known["name"] = name
        return CacheEntry(**known)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load a 2D image file, refusing anything but uint8 (3, 256, 256)."""
    arr = np.load(path, allow_pickle=False)
    if arr.dtype != np.uint8 or arr.shape != IMAGE_SHAPE:
        raise ValueError(f"{path}: expected a uint8 image of shape {IMAGE_SHAPE}, got "
                         f"{arr.dtype} {arr.shape}")
    return arr
