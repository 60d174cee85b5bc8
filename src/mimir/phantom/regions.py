"""Where a phantom's organs lie in its 2D image: masks in the fixed 256 x 256 layout.

The anatomy is rendered on the voxel centres of the subject's fused volumes (from their
affine: RAS+ mm, the phantom's scanner coordinates with x and y negated), and a
tissue's voxels are projected the way the image's projection channels are made
(:mod:`mimir.projection.image2d`): the table rows cropped, the coronal half the
tissue's footprint along y, the sagittal half along x, each rotated, side by side,
resized to 256 x 256. A pixel belongs to the mask when any part of it covers the
tissue. Used to check where saliency maps put their mass (``docs/explain.md``).
"""

from __future__ import annotations

import numpy as np

from mimir.phantom.anatomy import TISSUES, render
from mimir.phantom.fastpath import fast_subject
from mimir.phantom.subject import PhantomSubject
from mimir.projection.image2d import IMAGE_SIZE, crop_table


def tissue_labels(subject: PhantomSubject, affine: np.ndarray, shape: tuple) -> np.ndarray:
    """Tissue labels (X, Y, Z) of ``subject`` on the voxel centres of fused volumes of
    ``shape`` with ``affine`` (axis-aligned, as MIMIR's fused volumes are)."""
    a = np.asarray(affine, dtype=np.float64)
    if np.count_nonzero(a[:3, :3] - np.diag(np.diag(a[:3, :3]))):
        raise ValueError("the affine is not axis-aligned")
    x, y, z = (a[k, k] * np.arange(shape[k]) + a[k, 3] for k in range(3))
    labels = render(subject, -x, -y, z).tissue  # (Z, Y, X); RAS+ to scanner: x, y negated
    return np.ascontiguousarray(labels.transpose(2, 1, 0))


def projected_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean volume (X, Y, Z) projected into the 2D image layout (256 x 256)."""
    import cv2  # lazy: OpenCV loads only where it is used

    m = crop_table(np.asarray(mask, dtype=bool))
    halves = [np.rot90(m.any(axis=1)), np.rot90(m.any(axis=0))]
    both = np.concatenate(halves, axis=1).astype(np.float32)
    return cv2.resize(both, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA) > 0


def image_and_masks(subject: PhantomSubject, seed: int,
                    tissues=("liver",)) -> tuple[np.ndarray, dict]:
    """The subject's 2D image (fast path, as ``mimir phantom --fast`` caches it) and,
    per tissue name, its mask in that image (256 x 256, bool); ``body`` is every tissue
    but air and the table."""
    from mimir.pipeline.subject import process_volumes  # lazy: imports cv2

    fs = fast_subject(subject, seed, with_truth=False)
    if fs.affine is None:
        raise ValueError("the fused volumes came without their affine")
    image, _ = process_volumes(fs.water, fs.fat)
    labels = tissue_labels(subject, fs.affine, fs.water.shape)
    masks = {}
    for name in tissues:
        if name == "body":
            m = (labels != TISSUES["air"][0]) & (labels != TISSUES["table"][0])
        else:
            m = labels == TISSUES[name][0]
        masks[name] = projected_mask(m)
    return image, masks
