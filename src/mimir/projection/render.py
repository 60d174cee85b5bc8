"""Pictures of 2D images for people to look at (PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mimir.projection.image2d import CHANNELS


def save_channels_png(image_or_path, output: str | os.PathLike, title: str | None = None) -> Path:
    """The three channels of a 2D image side by side, labelled, as a PNG (atomic).

    Parameters
    ----------
    image_or_path : ndarray or path-like
        A uint8 (3, 256, 256) image or a ``.npy`` file holding one.
    output : path-like
        PNG to write.
    title : str, optional
        Figure title (default: the file name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mimir.cache.store import load_image
    from mimir.output.atomic import atomic_path

    if isinstance(image_or_path, np.ndarray):
        img = image_or_path
        name = title or ""
    else:
        img = load_image(image_or_path)
        name = title or Path(image_or_path).stem
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, channel, label in zip(axes, img, CHANNELS, strict=True):
        ax.imshow(channel, cmap="gray", vmin=0, vmax=255)
        ax.set_title(label)
        ax.axis("off")
    if name:
        fig.suptitle(name)
    fig.tight_layout()
    output = Path(output)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return output
