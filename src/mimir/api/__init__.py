"""The Python API: every command of the command line, with the same options.

>>> import mimir
>>> summary = mimir.preprocess(["/data/zips"], "/data/cache", workers=2)  # doctest: +SKIP
>>> mimir.infer(paths, "/data/cache", ["module_bodycomp"], "/data/out", 32)  # doctest: +SKIP

The command line only parses its arguments and calls these functions (a test checks
that every option of every command is a parameter here). Each function validates its
options once, before anything is read or written, and raises
:class:`mimir.errors.UsageError` for a mistake.

- images: :func:`preprocess`, :func:`show`, :func:`qc`, :func:`cache_verify`,
  :func:`phantom`;
- predictions: :func:`infer`, :func:`merge`, :func:`report`, :func:`explain`,
  :func:`modules_install`,
  :func:`modules_list`, :func:`modules_info`, :func:`modules_published`, :func:`demo`,
  and :func:`read_results` (an output folder's predictions as a DataFrame);
- training: :func:`targets`, :func:`split`, :func:`train`, :func:`crossval`,
  :func:`module_create`.
"""

from mimir.api.explain import explain
from mimir.api.images import cache_verify, phantom, preprocess, qc, show
from mimir.api.predict import (
    demo,
    infer,
    merge,
    modules_info,
    modules_install,
    modules_list,
    modules_published,
    read_results,
    report,
)
from mimir.api.training import crossval, module_create, split, targets, train

#: One function per command (``modules_install`` is ``mimir modules install``).
COMMANDS = ("cache_verify", "crossval", "demo", "explain", "infer", "merge", "module_create",
            "modules_info", "modules_install", "modules_list", "modules_published", "phantom",
            "preprocess", "qc", "report", "show", "split", "targets", "train")

__all__ = ["cache_verify", "crossval", "demo", "explain", "infer", "merge", "module_create",
           "modules_info", "modules_install", "modules_list", "modules_published", "phantom",
           "preprocess", "qc", "read_results", "report", "show", "split", "targets", "train"]
