"""The MIMIR 2D image: three uint8 channels of 256 x 256 (preprocessing.md section 8).

Channel 0: water, channel 1: fat (coronal | sagittal projections, each min-max
normalised); channel 2: fat fraction on one coronal and one sagittal plane chosen from
the body mask (0-50 % fat mapped to 0-255).
"""

from __future__ import annotations

import cv2
import numpy as np

from mimir.projection.fractions import fat_fraction

#: Posterior y indices dropped to remove the patient table.
TABLE_ROWS = 22
#: Output image side.
IMAGE_SIZE = 256
#: Channel names in order.
CHANNELS = ("water", "fat", "fat fraction")


def crop_table(volume: np.ndarray, rows: int = TABLE_ROWS) -> np.ndarray:
    """Drop the last ``rows`` indices of the y axis (posterior side, the table)."""
    return volume[:, :volume.shape[1] - rows, :]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    img = np.rot90(img)
    lo, hi = np.min(img), np.max(img)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = (img - lo) / (hi - lo)
    return (norm * 255).astype(np.uint8)


def _resize(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE))


def projection_channel(volume: np.ndarray) -> np.ndarray:
    """Coronal (sum over y) | sagittal (sum over x) projection, normalised, 256 x 256.

    Raises
    ------
    FloatingPointError
        When a projection is constant or not finite (no usable image).
    """
    cor = np.sum(volume, axis=1)
    sag = np.sum(volume, axis=0)
    for p in (cor, sag):
        if not np.all(np.isfinite(p)) or np.max(p) == np.min(p):
            raise FloatingPointError("a projection is constant or not finite")
    return _resize(np.concatenate([_to_uint8(cor), _to_uint8(sag)], axis=1))


def first_index_reaching(counts: np.ndarray, target: float) -> int:
    """Smallest k in ``range(len(counts))`` with ``sum(counts[:k]) >= target``, else 0."""
    cum = np.concatenate([[0], np.cumsum(counts)[:-1]])
    hit = np.flatnonzero(cum >= target)
    return int(hit[0]) if hit.size else 0


def fraction_planes(mask: np.ndarray) -> tuple[int, int]:
    """Indices of the coronal (y) and sagittal (x) fat-fraction planes.

    Coronal: the y index just past half the mask count *(quirk)*. Sagittal: the x
    index reaching half the mask count of the first ``int(X / 2)`` x indices
    *(quirk: about a quarter of the body's width, through the liver)*.
    """
    per_y = np.count_nonzero(mask, axis=(0, 2))
    per_x = np.count_nonzero(mask, axis=(1, 2))
    k_cor = first_index_reaching(per_y, per_y.sum() / 2)
    half = int(mask.shape[0] / 2)
    k_sag = first_index_reaching(per_x, per_x[:half].sum() / 2)
    return k_cor, k_sag


def fraction_channel(fat: np.ndarray, total: np.ndarray,
                     mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Fat-fraction planes (0-500 per mille to 0-255), coronal | sagittal, 256 x 256.

    Only the two chosen planes of the fat fraction are computed.
    """
    k_cor, k_sag = fraction_planes(mask)
    cor = np.rot90(fat_fraction(fat[:, k_cor, :], total[:, k_cor, :]))
    sag = np.rot90(fat_fraction(fat[k_sag, :, :], total[k_sag, :, :]))
    parts = [(np.clip(p / 500, 0, 1) * 255).astype(np.uint8) for p in (cor, sag)]
    return _resize(np.concatenate(parts, axis=1)), (k_cor, k_sag)


def make_image(water: np.ndarray, fat: np.ndarray, total: np.ndarray,
               mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """The (3, 256, 256) uint8 image from fused volumes (x, y, z).

    Parameters
    ----------
    water, fat : ndarray, shape (X, Y, Z)
        Fused volumes, before the table crop.
    total : ndarray, shape (X, Y, Z)
        ``water + fat`` with zeros replaced by 1 (see
        :func:`mimir.projection.fractions.signal_sum`).
    mask : ndarray of bool, shape (X, Y, Z)
        Body mask.

    Returns
    -------
    image : ndarray, uint8, shape (3, 256, 256)
    info : dict
        ``planes``: the chosen (coronal y, sagittal x) fat-fraction planes.
    """
    water, fat, total, mask = (crop_table(v) for v in (water, fat, total, mask))
    ch_ff, planes = fraction_channel(fat, total, mask)
    img = np.stack([projection_channel(water), projection_channel(fat), ch_ff])
    return img, {"planes": planes}
