"""Images and labels for training: target tables joined with the image cache.

A target table is a CSV with a ``name`` column (the subject name as in the cache) and
one column per target (NaN where a subject lacks that value); see
:mod:`mimir.training.targets`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mimir.cache.store import Cache
from mimir.errors import UsageError

MAX_SHIFT = 16


#: How to make a target table, named in every error about one.
MAKE_TARGETS = ("make one from a UK Biobank showcase export with `mimir targets EXPORT "
                "-f FIELD:NAME:UNIT --cache CACHE -o targets.csv`")


def read_target_table(path: str | os.PathLike) -> pd.DataFrame:
    """A target table: ``name`` plus numeric target columns.

    Raises
    ------
    UsageError
        When the file is missing or unreadable, or has no ``name`` column: naming the
        columns found, the ones expected, and ``mimir targets``.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--targets {p}: no such file; {MAKE_TARGETS}")
    try:
        first = p.open(encoding="utf-8-sig", errors="replace").readline()
        sep = "\t" if "\t" in first and "," not in first else ","
        df = pd.read_csv(p, dtype={"name": str}, sep=sep, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise UsageError(f"--targets {p} is not a readable CSV table ({exc}); "
                         f"{MAKE_TARGETS}") from None
    if "name" not in df.columns:
        found = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
        raise UsageError(f"--targets {p} has no 'name' column (found: {found or 'none'}); "
                         "expected: name (the subject, <eid>_20201_<instance>_0), then one "
                         f"numeric column per target; {MAKE_TARGETS}")
    return df


@dataclass
class Dataset:
    """Subjects with an image and at least one label, images held in memory (uint8)."""

    names: list
    images: np.ndarray  # (N, 3, 256, 256) uint8
    labels: np.ndarray  # (N, T) float64, NaN missing
    targets: list

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names) -> Dataset:
        idx = [self.names.index(n) for n in names]
        return Dataset([self.names[i] for i in idx], self.images[idx], self.labels[idx],
                       self.targets)


def load_dataset(cache: str | os.PathLike, table: pd.DataFrame, targets: list[str],
                 names: list[str] | None = None) -> Dataset:
    """Join a target table with cached images.

    Subjects without an image, or without any of the targets, are left out.
    """
    c = Cache(cache)
    missing = [t for t in targets if t not in table.columns]
    if missing:
        raise UsageError(f"target table lacks columns {missing}")
    df = table.set_index("name")
    use = names if names is not None else list(df.index)
    keep = []
    for n in use:
        if n not in df.index or not c.has(n):
            continue
        if df.loc[n, targets].isna().all():
            continue
        keep.append(n)
    if not keep:
        raise UsageError("no subject has both an image in the cache and a target value")
    images = np.stack([c.read_image(n) for n in keep])
    labels = df.loc[keep, targets].to_numpy(dtype=np.float64)
    return Dataset(keep, images, labels, list(targets))


def translate(batch: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each image by integer (dy, dx), filling with the nearest border pixel.

    Parameters
    ----------
    batch : ndarray, (N, C, H, W)
    shifts : ndarray of int, (N, 2)
    """
    N, C, H, W = batch.shape
    out = np.empty_like(batch)
    for i, (dy, dx) in enumerate(shifts):
        rows = np.clip(np.arange(H) - dy, 0, H - 1)
        cols = np.clip(np.arange(W) - dx, 0, W - 1)
        out[i] = batch[i][:, rows][:, :, cols]
    return out


def random_shifts(rng: np.random.Generator, n: int, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Integer translations up to ``max_shift`` pixels in each image axis."""
    return rng.integers(-max_shift, max_shift + 1, size=(n, 2))


def translate_torch(batch, shifts):
    """:func:`translate` for torch tensors on any device (the same pixels, bit for bit).

    Parameters
    ----------
    batch : Tensor, (N, C, H, W)
    shifts : Tensor of int64, (N, 2)
    """
    import torch  # lazy: torch loads only where it is used

    N, C, H, W = batch.shape
    dev = batch.device
    rows = (torch.arange(H, device=dev)[None, :] - shifts[:, :1]).clamp_(0, H - 1)
    cols = (torch.arange(W, device=dev)[None, :] - shifts[:, 1:]).clamp_(0, W - 1)
    out = batch.gather(2, rows[:, None, :, None].expand(N, C, H, W))
    return out.gather(3, cols[:, None, None, :].expand(N, C, H, W))


#: Share of the free GPU memory the training images may take to be held on the GPU.
GPU_IMAGE_SHARE = 0.5


class BatchSource:
    """Training batches: the images and standardised labels, sampled and translated.

    On a CUDA device whose free memory holds the images (at most
    :data:`GPU_IMAGE_SHARE` of it), they are copied there once as uint8 and batches are
    gathered and translated on the GPU: no image crosses the bus per iteration. Otherwise
    batches are made on the CPU (:func:`translate`) and copied. Both give the same pixels.

    Parameters
    ----------
    images : ndarray, (N, C, H, W) uint8
    labels : ndarray, (N, T) float (standardised, NaN missing)
    device : str or torch.device
    hold : bool, optional
        Hold the images on ``device`` (default: on a CUDA device when they fit).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, device,
                 hold: bool | None = None):
        import torch  # lazy: torch loads only where it is used

        self.device = torch.device(device)
        self.images: Any = images  # an ndarray, or a tensor when held on the device
        self.labels: Any = labels
        if hold is None:
            hold = False
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                hold = images.nbytes <= GPU_IMAGE_SHARE * free
        self.on_device = hold
        if hold:
            self.images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
            self.labels = torch.from_numpy(labels).to(self.device, torch.float32)

    def batch(self, idx: np.ndarray, shifts: np.ndarray | None):
        """(x, y): float32 channels-last images and labels of subjects ``idx``, each
        translated by ``shifts`` (None: not translated)."""
        import torch  # lazy: torch loads only where it is used

        if self.on_device:
            i = torch.from_numpy(idx).to(self.device, non_blocking=True)
            imgs = self.images.index_select(0, i)
            if shifts is not None:
                imgs = translate_torch(imgs, torch.from_numpy(shifts).to(
                    self.device, torch.int64, non_blocking=True))
            y = self.labels.index_select(0, i)
        else:
            imgs = self.images[idx]
            if shifts is not None:
                imgs = translate(imgs, shifts)
            imgs = torch.from_numpy(imgs).to(self.device)
            y = torch.from_numpy(self.labels[idx]).to(self.device).float()
        x = imgs.float().contiguous(memory_format=torch.channels_last)
        return x, y
