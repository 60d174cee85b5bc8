"""Pictures of 2D images for people to look at (PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mimir.atomic import atomic_path
from mimir.cache.store import load_image
from mimir.projection.image2d import CHANNELS


def channels_figure(image: np.ndarray, title: str | None = None):
    """A matplotlib figure of the three channels side by side, labelled.

    The layout is constrained, so a title sits above the channel labels instead of on
    top of them.

    Parameters
    ----------
    image : ndarray, uint8, (3, 256, 256)
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas.
    """
    from matplotlib.backends.backend_agg import (
        FigureCanvasAgg,  # lazy: matplotlib loads only where it is used
    )
    from matplotlib.figure import Figure  # lazy: matplotlib loads only where it is used

    fig = Figure(figsize=(12, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, channel, label in zip(axes, image, CHANNELS, strict=True):
        ax.imshow(channel, cmap="gray", vmin=0, vmax=255)
        ax.set_title(label)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def save_channels_png(image_or_path, output: str | os.PathLike, title: str | None = None,
                      dpi: int = 100) -> Path:
    """The three channels of a 2D image side by side, labelled, as a PNG (atomic).

    Parameters
    ----------
    image_or_path : ndarray or path-like
        A uint8 (3, 256, 256) image or a ``.npy`` file holding one.
    output : path-like
        PNG to write.
    title : str, optional
        Figure title (default: the file name).
    dpi : int
        Resolution (the figure is 12 x 4.6 inches).
    """
    if isinstance(image_or_path, np.ndarray):
        img = image_or_path
        name = title or ""
    else:
        img = load_image(image_or_path)
        name = title or Path(image_or_path).stem
    fig = channels_figure(img, name)
    output = Path(output)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return output
