"""The CPU cost of ensemble members and of saliency maps.

- Ensembles: a module of K members (K = 1, 2, 3, 5; random weights, ResNet18 and
  ResNet50) predicting the same images through ``mimir.inference.engine.LoadedModule``
  (the members in one network, one batch pass), timed back to back with one member
  alone: seconds per image, the cost per member (the median over repetitions of
  t(K) / (K t(1)); 1: each member costs one network's forward pass) and the weights
  held.
- Saliency: ``mimir.explain.saliency.Explainer.attribute`` (one forward and two backward
  passes) against a plain forward pass of the same networks under
  ``torch.inference_mode`` (batch normalisation not folded, as in the explainer):
  seconds per subject and their ratio, in network passes.

Times are the best of ``--repeat`` runs on the same images (other work on the machine
shows as spread, not as a bias of the best); load averages are recorded.

    python benchmarks/ensemble_explain.py --write-ensembles docs/ensembles.md \\
        --write-explain docs/explain.md

replaces the text between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` in each
page. ``--quick``: ResNet18 only, K up to 2, one repeat (a check that it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblock import replace_block  # noqa: E402  (the pages' figure blocks)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_member_module(folder: Path, backbone: str, members: int) -> Path:
    """A module of ``members`` random-weight members (3 targets)."""
    import torch
    import torchvision

    from mimir.modules.format import file_sha256
    from mimir.modules.members import member_file

    folder.mkdir(parents=True)
    listed = []
    for k in range(1, members + 1):
        torch.manual_seed(k)
        net = getattr(torchvision.models, backbone)(weights=None)
        net.fc = torch.nn.Linear(net.fc.in_features, 6)
        with torch.no_grad():
            net.fc.weight.mul_(1e-3)
        torch.save({"state_dict": net.state_dict()}, folder / member_file(k))
        listed.append({"snapshot": member_file(k),
                       "sha256": file_sha256(folder / member_file(k))})
    (folder / "metadata.txt").write_text("Name,Field,Unit,Divisor\na,,L,1\nb,,L,1\nc,,L,1\n")
    (folder / "standardization_parameters.txt").write_text(
        "stand_mean,stand_stdev\n0,1\n0,1\n0,1\n")
    (folder / "calibration_factors.txt").write_text("calibration_factor\n1\n1\n1\n")
    info = {"format_version": 2 if members > 1 else 1, "backbone": backbone}
    if members > 1:
        info["members"] = listed
    (folder / "module.json").write_text(json.dumps(info))
    return folder


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ensemble_cost(work: Path, backbones: list[str], ks: list[int], images: np.ndarray,
                  repeat: int) -> list[dict]:
    """Per backbone and K: the K-member module and the single member timed back to back
    in each repetition (so both see the same load); the cost per member is the median
    over repetitions of t(K) / (K t(1))."""
    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    rows = []
    opts = EngineOptions(device="cpu")
    for bb in backbones:
        single = LoadedModule(load_module(write_member_module(work / f"{bb}_1", bb, 1)), opts)
        single.predict(images[:2])  # warm up
        for k in ks:
            eng = single if k == 1 else LoadedModule(
                load_module(write_member_module(work / f"{bb}_{k}", bb, k)), opts)
            eng.predict(images[:2])
            tk, t1 = [], []
            for _ in range(repeat):
                t1.append(best(lambda s=single: s.predict(images), 1))
                tk.append(best(lambda e=eng: e.predict(images), 1))
            weights = sum(p.numel() * p.element_size() for p in eng.net.parameters())
            rows.append({"backbone": bb, "members": k, "s_per_image": min(tk) / len(images),
                         "single_s_per_image": min(t1) / len(images),
                         "per_member": float(np.median(np.array(tk) / (k * np.array(t1)))),
                         "weights_mib": weights / 2**20})
    return rows


def explain_cost(work: Path, backbones: list[str], images: np.ndarray,
                 repeat: int) -> list[dict]:
    import torch

    from mimir.explain.saliency import Explainer
    from mimir.modules.format import load_module

    demo = Path(__file__).resolve().parents[1] / "src" / "mimir" / "demo_module" / "module_demo"
    rows = []
    for bb in backbones:
        folder = demo if bb == "resnet18" else work / f"{bb}_1"
        if not folder.is_dir():
            write_member_module(folder, bb, 1)
        ex = Explainer(load_module(folder), 0)
        ex.attribute(images[:2])

        def forward(ex=ex):
            with torch.inference_mode():
                for i in range(0, len(images), 8):
                    x = torch.from_numpy(np.ascontiguousarray(images[i:i + 8])).float()
                    for net in ex.nets:
                        net(x)

        forward()
        t_f = best(forward, repeat)
        t_e = best(lambda ex=ex: ex.attribute(images), repeat)
        rows.append({"backbone": bb, "module": folder.name, "forward_s": t_f / len(images),
                     "explain_s": t_e / len(images), "passes": t_e / t_f})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: "
                    "torch's)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write-ensembles", type=Path)
    ap.add_argument("--write-explain", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    backbones = ["resnet18"] if a.quick else ["resnet18", "resnet50"]
    ks = [1, 2] if a.quick else [1, 2, 3, 5]
    repeat = 1 if a.quick else a.repeat
    n = 4 if a.quick else a.images
    from mimir.cache.store import Cache
    from mimir.phantom.cohort import generate_fast_cohort

    work = Path(tempfile.mkdtemp(prefix="mimir-bench-"))
    try:
        generate_fast_cohort(work / "cache", min(n, 4), seed=3)
        cache = Cache(work / "cache")
        names = sorted(p.stem for p in (work / "cache").glob("*.npy"))
        images = np.stack([cache.read_image(names[i % len(names)]) for i in range(n)])
        load0 = os.getloadavg()
        ens = ensemble_cost(work, backbones, ks, images, repeat)
        exp = explain_cost(work, backbones, images, repeat)
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = (f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads; load average {load0[0]:.1f} at the "
               f"start, {load1[0]:.1f} at the end; {n} images, best of {repeat}")
    cmd = "python benchmarks/ensemble_explain.py " + " ".join(sys.argv[1:])
    ens_md = "\n".join(
        [f"Machine: {machine}. Command: `{cmd}`.", "",
         "| backbone | members | s per image | one member alone, s per image | cost per "
         "member (median of t(K) / (K t(1))) | weights (MiB) |", "|---|---|---|---|---|---|"]
        + [f"| {r['backbone']} | {r['members']} | {r['s_per_image']:.4f} | "
           f"{r['single_s_per_image']:.4f} | {r['per_member']:.2f} | "
           f"{r['weights_mib']:.0f} |" for r in ens])
    exp_md = "\n".join(
        [f"Machine: {machine}. Command: `{cmd}`.", "",
         "| backbone | module | forward pass, s per subject | explain, s per subject | "
         "in forward passes |", "|---|---|---|---|---|"]
        + [f"| {r['backbone']} | {r['module']} | {r['forward_s']:.4f} | {r['explain_s']:.4f} | "
           f"{r['passes']:.1f} |" for r in exp])
    print(ens_md, "\n", exp_md, sep="\n")
    if a.write_ensembles:
        replace_block(a.write_ensembles, "bench", ens_md)
    if a.write_explain:
        replace_block(a.write_explain, "bench", exp_md)
    if a.json:
        a.json.write_text(json.dumps({"machine": machine, "ensembles": ens, "explain": exp},
                                     indent=1))


if __name__ == "__main__":
    main()
