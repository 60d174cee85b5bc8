"""PNG overlays of saliency maps on the 2D image (OpenCV: no plotting library needed).

The background is the image's water channel (grey; coronal left, sagittal right, head
at the top), the map a heat colour (OpenCV's ``COLORMAP_INFERNO``, scaled to the map's
99.5th percentile) blended in where it is above 5 % of that, the opacity rising with
the value. Panels are
placed side by side with a title bar above each.
"""

from __future__ import annotations

import numpy as np

from mimir.atomic import atomic_path

#: Part of the map's range (its 99.5th percentile) below which the background shows.
FLOOR = 0.05
#: Opacity of the map at its top value.
ALPHA = 0.85
#: Height of each panel's title bar (pixels).
TITLE = 18


def heat_overlay(background: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """A BGR uint8 picture (H, W, 3): ``heat`` (H, W, >= 0) over a grey ``background``
    (H, W, uint8)."""
    import cv2  # lazy: OpenCV loads only where it is used

    h = np.asarray(heat, dtype=np.float64)
    top = float(np.percentile(h, 99.5)) if h.size else 0.0
    level = np.clip(h / top, 0, 1) if top > 0 else np.zeros_like(h)
    colour = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    alpha = (np.clip((level - FLOOR) / (1 - FLOOR), 0, 1) * ALPHA)[..., None]
    return (plain(background) * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def plain(background: np.ndarray) -> np.ndarray:
    """A grey picture (H, W, uint8) as BGR."""
    import cv2  # lazy: OpenCV loads only where it is used

    return cv2.cvtColor(np.asarray(background, dtype=np.uint8), cv2.COLOR_GRAY2BGR)


def panels(pictures: list[np.ndarray], titles: list[str], scale: int = 1) -> np.ndarray:
    """Pictures (H, W, 3) side by side, each enlarged ``scale`` times, with titles."""
    import cv2  # lazy: OpenCV loads only where it is used

    out = []
    for pic, title in zip(pictures, titles, strict=True):
        big = cv2.resize(pic, (pic.shape[1] * scale, pic.shape[0] * scale),
                         interpolation=cv2.INTER_NEAREST)
        bar = np.full((TITLE, big.shape[1], 3), 255, dtype=np.uint8)
        cv2.putText(bar, title[:70], (4, TITLE - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        out.append(np.vstack([bar, big]))
        out.append(np.full((out[-1].shape[0], 4, 3), 255, dtype=np.uint8))
    return np.hstack(out[:-1])


def grey(image: np.ndarray) -> np.ndarray:
    """The water channel of a (3, H, W) image (uint8, or a float mean image)."""
    return np.clip(np.asarray(image[0], dtype=np.float64), 0, 255).round().astype(np.uint8)


def write_png(path, picture: np.ndarray) -> None:
    """Write a BGR picture as PNG, atomically."""
    import cv2  # lazy: OpenCV loads only where it is used

    ok, buf = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
