"""Thumbnails of cached 2D images, and the station outlines drawn over them.

A thumbnail is the subject's three channels (water | fat | fat fraction) side by side,
each reduced to ``size`` x ``size`` pixels, stored once per subject as a base64 PNG in
the page's style sheet (a CSS class), so a subject shown in several places costs its
bytes once. Outlines are small inline SVGs laid over the image.

Geometry. Every channel of the 2D image spans the fused volume's z axis from the head
(row 0) to the feet (last row), resized to 256 rows, so slice ``k`` counted from the
head end lies at ``k / Z`` of the height (``Z`` = the fused volume's slice count, the
sidecar's ``shape[2]``). The sidecar's ``station_slices`` give each station's first
and last slice on that axis, which places station boundaries and overlaps on the
thumbnail. Images cached without ``station_slices`` get no outlines.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from mimir.qc.flags import SMALL_OVERLAP, swapped_stations

#: Flags that concern stations: their thumbnails get station outlines.
STATION_FLAGS = ("missing_stations", "fat_water_swap", "leg_swap", "station_gap",
                 "small_overlap", "superimposed_station", "water_fat_crop",
                 "knee_not_covered")
#: Lowest slices the knee-coverage rule looks at (:mod:`mimir.qc.measures`).
KNEE_SLICES = 5


def thumbnail(image: np.ndarray, size: int = 128, step: int = 4) -> np.ndarray:
    """The three channels side by side, each reduced to ``size`` x ``size`` (uint8).

    Parameters
    ----------
    image : ndarray, uint8, (3, 256, 256)
    size : int
        Side of each channel in the thumbnail (a divisor of 256 reduces by block mean).
    step : int
        Grey levels are rounded to multiples of ``step`` (4: 64 levels, invisible at
        this size, and a third smaller as PNG).

    Returns
    -------
    ndarray, uint8, (size, 3 * size)
    """
    c, h, w = image.shape
    if h % size == 0 and w % size == 0:
        f = h // size
        small = image.reshape(c, size, f, size, f).mean(axis=(2, 4))
    else:
        import cv2  # lazy: OpenCV loads only where it is used

        small = np.stack([cv2.resize(ch, (size, size), interpolation=cv2.INTER_AREA)
                          for ch in image])
    small = np.clip(np.rint(small / step) * step, 0, 255) if step > 1 else np.rint(small)
    return np.concatenate(list(small.astype(np.uint8)), axis=1)


def png_bytes(gray: np.ndarray) -> bytes:
    """Encode a 2D uint8 array as a greyscale PNG."""
    import cv2  # lazy: OpenCV loads only where it is used

    # level 6 with the filtered strategy: as small as level 9 here, seven times faster
    ok, buf = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 6,
                                          cv2.IMWRITE_PNG_STRATEGY,
                                          cv2.IMWRITE_PNG_STRATEGY_FILTERED])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """A ``data:`` URI holding ``data`` (base64)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


class Thumbs:
    """Thumbnails of one cache, each encoded once and named by a CSS class.

    Parameters
    ----------
    cache : Cache or None
        The image cache (None: every subject is shown as "no image").
    size : int
        Side of one channel in pixels.
    budget : int
        Most distinct images embedded; later requests get no image.
    """

    def __init__(self, cache, size: int = 128, budget: int = 240):
        self.cache = cache
        self.size = size
        self.budget = budget
        self._class: dict[str, str | None] = {}
        self._rules: list[str] = []
        self._facts: dict[str, dict] = {}
        self.bytes = 0

    def has(self, name: str) -> bool:
        """Whether the subject's image is in the cache."""
        return self.cache is not None and self.cache.has(name)

    @property
    def used(self) -> int:
        """Distinct images embedded so far."""
        return len(self._rules)

    @property
    def full(self) -> bool:
        return self.used >= self.budget

    def image_class(self, name: str) -> str | None:
        """CSS class showing the subject's thumbnail (None: not cached or unreadable)."""
        if name in self._class:
            return self._class[name]
        cls = None
        if self.has(name) and not self.full:
            try:
                img = self.cache.read_image(name)
            except (OSError, ValueError):
                img = None
            if img is not None:
                cls = f"i{len(self._rules)}"
                uri = data_uri(png_bytes(thumbnail(img, self.size)))
                self.bytes += len(uri)
                self._rules.append(f".{cls}{{background-image:url({uri})}}")
        self._class[name] = cls
        return cls

    def facts(self, name: str) -> dict:
        """The QC facts of the subject's cache sidecar ({} when there are none)."""
        if name not in self._facts:
            try:
                self._facts[name] = self.cache.read_entry(name).facts if self.has(name) else {}
            except (OSError, ValueError):
                self._facts[name] = {}
        return self._facts[name]

    def css(self) -> str:
        """Style rules of every thumbnail handed out."""
        return "\n".join(self._rules)

    def figure(self, name: str, caption: str, flag: str | None = None,
               scale: float = 1.0) -> str:
        """HTML of one thumbnail with its caption (and outlines for station flags),
        shown at ``scale`` times its size."""
        cls = self.image_class(name)
        w, h = round(3 * self.size * scale), round(self.size * scale)
        if cls is None:
            why = "thumbnail limit reached" if self.has(name) else "image not in cache"
            body = f"<div class='im none' style='width:{w}px;height:{h}px'>{why}</div>"
        else:
            svg = ""
            if flag is not None:
                svg = station_svg(self.facts(name), flag, self.size, scale)
            body = (f"<div class='im {cls}' style='width:{w}px;height:{h}px' role='img' "
                    f"title='click to enlarge' aria-label='{html.escape(name, quote=True)}'>"
                    f"{svg}</div>")
        return (f"<figure class='th' style='width:{w}px'>{body}<figcaption>{caption}"
                "</figcaption></figure>")


