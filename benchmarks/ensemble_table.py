"""The single-member-against-ensemble table of docs/ensembles.md, from a cross-validation.

Reads ``ensemble_comparison.csv`` of ``mimir crossval --ensemble K`` (and its
``metrics.csv`` for the target names and units) and writes a Markdown table between
``<!-- results:begin -->`` and ``<!-- results:end -->`` of ``--write``.

    python benchmarks/ensemble_table.py runs/ens/cv --write docs/ensembles.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblock import replace_block  # noqa: E402  (the pages' figure blocks)


def table(cv: Path) -> str:
    comp = pd.read_csv(cv / "ensemble_comparison.csv")
    metrics = pd.read_csv(cv / "metrics.csv")
    about = metrics.drop_duplicates("target").set_index("target")
    lines = ["| target | model | MAE | ICC | AUCE | AUCE cal. | 95 % coverage | 95 % coverage "
             "cal. | AUSE | MAE of the more certain half |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in comp.iterrows():
        name = about.loc[r["target"], "name"] if r["target"] in about.index else r["target"]
        unit = about.loc[r["target"], "unit"] if r["target"] in about.index else ""
        lines.append(f"| {name} [{unit}] | {r['model']} | {r['mae']:.4g} | {r['icc']:.3f} | "
                     f"{r['auce']:.3f} | {r['auce_calibrated']:.3f} | {r['coverage95']:.3f} | "
                     f"{r['coverage95_calibrated']:.3f} | {r['ause']:.3f} | "
                     f"{r['mae_certain50']:.4g} |")
    single = comp[comp["model"] == "member 1"].set_index("target")
    ens = comp[comp["model"].str.startswith("ensemble")].set_index("target")
    mean = comp[comp["model"].str.startswith("single members")].set_index("target")
    ratio = (ens["mae"] / single["mae"]).mean()
    ratio_mean = (ens["mae"] / mean["mae"]).mean()
    lines += ["", f"Mean over targets of the ensemble's MAE relative to member 1's: "
              f"{ratio:.3f}; relative to the members' average MAE: {ratio_mean:.3f}. "
              f"Calibrated AUCE, mean over targets: member 1 "
              f"{single['auce_calibrated'].mean():.3f}, members' average "
              f"{mean['auce_calibrated'].mean():.3f}, ensemble "
              f"{ens['auce_calibrated'].mean():.3f}. AUSE, mean over targets: member 1 "
              f"{single['ause'].mean():.3f}, members' average {mean['ause'].mean():.3f}, "
              f"ensemble {ens['ause'].mean():.3f}."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cv", type=Path)
    ap.add_argument("--write", type=Path)
    a = ap.parse_args()
    text = table(a.cv)
    print(text)
    if a.write:
        replace_block(a.write, "results", text)


if __name__ == "__main__":
    main()
