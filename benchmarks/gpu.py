"""MIMIR GPU benchmarks: ``PYTHONPATH=src python benchmarks/gpu.py --out docs/benchmarks-gpu.md``.

Runs the package from ``src`` (no installation) and needs only torch, torchvision,
numpy, scipy, scikit-image, OpenCV, pandas, pyarrow, matplotlib, rich, typer and
pydicom. Sized to finish within about 4 minutes on one GPU with a dozen or more cores.
It measures, in one run:

1. end to end: ``mimir infer`` (a fresh process, as a user runs it) on 1,000 phantom
   subjects (2D images made by the phantom fast path into an image cache), 4 ResNet50
   modules, ``--device cuda --workers <cores - 1> --batch-size 128``;
2. GPU inference of one ResNet50 module: images/s of eager torchvision fp32 (TF32 off),
   eager with TF32 on, eager bf16 (autocast), mimir's engine fp32 and bf16, each against
   eager fp32, and the largest difference of each to eager fp32 on the CPU;
3. training: ``mimir train`` iterations/s (from its own log) against a plain PyTorch
   loop (same ResNet50, batch 32, Adam, the mean-variance loss of
   ``mimir.training.loss``, random tensors already on the GPU, TF32 on).

``--device cpu --quick`` runs every section with tiny sizes (a smoke check, no GPU; its
training sections use ResNet18 to stay short).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))


@dataclass(frozen=True)
class Sizes:
    """How much each section does."""

    subjects: int
    modules: int
    workers: int
    infer_batch: int
    gpu_batch: int
    gpu_reps: int
    train_iterations: int
    train_warmup: int
    train_batch: int
    train_backbone: str = "resnet50"


def sizes(quick: bool, cores: int) -> Sizes:
    """Full sizes (the GPU run) or tiny ones (``--quick``)."""
    workers = max(1, cores - 1)
    if quick:
        return Sizes(subjects=2, modules=1, workers=1, infer_batch=2, gpu_batch=1,
                     gpu_reps=1, train_iterations=2, train_warmup=1, train_batch=1,
                     train_backbone="resnet18")
    return Sizes(subjects=1000, modules=4, workers=workers, infer_batch=128, gpu_batch=128,
                 gpu_reps=10, train_iterations=120, train_warmup=20, train_batch=32)


def src_env() -> dict:
    """The environment of a child process that runs the package from ``src``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in
                                                      env.get("PYTHONPATH", "").split(
                                                          os.pathsep) if p])
    return env


def mimir_command(*args: str) -> list[str]:
    """``mimir ARGS`` as a command running the package from ``src``."""
    return [sys.executable, "-c", "from mimir.cli import main; main()", *args]


def machine(device: str) -> dict:
    """CPU, GPU and versions."""
    import torch
    from run import cpu_model, load_average

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "device": device,
            "load": load_average()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def make_cohort(work: Path, n: int, workers: int) -> tuple[Path, float]:
    """``n`` phantom subjects' 2D images (fast path) in an image cache, with truth.csv."""
    from mimir.phantom.cohort import generate_fast_cohort

    cache = work / "cache"
    t0 = time.perf_counter()
    generate_fast_cohort(cache, n, seed=7, workers=workers)
    return cache, time.perf_counter() - t0


def make_modules(work: Path, k: int) -> list[Path]:
    """``k`` published-format ResNet50 modules (random weights, 10 targets each)."""
    from run import make_module

    return [make_module(work / "modules" / f"module_gpu{i}", seed=i) for i in range(k)]


def bench_infer(work: Path, cache: Path, modules: list[Path], device: str, s: Sizes) -> dict:
    """End to end ``mimir infer`` from the image cache, in a fresh process."""
    out = work / "infer_out"
    cmd = mimir_command("infer", "--cache", str(cache), "--modules", *map(str, modules),
                        "--out", str(out), "--device", device, "--workers", str(s.workers),
                        "--batch-size", str(s.infer_batch))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=src_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"mimir infer failed ({proc.returncode}): {proc.stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return {"subjects": s.subjects, "modules": len(modules), "workers": s.workers,
            "batch": s.infer_batch, "wall_s": wall, "subjects_per_s": s.subjects / wall,
            "timings": run.get("timings_s", {})}


