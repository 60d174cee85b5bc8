"""API: saliency maps of a finished ``infer`` output (``mimir explain``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.errors import ModuleFormatError, UsageError
from mimir.explain.run import clear_target, explain_target, target_dir
from mimir.modules.format import load_module
from mimir.optspec import Opt, OptionSet, api_options
from mimir.report.data import load_run

EXPLAIN_OPTIONS = OptionSet(
    Opt("target", None, "Target to explain, as labelled in predictions.csv (e.g. VAT, or "
        "module_x.age where two modules share a name); repeat for several.", type=list,
        flags=("--target", "-t")),
    Opt("subjects", 16, "Subjects to explain: a seeded sample of those predicted (all of "
        "them when fewer); the cohort map averages them.", minimum=1),
    Opt("cache", None, "The image cache, if not where the run recorded it.", type=Path),
    Opt("threads", None, "Torch CPU threads (the maps are computed on the CPU).", type=int,
        minimum=1),
    Opt("report", True, "Rebuild OUT/report.html afterwards, so that it shows the cohort "
        "maps."),
)


def pick_subjects(names: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` of ``names`` drawn with ``numpy.random.default_rng(seed)``, sorted (all of
    them when there are not more)."""
    names = sorted(names)
    if len(names) <= n:
        return names
    idx = np.random.default_rng(seed).choice(len(names), size=n, replace=False)
    return sorted(names[i] for i in idx)


@api_options(EXPLAIN_OPTIONS)
def explain(out: str | os.PathLike, *, on_start: Callable[[str, int], None] | None = None,
            on_subject: Callable[[str], None] | None = None, **options) -> list[dict]:
    """Saliency maps (gradient x input) of the predicted mean and variance of targets, per
    subject and averaged over them, for a finished ``infer`` or ``merge`` output folder
    (``mimir explain``); written under ``OUT/explain/<target>/`` (docs/explain.md).
    Deterministic on the CPU for a given machine and thread count.

    Parameters
    ----------
    out : path-like
        The output folder.
    on_start : callable, optional
        Called with (target, subjects) before each target.
    on_subject : callable, optional
        Called with each subject's name once its maps are written.

    Returns
    -------
    list of dict
        Per target, what its ``explain.json`` holds (with ``report`` options, also
        ``report``: the page or None, and ``report_error``).
    """
    import torch  # lazy: torch loads only where it is used

    o = EXPLAIN_OPTIONS.build(**options)
    wanted = list(dict.fromkeys(o.target or []))
    if not wanted:
        raise UsageError("name a target with --target (as labelled in predictions.csv)")
    data = load_run(out, cache=o.cache)
    by_label = {t.label: t for t in data.targets}
    unknown = [w for w in wanted if w not in by_label]
    if unknown:
        raise UsageError(f"no target {', '.join(map(repr, unknown))} in {out}; its targets: "
                         f"{', '.join(sorted(by_label)) or 'none'}")
    if data.cache is None:
        raise UsageError(f"the image cache of {out} was not found; give --cache")
    paths = {m["name"]: m.get("path") for r in data.runs for m in r.get("modules", [])}
    jobs = []
    for label in wanted:  # everything is checked before any map is made
        t = by_label[label]
        module_name = t.module or next(iter(paths), "")
        if module_name not in paths or not paths[module_name]:
            raise UsageError(f"{out}: run.json does not say where module {module_name!r} of "
                             f"target {label!r} is")
        try:
            module = load_module(paths[module_name])
        except ModuleFormatError as exc:
            raise UsageError(f"target {label!r}: its module cannot be loaded: {exc}") from None
        base = label[len(module.name) + 1:] if label.startswith(module.name + ".") else label
        index = next((i for i, x in enumerate(module.targets) if x.name == base), None)
        if index is None:
            raise UsageError(f"module {module.path} has no target {base!r}")
        values = pd.to_numeric(data.table[t.mean], errors="coerce")
        names = [n for n, v in zip(data.table["name"], values, strict=True)
                 if np.isfinite(v) and data.cache.has(n)]
        if not names:
            raise UsageError(f"no subject of {out} has a prediction of {label!r} and a cached "
                             "image")
        jobs.append((label, module, index, pick_subjects(names, o.subjects)))
    before = torch.get_num_threads()
    if o.threads is not None:
        torch.set_num_threads(o.threads)
    results = []
    try:
        for label, module, index, names in jobs:
            clear_target(target_dir(out, label))  # the maps of an earlier explain run
            if on_start:
                on_start(label, len(names))
            results.append(explain_target(out, module, index, label, names,
                                          data.cache.read_image, on_subject))
    finally:
        torch.set_num_threads(before)
    if o.report:
        from mimir.report import try_build_report  # lazy: matplotlib

        path, error = try_build_report(out)
        for r in results:
            r["report"], r["report_error"] = path, error
    return results
