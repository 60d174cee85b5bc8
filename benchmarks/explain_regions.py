"""Where the demo module's saliency maps lie, measured against the phantoms' anatomy.

Makes ``--n`` fast-path phantoms (their 2D images and, from their own anatomy, each
organ's mask in the image: :mod:`mimir.phantom.regions`), runs
:class:`mimir.explain.saliency.Explainer` of the built-in demo module (trained on
phantoms) for several targets, and reports for each target and organ the share of the
maps' mass inside the organ: per subject in its own mask (mean over subjects), and of
the cohort map inside the union of the subjects' masks; for the relevance maps MIMIR
draws (squared attributions) and, for comparison, for absolute values. Writes the table
between ``<!-- regions:begin -->`` and ``<!-- regions:end -->`` of ``--write`` and the
pictures to ``--pictures``.

    python benchmarks/explain_regions.py --n 16 --write docs/explain.md --pictures docs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblock import replace_block  # noqa: E402  (the pages' figure blocks)

DEMO = Path(__file__).resolve().parents[1] / "src" / "mimir" / "demo_module" / "module_demo"
#: (target of the demo module, the organ it rests on)
CASES = [("liverFat", "liver"), ("liverVolume", "liver"), ("VAT", "vat"),
         ("thighMuscle", "liver")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--pictures", type=Path)
    a = ap.parse_args()
    from mimir.explain.draw import grey, heat_overlay, panels, write_png
    from mimir.explain.maps import normalised, region_share, relevance
    from mimir.explain.saliency import Explainer
    from mimir.modules.format import load_module
    from mimir.phantom.regions import image_and_masks
    from mimir.phantom.subject import draw_cohort

    organs = sorted({o for _, o in CASES} | {"body"})
    made = [image_and_masks(s, a.seed, organs) for s in draw_cohort(a.n, a.seed)]
    images = np.stack([m[0] for m in made])
    masks = {o: np.stack([m[1][o] for m in made]) for o in organs}
    module = load_module(DEMO)
    names = [t.name for t in module.targets]
    rows, attrs = [], {}
    for target, organ in CASES:
        attr = Explainer(module, names.index(target)).attribute(images)
        attrs[target] = attr
        m = masks[organ]
        union = m.any(axis=0)
        for kind, maps in (("relevance (squared)", normalised(relevance(attr.mean))),
                           ("absolute", normalised(np.abs(attr.mean.sum(axis=1))))):
            own = np.mean([region_share(maps[i], m[i]) for i in range(len(maps))])
            cohort = region_share(maps.mean(axis=0), union)
            rows.append((target, organ, kind, own, cohort))
        area = float(np.mean([m[i].sum() / masks["body"][i].sum() for i in range(len(m))]))
        rows.append((target, organ, "area share of the body", area,
                     float(union.sum() / masks["body"].any(axis=0).sum())))
    lines = [f"{a.n} fast-path phantoms (seed {a.seed}), the demo module; command: "
             f"`python benchmarks/explain_regions.py --n {a.n} --seed {a.seed}`.", "",
             "| target | organ mask | map | share in each subject's own mask (mean) | "
             "cohort map's share in the masks' union |", "|---|---|---|---|---|"]
    lines += [f"| {t} | {o} | {k} | {own:.3f} | {c:.3f} |" for t, o, k, own, c in rows]
    text = "\n".join(lines)
    print(text)
    if a.write:
        replace_block(a.write, "regions", text)
    if a.pictures:
        attr = attrs["liverFat"]
        mean_map = normalised(relevance(attr.mean))
        var_map = normalised(relevance(attr.logvar))
        back = grey(images.mean(axis=0))
        write_png(a.pictures / "explain-cohort-liverfat.png", panels(
            [heat_overlay(back, mean_map.mean(axis=0)), heat_overlay(back, var_map.mean(0))],
            [f"liverFat: mean, {a.n} subjects", "liverFat: log-variance"], scale=2))
        b0 = grey(images[0])
        outline = heat_overlay(b0, masks["liver"][0].astype(float))
        write_png(a.pictures / "explain-subject-liverfat.png", panels(
            [outline, heat_overlay(b0, mean_map[0]), heat_overlay(b0, var_map[0])],
            ["the liver's mask (anatomy)", f"mean: {attr.prediction[0]:.3g} %",
             "log-variance"], scale=2))


if __name__ == "__main__":
    main()
