"""Follow-up change on phantom pairs with a known change: how often the interval holds it.

Makes ``--pairs`` phantoms with their repeat visit (``mimir phantom --fast --repeat``),
predicts both visits with the built-in demo module (``mimir infer --cache``), and
compares ``changes.csv`` with the true change (the truth of visit 3 minus that of visit
2, measured on the anatomy): per target the share of true changes inside their
interval (the stated rate is the interval level, 95 %), the share of changes flagged
beyond their interval, the mean true change and the MAE of the predicted change, and,
for comparison, the coverage of each visit's own 95 % interval. Writes the table between
``<!-- pairs:begin -->`` and ``<!-- pairs:end -->`` of ``--write``.

    python benchmarks/followup_pairs.py --pairs 100 --write docs/changes.md
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblock import replace_block  # noqa: E402  (the pages' figure blocks)

DEMO = Path(__file__).resolve().parents[1] / "src" / "mimir" / "demo_module" / "module_demo"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--vat-change", type=float, default=0.25)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep the cache and output here")
    ap.add_argument("--write", type=Path)
    a = ap.parse_args()
    import mimir.api

    work = a.keep or Path(tempfile.mkdtemp(prefix="mimir-pairs-"))
    try:
        cache, out = work / "cache", work / "out"
        if not (cache / "truth.csv").is_file():
            mimir.api.phantom(cache, n=a.pairs, repeat=a.pairs, seed=a.seed, fast=True,
                              vat_change=a.vat_change, workers=a.workers)
        if not (out / "changes.csv").is_file():
            mimir.api.infer([], cache, [str(DEMO)], out, 32, device="cpu", report=False)
        changes = pd.read_csv(out / "changes.csv").set_index("eid")
        preds = pd.read_csv(out / "predictions.csv", dtype={"name": str}).set_index("name")
        truth = pd.read_csv(cache / "truth.csv", dtype={"name": str})
        meta = pd.read_csv(cache / "truth.meta.csv")
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    t = truth.assign(instance=truth["name"].str.split("_").str[2].astype(int))
    v2, v3 = (t[t["instance"] == i].set_index("eid") for i in (2, 3))
    rows = []
    for col, name, unit in zip(meta["column"], meta["name"], meta["unit"], strict=True):
        true = (v3[col] - v2[col]).loc[changes.index]
        change = changes[f"{name}_change_in_{unit}"]
        lo, hi = changes[f"{name}_change_lower95_in_{unit}"], \
            changes[f"{name}_change_upper95_in_{unit}"]
        inside = ((true >= lo) & (true <= hi)).mean()
        own = []
        for tt in (v2, v3):
            lo_v = preds.loc[tt["name"], f"{name}_lower95_in_{unit}"].to_numpy()
            hi_v = preds.loc[tt["name"], f"{name}_upper95_in_{unit}"].to_numpy()
            own += list((tt[col].to_numpy() >= lo_v) & (tt[col].to_numpy() <= hi_v))
        beyond = (changes[f"{name}_change_beyond"].astype(str) == "True").mean()
        rows.append((name, unit, float(true.mean()), float(np.mean(np.abs(change - true))),
                     float(changes[f"{name}_change_sd_in_{unit}"].median()), inside,
                     float(np.mean(own)), beyond))
    lines = [f"{len(changes)} phantom pairs (seed {a.seed}, visceral fat "
             f"{a.vat_change:+.0%} at the repeat visit, 2.5 years apart), the demo module; "
             f"command: `python benchmarks/followup_pairs.py --pairs {a.pairs} --seed "
             f"{a.seed}`.", "",
             "| target | unit | mean true change | MAE of the change | median sd of the "
             "change | true change inside its 95 % interval | each visit's truth inside "
             "its 95 % interval | changes beyond their interval |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {u} | {m:+.3g} | {e:.3g} | {s:.3g} | {c:.3f} | {o:.3f} | {b:.3f} |"
              for n, u, m, e, s, c, o, b in rows]
    allc = np.mean([r[5] for r in rows])
    lines += ["", f"All targets: {allc:.3f} of the true changes inside their 95 % interval."]
    text = "\n".join(lines)
    print(text)
    if a.write:
        replace_block(a.write, "pairs", text)


if __name__ == "__main__":
    main()
