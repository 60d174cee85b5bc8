"""The cache of 2D images: one ``<name>.npy`` (uint8, (3, 256, 256)) per subject, with
a ``<name>.json`` sidecar holding warnings, QC facts and provenance.

See :mod:`mimir.cache.store`.
"""

from mimir.cache.store import Cache, CacheEntry

__all__ = ["Cache", "CacheEntry"]
