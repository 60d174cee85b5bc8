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
    return channel_from_projections(np.sum(volume, axis=1), np.sum(volume, axis=0))


def channel_from_projections(cor: np.ndarray, sag: np.ndarray) -> np.ndarray:
    """:func:`projection_channel` from the coronal (sum over y) and sagittal (sum over
    x) projections of a volume.

    Raises
    ------
    FloatingPointError
        When a projection is constant or not finite (no usable image).
    """
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
    return planes_from_counts(np.count_nonzero(mask, axis=(0, 2)),
                              np.count_nonzero(mask, axis=(1, 2)))


def planes_from_counts(per_y: np.ndarray, per_x: np.ndarray) -> tuple[int, int]:
    """:func:`fraction_planes` from the mask's voxel counts per y and per x index."""
    k_cor = first_index_reaching(per_y, per_y.sum() / 2)
    half = int(len(per_x) / 2)
    k_sag = first_index_reaching(per_x, per_x[:half].sum() / 2)
    return k_cor, k_sag


def fraction_channel(fat: np.ndarray, total: np.ndarray,
                     mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Fat-fraction planes (0-500 per mille to 0-255), coronal | sagittal, 256 x 256.

    Only the two chosen planes of the fat fraction are computed.
    """
    planes = fraction_planes(mask)
    return fraction_channel_at(fat, total, planes), planes


def fraction_channel_at(fat: np.ndarray, total: np.ndarray,
                        planes: tuple[int, int]) -> np.ndarray:
    """The fat-fraction channel on given (coronal y, sagittal x) planes, 256 x 256."""
    k_cor, k_sag = planes
    return fraction_channel_from_planes(fat[:, k_cor, :], total[:, k_cor, :],
                                        fat[k_sag, :, :], total[k_sag, :, :])


def fraction_channel_from_planes(fat_cor: np.ndarray, total_cor: np.ndarray,
                                 fat_sag: np.ndarray, total_sag: np.ndarray) -> np.ndarray:
    """The fat-fraction channel from the chosen coronal (x, z) and sagittal (y, z) planes
    of the fat volume and the signal sum, 256 x 256."""
    cor = np.rot90(fat_fraction(fat_cor, total_cor))
    sag = np.rot90(fat_fraction(fat_sag, total_sag))
    parts = [(np.clip(p / 500, 0, 1) * 255).astype(np.uint8) for p in (cor, sag)]
    return _resize(np.concatenate(parts, axis=1))


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


def image_from_sweeps(fat_planes, total: np.ndarray, sums, masks) -> tuple[np.ndarray, dict]:
    """:func:`make_image` from the sweeps of :mod:`mimir.projection.passes` (same image).

    Parameters
    ----------
    fat_planes : callable
        ``fat_planes((y, x))`` gives the coronal plane y (shape (X, Z)) and the
        sagittal plane x (shape (Y', Z)) of the table-cropped fat volume.
    total : ndarray, shape (X, Y, Z)
        Signal sum, before the table crop.
    sums : mimir.projection.passes.SumSweep
        Made with ``crop=TABLE_ROWS``.
    masks : mimir.projection.passes.MaskSweep
        Made with ``crop=TABLE_ROWS``.

    Returns
    -------
    image : ndarray, uint8, shape (3, 256, 256)
    info : dict
        ``planes``: the chosen (coronal y, sagittal x) fat-fraction planes.
    """
    planes = planes_from_counts(masks.per_y, masks.per_x)
    k_cor, k_sag = planes
    total = crop_table(total)
    fat_cor, fat_sag = fat_planes(planes)
    ch_ff = fraction_channel_from_planes(fat_cor, total[:, k_cor, :], fat_sag,
                                         total[k_sag, :, :])
    channels = [channel_from_projections(sums.coronal[k], sums.sagittal[k])
                for k in ("water", "fat")]
    return np.stack(channels + [ch_ff]), {"planes": planes}


def make_image_from_sweeps(fat: np.ndarray, total: np.ndarray, sums, masks) -> tuple[
        np.ndarray, dict]:
    """:func:`image_from_sweeps` with the fat volume (shape (X, Y, Z), before the crop)."""
    cropped = crop_table(fat)
    return image_from_sweeps(lambda p: (cropped[:, p[0], :], cropped[p[1], :, :]), total,
                             sums, masks)