def _time_path(fn, device: str, reps: int) -> tuple[float, np.ndarray]:
    """Median seconds of ``fn()`` over ``reps`` runs after one warm-up, and its output."""
    out = fn()
    sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def set_tf32(on: bool) -> None:
    """Allow (or forbid) TF32 in CUDA matrix products and cuDNN convolutions."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def relative_difference(y: np.ndarray, ref: np.ndarray) -> float:
    """Largest absolute difference relative to the largest absolute reference value."""
    return float(np.max(np.abs(y - ref)) / max(np.max(np.abs(ref)), 1e-30))


def bench_gpu_inference(images: np.ndarray, module: Path, device: str, s: Sizes) -> dict:
    """images/s of eager and mimir paths on ``device``; differences to eager fp32 on CPU."""
    import torch
    import torchvision

    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    x = np.ascontiguousarray(images[:s.gpu_batch])
    state = torch.load(module / "snapshot.pth.tar", weights_only=True)["state_dict"]
    n_out = state["fc.weight"].shape[0]

    def eager_on(dev: str):
        net = torchvision.models.resnet50(weights=None)
        net.fc = torch.nn.Linear(2048, n_out)
        net.load_state_dict(state)
        return net.eval().to(dev)

    with torch.no_grad():
        reference = eager_on("cpu")(torch.from_numpy(x).float()).numpy().astype(np.float64)
    eager = eager_on(device)

    def eager_run(bf16: bool = False):
        with torch.no_grad():
            t = torch.from_numpy(x).to(device).float()
            if bf16:
                with torch.autocast(device_type=device, dtype=torch.bfloat16):
                    y = eager(t)
            else:
                y = eager(t)
            return y.float().cpu().numpy().astype(np.float64)

    set_tf32(False)
    engine = {p: LoadedModule(load_module(module), EngineOptions(device=device, precision=p))
              for p in ("fp32", "bf16")}
    rows = []
    for name, fn, tf32 in (
            ("eager torchvision ResNet50, fp32 (TF32 off)", eager_run, False),
            ("eager, TF32 on (matmul and cuDNN)", eager_run, True),
            ("eager, bf16 autocast", lambda: eager_run(bf16=True), False),
            ("mimir engine fp32", lambda: engine["fp32"].raw(x), False),
            ("mimir engine bf16 (--precision bf16)", lambda: engine["bf16"].raw(x), False)):
        set_tf32(tf32)
        seconds, y = _time_path(fn, device, s.gpu_reps)
        rows.append({"path": name, "images_per_s": len(x) / seconds,
                     "max_rel_diff_cpu_fp32": relative_difference(y, reference)})
    set_tf32(False)
    base = rows[0]["images_per_s"]
    for r in rows:
        r["speedup"] = r["images_per_s"] / base
    return {"batch": len(x), "reps": s.gpu_reps, "rows": rows}


def bench_mimir_train(work: Path, cache: Path, device: str, s: Sizes) -> dict:
    """``mimir train`` on the phantom cache; iterations/s from its log after warm-up."""
    from mimir.phantom.truth import TRUTH_COLUMNS

    run_dir = work / "train_run"
    cmd = mimir_command("train", "--cache", str(cache), "--targets", str(cache / "truth.csv"),
                        "--columns", ",".join(c for c, _, _ in TRUTH_COLUMNS),
                        "--out", str(run_dir), "--iterations", str(s.train_iterations),
                        "--batch-size", str(s.train_batch), "--snapshot-every",
                        str(s.train_iterations), "--device", device,
                        "--backbone", s.train_backbone, "--init", "random",
                        "--precision", "tf32")  # the plain loop's settings: TF32 on
    proc = subprocess.run(cmd, env=src_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mimir train failed ({proc.returncode}): {proc.stderr[-2000:]}")
    import pandas as pd

    log = pd.read_csv(run_dir / "log.csv")
    warm = log[log["iteration"] == s.train_warmup]["seconds"].iloc[0]
    last = log.iloc[-1]
    span = float(last["seconds"] - warm)
    its = int(last["iteration"]) - s.train_warmup
    return {"iterations": its, "seconds": span,
            "iterations_per_s": its / span if span > 0 else float("nan")}


def bench_plain_train(device: str, s: Sizes, n_targets: int) -> dict:
    """A plain PyTorch loop: same network, Adam, the mean-variance loss, TF32 on."""
    import torch

    from mimir.modules.network import build_network
    from mimir.training.loss import gaussian_nll

    set_tf32(True)
    torch.manual_seed(0)
    net = build_network(s.train_backbone, n_targets).to(device)
    net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=5e-5)
    x = torch.rand(s.train_batch, 3, 256, 256, device=device).mul_(255)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randn(s.train_batch, n_targets, device=device)

    def step():
        loss = gaussian_nll(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(s.train_warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    n = s.train_iterations - s.train_warmup
    for _ in range(n):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    set_tf32(False)
    return {"iterations": n, "seconds": seconds, "iterations_per_s": n / seconds}


def report(res: dict) -> str:
    """The Markdown report."""
    m, s = res["machine"], res["sizes"]
    gpu = f"{m.get('gpu', 'no GPU')} (CUDA {m.get('cuda')}, cuDNN {m.get('cudnn')})" \
        if m["device"] == "cuda" else "none (CPU run)"
    lines = [
        "# GPU benchmarks",
        "",
        f"Recorded {res['date']} with `{res['command']}` (written by the script; numbers "
        "from that run).",
        "",
        f"Device: {m['device']}; GPU: {gpu}; CPU: {m['cpu']}, {m['cores']} cores; Python "
        f"{m['python']}, torch {m['torch']}, numpy {m['numpy']}.",
        "",
    ]
    if res.get("quick"):
        lines += ["Quick run (`--quick`): tiny sizes, a check that every section runs; its "
                  "numbers are not benchmarks.", ""]
    e = res["infer"]
    lines += [
        "## End to end (`mimir infer`)", "",
        f"{e['subjects']} phantom subjects (2D images from the phantom fast path, made in "
        f"{res['cohort_s']:.0f} s beforehand into an image cache), {e['modules']} ResNet50 "
        f"modules, `--device {m['device']} --workers {e['workers']} --batch-size "
        f"{e['batch']}`, one fresh `mimir infer` process (start-up included).", "",
        "| subjects | modules | wall (s) | subjects/s |", "|---|---|---|---|",
        f"| {e['subjects']} | {e['modules']} | {e['wall_s']:.1f} | "
        f"{e['subjects_per_s']:.1f} |", ""]
    if e["timings"]:
        lines += ["Stage times from `run.json` (s): " + ", ".join(
            f"{k} {v}" for k, v in e["timings"].items()) + ".", ""]
    g = res["gpu_inference"]
    lines += [
        "## Inference of one ResNet50 module", "",
        f"Batch of {g['batch']} cached images (uint8, copied to the device and the outputs "
        f"back each time), median of {g['reps']} runs after a warm-up. Differences: largest "
        "absolute difference of the outputs to eager fp32 on the CPU, relative to the "
        "largest output.", "",
        "| path | images/s | against eager fp32 | largest relative difference to eager fp32 "
        "on the CPU |", "|---|---|---|---|"]
    for r in g["rows"]:
        lines.append(f"| {r['path']} | {r['images_per_s']:.1f} | {r['speedup']:.2f}x | "
                     f"{r['max_rel_diff_cpu_fp32']:.1e} |")
    t, p = res["mimir_train"], res["plain_train"]
    lines += [
        "", "## Training", "",
        f"{s['train_backbone']}, batch {s['train_batch']}, Adam, the mean-variance loss; "
        f"{s['train_iterations']} iterations, the first {s['train_warmup']} not timed. "
        "`mimir train` runs on the phantom image cache (10 targets, random translations, "
        "images copied to the device every iteration), its rate from its own `log.csv`; "
        "the plain loop runs on random tensors already on the device, TF32 on.", "",
        "| loop | iterations/s |", "|---|---|",
        f"| `mimir train` | {t['iterations_per_s']:.2f} |",
        f"| plain PyTorch loop | {p['iterations_per_s']:.2f} |", "",
        f"`mimir train` at {t['iterations_per_s'] / p['iterations_per_s']:.2f} of the plain "
        "loop's rate.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-gpu.md",
                    help="Markdown file to write")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke check)")
    ap.add_argument("--subjects", type=int, help="subjects for the end-to-end run")
    args = ap.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("no CUDA device (use --device cpu --quick for a smoke check)")
    s = sizes(args.quick, os.cpu_count() or 2)
    if args.subjects:
        s = Sizes(**{**asdict(s), "subjects": args.subjects})
    work = Path(tempfile.mkdtemp(prefix="mimir-gpu-bench-"))
    try:
        res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(args.device),
               "sizes": asdict(s), "quick": args.quick,
               "command": "PYTHONPATH=src python benchmarks/gpu.py " + " ".join(
                   sys.argv[1:] if argv is None else argv)}
        print(f"cohort of {s.subjects} ...", flush=True)
        cache, res["cohort_s"] = make_cohort(work, s.subjects, s.workers)
        modules = make_modules(work, s.modules)
        print("infer ...", flush=True)
        res["infer"] = bench_infer(work, cache, modules, args.device, s)
        print("inference paths ...", flush=True)
        from mimir.cache.store import Cache

        c = Cache(cache)
        names = c.names()
        imgs = np.stack([c.read_image(n) for n in names[:min(len(names), s.gpu_batch)]])
        imgs = np.concatenate([imgs] * int(np.ceil(s.gpu_batch / len(imgs))))[:s.gpu_batch]
        res["gpu_inference"] = bench_gpu_inference(imgs, modules[0], args.device, s)
        print("training ...", flush=True)
        res["mimir_train"] = bench_mimir_train(work, cache, args.device, s)
        res["plain_train"] = bench_plain_train(args.device, s, n_targets=10)
        text = report(res)
        print(text)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
