"""MIMIR: an inference engine for UK Biobank neck-to-knee body MRI (field 20201).

The Python API mirrors the command line:

- :func:`mimir.preprocess`: zips to cached 2D images;
- :func:`mimir.infer`: 2D images to predictions with confidence intervals.

Submodules are imported lazily so that ``import mimir`` stays cheap.
"""

from mimir._version import __version__

__all__ = ["__version__", "preprocess", "infer"]


def __getattr__(name):
    if name in ("preprocess", "infer"):
        from mimir import api

        return getattr(api, name)
    raise AttributeError(f"module 'mimir' has no attribute {name!r}")