def _y(k: float, z: int, h: int) -> float:
    return round(min(max(k, 0), z) / z * h, 1)


def station_svg(facts: dict, flag: str, size: int = 128, scale: float = 1.0) -> str:
    """Inline SVG drawing the stations over a thumbnail (empty when not applicable).

    Drawn: each overlap between neighbouring stations as a band between the next
    station's first slice and the previous station's last slice (lines at both ends),
    station numbers (1 = neck) at the left edge; and what the flag concerns, drawn
    heavier: the swapped station(s) (``fat_water_swap``) as a dashed frame, the overlap
    of a one-sided swap (``leg_swap``), overlaps under 5 slices or gaps
    (``small_overlap``, ``station_gap``), and the lowest 5 slices (``knee_not_covered``).

    Parameters
    ----------
    facts : dict
        The cache sidecar's facts (``station_slices``, ``shape``, ``overlaps``,
        ``swap_scores``).
    flag : str
        The flag the thumbnail illustrates.
    size : int
        Thumbnail channel side in pixels (the drawing's coordinates).
    scale : float
        Display scale of the thumbnail.
    """
    if flag not in STATION_FLAGS:
        return ""
    slices = facts.get("station_slices")
    shape = facts.get("shape")
    if not slices or not shape or len(shape) < 3 or not shape[2]:
        return ""
    z, h, w = int(shape[2]), size, 3 * size
    parts = []
    raw = facts.get("overlaps") or []
    flagged_bounds = set()
    if flag in ("small_overlap", "station_gap"):
        flagged_bounds = {i for i, o in enumerate(raw) if o < SMALL_OVERLAP}
    if flag == "leg_swap":
        for i, s in enumerate(facts.get("swap_scores") or []):
            a, b = s.get("corr_left"), s.get("corr_right")
            if a is not None and b is not None and a == a and b == b and (a < 0) != (b < 0):
                flagged_bounds.add(i)
    if flag == "fat_water_swap":
        for st in swapped_stations(facts.get("swap_scores") or []):
            if 1 <= st <= len(slices):
                a, b = slices[st - 1]
                y0, y1 = _y(a, z, h), _y(b, z, h)
                parts.append(f"<rect class='hl' x='1' y='{y0}' width='{w - 2}' "
                             f"height='{max(y1 - y0, 1)}'/>")
    for i in range(len(slices) - 1):
        y_top = _y(slices[i + 1][0], z, h)   # next station's first slice
        y_bot = _y(slices[i][1], z, h)       # previous station's last slice
        lo, hi = min(y_top, y_bot), max(y_top, y_bot)
        cls = "bd bad" if i in flagged_bounds else "bd"
        kind = "gap" if y_bot < y_top else "ov"
        parts.append(f"<rect class='{kind}{' bad' if i in flagged_bounds else ''}' x='0' "
                     f"y='{lo}' width='{w}' height='{max(hi - lo, 0.6)}'/>")
        for y in (y_top, y_bot):
            parts.append(f"<line class='{cls}' x1='0' x2='{w}' y1='{y}' y2='{y}'/>")
    if flag == "knee_not_covered":
        y0 = _y(z - KNEE_SLICES, z, h)
        parts.append(f"<rect class='hl' x='1' y='{y0}' width='{w - 2}' "
                     f"height='{max(h - y0 - 1, 1)}'/>")
    for i, (a, b) in enumerate(slices):
        y = (_y(a, z, h) + _y(b, z, h)) / 2
        parts.append(f"<text class='sn' x='3' y='{y + 3:.1f}'>{i + 1}</text>")
    return (f"<svg class='ovl' viewBox='0 0 {w} {h}' width='{round(w * scale)}' "
            f"height='{round(h * scale)}' "
            f"aria-hidden='true'>{''.join(parts)}</svg>")
