"""MIMIR: an inference engine for UK Biobank neck-to-knee body MRI (field 20201).

The Python API mirrors the command line, one function per command, in :mod:`mimir.api`.
Those whose names are not also subpackages are here too: ``mimir.preprocess``,
``mimir.infer``, ``mimir.merge``, ``mimir.train``, ``mimir.crossval``,
``mimir.module_create`` and more (``mimir.api.report``, ``.qc``, ``.phantom``,
``.demo`` and ``.explain`` are reached through ``mimir.api``).

Submodules are imported lazily so that ``import mimir`` stays cheap.
"""

from mimir._version import __version__

_API = ("cache_verify", "crossval", "infer", "merge", "module_create", "modules_install",
        "modules_list", "preprocess", "show", "split", "targets", "train")

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        from mimir import api

        return getattr(api, name)
    raise AttributeError(f"module 'mimir' has no attribute {name!r}")
