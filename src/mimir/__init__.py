"""MIMIR: an inference engine for UK Biobank neck-to-knee body MRI (field 20201).

Every command of the command line is a function here, with the same name and options
(``mimir modules install`` is ``mimir.modules_install``): ``mimir.preprocess``,
``mimir.infer``, ``mimir.qc``, ``mimir.report``, ``mimir.train``, ``mimir.crossval``
and the rest (see ``dir(mimir)``); ``mimir.read_results(OUT)`` gives an output folder's
predictions as a pandas DataFrame with the data dictionary in ``df.attrs``. They live
in :mod:`mimir.api`, imported on first use so that ``import mimir`` stays cheap
(numpy, pandas and the rest load with the first command).

Five commands share their name with a subpackage (``qc``, ``report``, ``phantom``,
``demo``, ``explain``): ``mimir.qc`` is the function; the subpackage is reached by importing from it
(``from mimir.qc import flags``, ``import mimir.qc.flags as flags``).

Cite the MIMIR paper, the papers of its methods and this software:
``mimir --version`` prints the references (:data:`CITATION`).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types

from mimir._version import CITATION, __version__

TYPE_CHECKING = False  # true for type checkers (importing typing would cost the import)
if TYPE_CHECKING:  # what type checkers and editors see; at run time: _Command below
    # (the functions named like subpackages take the name, as at run time)
    from mimir.api import (  # type: ignore[no-redef]
        cache_verify,
        crossval,
        demo,
        explain,
        infer,
        merge,
        module_create,
        modules_info,
        modules_install,
        modules_list,
        modules_published,
        phantom,
        preprocess,
        qc,
        read_results,
        report,
        show,
        split,
        targets,
        train,
    )

__all__ = ["CITATION", "__version__", "cache_verify", "crossval", "demo", "explain", "infer",
           "merge",
           "module_create", "modules_info", "modules_install", "modules_list",
           "modules_published", "phantom", "preprocess", "qc", "read_results", "report",
           "show", "split", "targets", "train"]

#: The API functions, one per command, plus ``read_results``.
_API = tuple(__all__[2:])


class _Command:
    """A package attribute that is the API function of one command.

    A data descriptor on the package's class: reading ``mimir.<name>`` imports
    :mod:`mimir.api` on first use and returns the function (its signature and docstring
    intact). The import system's attempt to bind a subpackage of the same name
    (``mimir.qc``) is ignored, so the function stays in place; for those five names the
    function is a thin wrapper whose attributes are the subpackage's, so that
    ``import mimir.qc.flags as flags`` still finds the submodule.
    """

    def __init__(self, name: str):
        self.name = name
        self.wrapper = None
        self.replaced = None  # a value assigned by the user (e.g. a test's stand-in)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if self.replaced is not None:
            return self.replaced
        from mimir import api  # lazy: imports cv2, pandas

        fn = getattr(api, self.name)
        package = sys.modules.get(f"{__name__}.{self.name}")
        if package is None:
            return fn
        if self.wrapper is None:
            self.wrapper = _sharing(fn, package)
        return self.wrapper

    def __set__(self, obj, value) -> None:
        if not isinstance(value, types.ModuleType):  # a subpackage being bound: ignored
            self.replaced = value

    def __delete__(self, obj) -> None:
        self.replaced = None


def _sharing(fn, package: types.ModuleType):
    """A function calling ``fn`` (same name, docstring and signature) whose attribute
    namespace is ``package``'s, so that its submodules are attributes of it."""

    @functools.wraps(fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"),
                     updated=())
    def command(*args, **kwargs):
        return fn(*args, **kwargs)

    signature = inspect.signature(fn)
    command.__dict__ = package.__dict__  # the subpackage's names, live
    package.__dict__.setdefault("__signature__", signature)
    return command


class _Package(types.ModuleType):
    """The ``mimir`` package: its commands are attributes of the class, so ``dir()``,
    ``help()`` and tab completion list them without importing them."""

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(_API))


for _name in _API:
    setattr(_Package, _name, _Command(_name))
sys.modules[__name__].__class__ = _Package
del _name
