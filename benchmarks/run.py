"""MIMIR benchmark suite: ``make bench`` (or ``python benchmarks/run.py --write FILE``).

Measures, on this machine, in one run:

1. phantom generation: seconds per zip, seconds per fast-path subject;
2. preprocessing per subject on one worker against two floors of the same zip, timed in
   turn in the same process (best of several runs each): the decode floor (inflating
   the water and fat members with zlib, as ``zipfile`` does, and decoding them with
   pydicom) and the inflate-only floor (only inflating them, with the fastest inflate
   installed: libdeflate, told each member's size by the zip);
3. preprocessing throughput with 1 and 2 worker processes, and peak memory of a worker;
4. CPU inference images/s of a published-format ResNet50 module against plain eager
   torchvision ResNet50 in fp32 (same images, same batch size), the largest relative
   difference of the outputs, the opt-in bf16 path, and the fp32 engine at several
   batch sizes;
5. end to end (``infer`` on zips not yet cached) subjects/s with 1 and 4 modules,
   against the slower stage's own throughput (3 and 5 run in interleaved rounds);
6. the whole ``mimir infer`` process as a user runs it on 96 cached images (start-up
   and ``report.html`` included) against a plain eager torchvision script process that
   loads the same snapshot and writes the same network outputs.

Writes a Markdown report (machine with its CPU model, versions, command, figures).
``--sections preprocess`` (for example) runs some sections only and prints them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU model, from /proc/cpuinfo (or lscpu, or the platform module)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (empty where the system does not say)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    cpu = cpu_model()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    import mimir

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "mimir": mimir.__version__,
            "platform": platform.platform(), "load": load_average()}


def decode_floor(zip_path: Path) -> float:
    """Seconds to inflate the water and fat members and decode them with pydicom."""
    import pydicom

    from mimir.reading.manifest import find_manifest, parse_manifest

    t0 = time.perf_counter()
    with zipfile.ZipFile(zip_path) as zf:
        text = zf.read(find_manifest(zf.namelist())).decode()
        for e in parse_manifest(text):
            ds = pydicom.dcmread(io.BytesIO(zf.read(e.filename)))
            ds.pixel_array  # noqa: B018
    return time.perf_counter() - t0


def inflate_floor(zip_path: Path) -> float:
    """Seconds to inflate the water and fat members with the fastest inflate here
    (libdeflate when installed, told each member's size by the zip; the compressed bytes
    are read with one ``pread`` each): no parsing at all."""
    import struct

    from mimir.reading import inflate
    from mimir.reading.manifest import find_manifest, parse_manifest

    t0 = time.perf_counter()
    with zipfile.ZipFile(zip_path) as zf:
        text = zf.read(find_manifest(zf.namelist())).decode()
        fd = zf.fp.fileno()
        for e in parse_manifest(text):
            info = zf.getinfo(e.filename)
            head = os.pread(fd, 30, info.header_offset)
            n, m = struct.unpack_from("<HH", head, 26)
            raw = os.pread(fd, info.compress_size, info.header_offset + 30 + n + m)
            inflate.inflate(raw, info.file_size, info.compress_type, info.CRC)
    return time.perf_counter() - t0


def bench_phantoms(work: Path, n_zip: int = 3, n_fast: int = 6) -> dict:
    from mimir.phantom.fastpath import fast_subject
    from mimir.phantom.subject import draw_cohort
    from mimir.phantom.zipwrite import write_subject_zip, zip_name
    from mimir.pipeline.allocator import tune_allocator

    tune_allocator()  # as in the worker processes that make fast-path cohorts
    subs = draw_cohort(max(n_zip, n_fast), 900)
    fast_subject(subs[0], 900)  # warm-up (noise bank, imports)
    t, tv = [], []
    for s in subs[:n_fast]:
        t0 = time.perf_counter()
        fast_subject(s, 900, with_truth=False)
        tv.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fast_subject(s, 900)
        t.append(time.perf_counter() - t0)
    z = []
    (work / "zips").mkdir(exist_ok=True)
    for s in subs[:n_zip]:
        t0 = time.perf_counter()
        write_subject_zip(work / "zips" / zip_name(s.eid), s, 900)
        z.append(time.perf_counter() - t0)
    return {"zip_s": z, "fast_s": t, "fast_volumes_s": tv}


def bench_preprocess(work: Path, zips: list[Path], reps: int = 7) -> dict:
    """One worker's time per subject against the decode floor and the inflate-only floor
    of the same zip.

    The worker has tuned its allocator and warmed up; for each zip the floors and the
    preprocessing are timed in turn, ``reps`` times each, and the best of each is kept
    (wall clock; process CPU time alongside), so that all see the same machine state.
    """
    from mimir import native
    from mimir.pipeline import preprocess_subject
    from mimir.pipeline.allocator import tune_allocator
    from mimir.reading import inflate

    def numpy_only(z: Path) -> None:
        native.set_enabled(False)
        try:
            preprocess_subject(z)
        finally:
            native.set_enabled(True)

    tune_allocator()
    arithmetic = native.status()
    preprocess_subject(zips[0])  # warm-up
    numpy_only(zips[0])
    decode_floor(zips[0])
    inflate_floor(zips[0])
    load_before = load_average()
    rows = []
    for z in zips:
        floor, infl, ours, plain = [], [], [], []
        for _ in range(reps):
            for runs, fn in ((floor, decode_floor), (infl, inflate_floor),
                             (ours, preprocess_subject), (plain, numpy_only)):
                t0, c0 = time.perf_counter(), time.process_time()
                fn(z)
                runs.append((time.perf_counter() - t0, time.process_time() - c0))
        f, i, m, p = (min(r[0] for r in runs) for runs in (floor, infl, ours, plain))
        fc, mc = min(r[1] for r in floor), min(r[1] for r in ours)
        rows.append({"zip": z.name, "floor_s": f, "inflate_s": i, "mimir_s": m,
                     "numpy_s": p, "ratio": m / f, "inflate_ratio": m / i, "floor_cpu_s": fc,
                     "mimir_cpu_s": mc, "cpu_ratio": mc / fc})
    summary = {k: float(np.median([r[k] for r in rows]))
               for k in ("floor_s", "inflate_s", "mimir_s", "numpy_s", "ratio",
                         "inflate_ratio", "cpu_ratio")}
    return {"per_subject": rows, "reps": reps, "cpu": cpu_model(), "summary": summary,
            "inflate": inflate.backend(), "arithmetic": arithmetic,
            "load_before": load_before, "load_after": load_average()}


def bench_throughput(work: Path, zip_dir: Path, workers: int) -> dict:
    cache = work / f"cache_w{workers}"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "job_helper.py"), "preprocess",
           str(zip_dir), str(cache), str(workers)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return {"workers": workers, "subjects": info["n"], "wall_s": wall,
            "run_s": info["elapsed"], "subjects_per_s": info["n"] / info["elapsed"],
            "steady_per_s": steady_rate(info["arrivals"], workers)}


def steady_rate(arrivals: list[float], workers: int) -> float | None:
    """Subjects per second once every worker has finished its first subject: the
    subjects after the ``workers``-th result over the time from it to the last result
    (what a batch of thousands runs at; the job's own rate also pays for starting the
    workers and their first, slower subject)."""
    if len(arrivals) <= workers:
        return None
    t = sorted(arrivals)
    span = t[-1] - t[workers - 1]
    return (len(t) - workers) / span if span > 0 else None


#: Run in a fresh process: its own peak resident memory in KiB. On Linux ``ru_maxrss``
#: also counts the parent's resident memory at the fork (it survives the exec), so the
#: process's own high-water mark (VmHWM) is read where the system has it.
_PEAK_CODE = """
import resource, sys
from mimir.pipeline import preprocess_subject
from mimir.pipeline.allocator import tune_allocator
tune_allocator()
preprocess_subject(sys.argv[1])
preprocess_subject(sys.argv[1])
peak = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
except OSError:
    pass
print(peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def worker_peak_memory(zip_path: Path) -> float:
    """Peak resident memory (MiB) of a fresh process preprocessing one subject twice."""
    out = subprocess.run([sys.executable, "-c", _PEAK_CODE, str(zip_path)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def make_module(folder: Path, T: int = 10, seed: int = 0) -> Path:
    import torch
    import torchvision

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = torchvision.models.resnet50(weights=None)
    net.fc = torch.nn.Linear(2048, 2 * T)
    with torch.no_grad():
        net.fc.weight.mul_(1e-3)
    torch.save({"state_dict": net.state_dict(), "iteration": 1}, folder / "snapshot.pth.tar")
    (folder / "metadata.txt").write_text("Name,Field,Unit,Divisor\n" + "".join(
        f"t{i},,L,1\n" for i in range(T)))
    (folder / "standardization_parameters.txt").write_text(
        "stand_mean,stand_stdev\n" + "1,1\n" * T)
    (folder / "calibration_factors.txt").write_text("calibration_factor\n" + "1\n" * T)
    return folder


def bench_inference(work: Path, images: np.ndarray, batch: int = 16, reps: int = 5,
                    sweep_images: int = 32) -> dict:
    """Eager fp32 torchvision ResNet50 against mimir's engine, interleaved run by run so
    that both see the same machine state; medians of ``reps`` timed batches each. The
    batch-size sweep runs the engine on ``sweep_images`` images, with each size of
    :data:`SWEEP` up to that many per forward pass."""
    import torch
    import torchvision

    from mimir.inference.engine import EngineOptions, LoadedModule
    from mimir.modules.format import load_module

    mod = make_module(work / "modules" / "module_bench0")
    state = torch.load(mod / "snapshot.pth.tar", weights_only=True)["state_dict"]
    eager = torchvision.models.resnet50(weights=None)
    eager.fc = torch.nn.Linear(2048, 20)
    eager.load_state_dict(state)
    eager.eval()
    x = images[:batch]

    def eager_run():
        with torch.no_grad():
            return eager(torch.from_numpy(x).float()).numpy().astype(np.float64)

    fast = LoadedModule(load_module(mod), EngineOptions(device="cpu"))
    bf16 = LoadedModule(load_module(mod), EngineOptions(device="cpu", precision="bf16"))
    paths = {"eager": eager_run, "fp32": lambda: fast.raw(x), "bf16": lambda: bf16.raw(x)}
    n = sweep_images
    sweep = np.concatenate([images] * int(np.ceil(n / len(images))))[:n]
    sizes = [b for b in SWEEP if b <= n]
    for b in sizes:  # the fp32 engine with b images per forward pass, on n images
        paths[f"b{b}"] = (lambda b=b: [fast.raw(sweep[i:i + b]) for i in range(0, n, b)])
    times: dict[str, list] = {k: [] for k in paths}
    outs = {k: fn() for k, fn in paths.items()}  # warm-up
    for _ in range(reps):
        for k, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    ips = {k: (n if k.startswith("b") and k != "bf16" else batch) / float(np.median(v))
           for k, v in times.items()}
    y0 = outs["eager"]

    def rel(y):
        return float(np.max(np.abs(y - y0)) / np.max(np.abs(y0)))

    return {"batch": batch, "threads": torch.get_num_threads(), "eager_fp32_ips": ips["eager"],
            "mimir_fp32_ips": ips["fp32"], "speedup": ips["fp32"] / ips["eager"],
            "max_rel_diff": rel(outs["fp32"]), "bf16_ips": ips["bf16"],
            "bf16_max_rel_diff": rel(outs["bf16"]), "reps": reps, "fused": fast.fused,
            "sweep_images": n, "sweep_ips": {b: ips[f"b{b}"] for b in sizes}}


#: images per forward pass in the batch-size sweep of the fp32 engine
SWEEP = (2, 4, 8, 16, 32)


def bench_end_to_end(work: Path, zip_dir: Path, n_modules: int, workers: int,
                     batch: int = 8) -> dict:
    mods = [make_module(work / "modules" / f"module_bench{i}", seed=i) for i in range(n_modules)]
    out = work / f"e2e_{n_modules}"
    cache = work / f"e2e_cache_{n_modules}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "job_helper.py"), "infer", str(zip_dir),
           str(cache), str(out), str(workers), str(batch), *map(str, mods)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    info = json.loads(res.stdout.strip().splitlines()[-1])
    return {"modules": n_modules, "workers": workers, "batch": batch, "subjects": info["n"],
            "elapsed_s": info["elapsed"], "subjects_per_s": info["n"] / info["elapsed"],
            "report_s": info["report"], "timings": info["timings"]}


def bench_process(work: Path, images: np.ndarray, n: int = 96, rounds: int = 5) -> dict:
    """The whole ``mimir infer`` process on ``n`` cached images (start-up, tables and
    ``report.html`` included, defaults otherwise: batch size 32, fp32, every thread)
    against the eager baseline script's process (``benchmarks/eager_infer.py``), timed
    in turn, ``rounds`` times each (medians of wall clock). The speed-up is the median
    of each round's ratio, so that a machine whose speed drifts between rounds compares
    the two processes at the same speed."""
    from mimir.cache.store import Cache, CacheEntry

    mod = make_module(work / "modules" / "module_bench0")
    cache_dir = work / "process_cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache = Cache(cache_dir)
    for i in range(n):
        cache.write(images[i % len(images)], CacheEntry(name=f"{1000000 + i}_20201_2_0",
                                                        source="benchmark copy"))
    out = work / "process_out"
    runs: dict[str, list] = {"eager": [], "mimir": []}
    cmds = {"eager": [sys.executable, str(ROOT / "benchmarks" / "eager_infer.py"), str(mod),
                      str(cache_dir), str(work / "eager.csv")],
            "mimir": [sys.executable, "-c", "from mimir.cli import main; main()", "infer",
                      "--cache", str(cache_dir), "-m", str(mod), "--out", str(out),
                      "--device", "cpu"]}
    for _ in range(rounds):
        for k, cmd in cmds.items():
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            runs[k].append(time.perf_counter() - t0)
    assert (out / "report.html").is_file()
    med = {k: float(np.median(v)) for k, v in runs.items()}
    ratios = [e / m for e, m in zip(runs["eager"], runs["mimir"], strict=True)]
    return {"images": n, "eager_s": med["eager"], "mimir_s": med["mimir"],
            "speedup": float(np.median(ratios)), "ratios": ratios, "runs": runs,
            "rounds": rounds}


def bench_pipeline(work: Path, zip_dir: Path, rounds: int = 3) -> tuple[list, list]:
    """Preprocessing throughput (1 and 2 workers) and end to end (1 and 4 modules, 2
    workers), interleaved in ``rounds`` so that every configuration sees the same machine
    state (a shared virtual machine's speed drifts by 20 % within minutes); each ratio is
    end to end over preprocessing with 2 workers of the same round."""
    pre = {1: [], 2: []}
    e2e = {1: [], 4: []}
    for _ in range(rounds):
        for w in (1, 2):
            pre[w].append(bench_throughput(work, zip_dir, w))
        for k in (1, 4):
            e2e[k].append(bench_end_to_end(work, zip_dir, k, 2))

    def median_run(runs: list) -> dict:
        order = sorted(runs, key=lambda r: r["subjects_per_s"])
        return dict(order[len(order) // 2], runs=[r["subjects_per_s"] for r in runs],
                    steady_runs=[r.get("steady_per_s") for r in runs])

    throughput = [median_run(pre[w]) for w in (1, 2)]
    end_to_end = []
    for k in (1, 4):
        e = median_run(e2e[k])
        e["pre_rates"] = [r["subjects_per_s"] for r in pre[2]]
        end_to_end.append(e)
    return throughput, end_to_end


def phantom_lines(ph: dict) -> list[str]:
    return [
        "## Phantom generation",
        "",
        "| what | seconds per subject (each run) | target |",
        "|---|---|---|",
        f"| zip (1,264 DICOM slices + manifest) | {', '.join(f'{v:.2f}' for v in ph['zip_s'])} "
        "| <= 3 |",
        f"| fast path: fused water and fat volumes | "
        f"{', '.join(f'{v:.2f}' for v in ph['fast_volumes_s'])} | <= 0.5 |",
        f"| fast path: volumes and measured truth | "
        f"{', '.join(f'{v:.2f}' for v in ph['fast_s'])} | |",
        "",
    ]


def _load(values: list) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "not available"


def preprocess_lines(pre: dict) -> list[str]:
    """The per-subject section: one worker against the decode and inflate-only floors."""
    s = pre["summary"]
    lines = [
        "## Preprocessing one subject on one worker against the decode floor",
        "",
        f"CPU: {pre['cpu']}. Load average (1 / 5 / 15 min) before this section: "
        f"{_load(pre['load_before'])}; after: {_load(pre['load_after'])}.",
        "",
        "Decode floor: inflate the zip's water and fat members with zlib (what `zipfile` "
        "does) and decode them with pydicom (`pydicom.dcmread` + `pixel_array`). "
        f"Inflate-only floor: only inflate them, with the fastest inflate ({pre['inflate']}, "
        "told each member's size by the zip), without reading a single DICOM tag. The "
        "floors and `preprocess_subject` (zip to 2D image, one process, allocator tuned "
        f"and warmed up as in a worker) are timed in turn on the same zip, {pre['reps']} "
        "times each; the table gives the best run of each (wall clock, and process CPU "
        f"time). mimir's element-wise arithmetic: {pre.get('arithmetic', 'numpy')}; the "
        "numpy-only column runs the same code with the compiled kernels switched off "
        "(`MIMIR_NATIVE=0`, the same images bit for bit), timed in the same turns.",
        "",
        "| zip | decode floor (s) | inflate-only floor (s) | mimir preprocess (s) | mimir, "
        "numpy only (s) | ratio to the decode floor (goal <= 0.8) | ratio to the "
        "inflate-only floor | CPU time: decode floor / mimir (s) | CPU time ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in pre["per_subject"]:
        lines.append(f"| {r['zip']} | {r['floor_s']:.3f} | {r['inflate_s']:.3f} | "
                     f"{r['mimir_s']:.3f} | {r['numpy_s']:.3f} | {r['ratio']:.2f} | "
                     f"{r['inflate_ratio']:.2f} | "
                     f"{r['floor_cpu_s']:.3f} / {r['mimir_cpu_s']:.3f} | "
                     f"{r['cpu_ratio']:.2f} |")
    lines += ["", f"Median over the zips: {s['mimir_s']:.3f} s per subject against a decode "
              f"floor of {s['floor_s']:.3f} s, ratio {s['ratio']:.2f} (CPU time ratio "
              f"{s['cpu_ratio']:.2f}); against the inflate-only floor of "
              f"{s['inflate_s']:.3f} s, ratio {s['inflate_ratio']:.2f}; numpy only: "
              f"{s['numpy_s']:.3f} s. Goal: <= 0.35 s per subject.", ""]
    return lines


def throughput_lines(res: dict) -> list[str]:
    lines = ["## Preprocessing throughput", "",
             "| workers | subjects | subjects/s (median) | each round | after start-up, each "
             "round |", "|---|---|---|---|---|"]
    for t in res["throughput"]:
        steady = t.get("steady_runs") or []
        lines.append(f"| {t['workers']} | {t['subjects']} | {t['subjects_per_s']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in t['runs'])} | "
                     f"{', '.join('-' if v is None else f'{v:.2f}' for v in steady)} |")
    lines += ["", "Subjects per second count the whole job (`mimir.preprocess`, as the "
              "command runs it: starting the worker processes included). After start-up: "
              "the same run once every worker has returned its first subject (the subjects "
              "after that over the time to the last one), the rate a batch of thousands "
              "runs at; a fresh worker's first subject is slower (its memory is not yet "
              "mapped).", "",
              f"Peak memory of a process preprocessing one subject: "
              f"{res['worker_peak_mib']:.0f} MiB (target <= 1,536).", ""]
    return lines


def inference_lines(inf: dict) -> list[str]:
    engine = ("fused oneDNN convolutions: bias, ReLU and shortcut sum in each call, "
              "weights reordered once" if inf.get("fused") else "oneDNN convolutions")
    lines = ["## CPU inference (ResNet50 module, published format)", "",
             f"Batch {inf['batch']}, {inf['threads']} threads, the same images for every "
             f"path; the paths are timed in turn, {inf['reps']} times each (medians).", "",
             "| path | images/s | largest relative difference to eager fp32 |",
             "|---|---|---|",
             f"| eager torchvision ResNet50, fp32, NCHW, no_grad | "
             f"{inf['eager_fp32_ips']:.2f} | 0 |",
             f"| mimir fp32 (inference_mode, channels-last, BatchNorm folded, {engine}; "
             f"one forward pass of {inf['batch']} images) | {inf['mimir_fp32_ips']:.2f} | "
             f"{inf['max_rel_diff']:.1e} |",
             f"| mimir --precision bf16 (opt-in, changes numbers) | {inf['bf16_ips']:.2f} | "
             f"{inf['bf16_max_rel_diff']:.1e} |",
             "", f"Speed-up of the default fp32 path: {inf['speedup']:.2f}x (goal >= 3x, "
             "outputs within 1e-5 relative).", ""]
    if inf.get("sweep_ips"):
        lines += ["`--batch-size` is the number of images in each forward pass. The fp32 "
                  f"engine on {inf.get('sweep_images', 32)} images, that many at a time:",
                  "",
                  "| images per forward pass | " + " | ".join(str(b) for b in inf["sweep_ips"])
                  + " |", "|---|" + "---|" * len(inf["sweep_ips"]),
                  "| images/s | " + " | ".join(f"{v:.2f}" for v in inf["sweep_ips"].values())
                  + " |", ""]
    return lines


def end_to_end_lines(res: dict) -> list[str]:
    inf = res["inference"]
    lines = ["## End to end (`infer` on zips not yet cached)", "",
             "| modules | workers | batch | subjects | subjects/s | slower stage alone "
             "(subjects/s) | ratio (goal >= 0.8) | ratio in each round |",
             "|---|---|---|---|---|---|---|---|"]
    pre_rate = res["throughput"][-1]["subjects_per_s"]
    for e in res["end_to_end"]:
        inf_rate = inf["mimir_fp32_ips"] / e["modules"]
        ratios = [r / min(p, inf_rate) for r, p in zip(e["runs"], e["pre_rates"], strict=True)]
        lines.append(f"| {e['modules']} | {e['workers']} | {e['batch']} | {e['subjects']} | "
                     f"{e['subjects_per_s']:.2f} | {min(pre_rate, inf_rate):.2f} | "
                     f"{float(np.median(ratios)):.2f} | "
                     f"{', '.join(f'{r:.2f}' for r in ratios)} |")
    lines += ["", "Preprocessing throughput and end to end are measured in rounds (1 worker, "
              "2 workers, 1 module, 4 modules, then again), because this shared machine's "
              "speed drifts by up to 20 % within minutes; tables give the median run, and "
              "each round's ratio divides by that round's preprocessing rate.", "",
              "Stage rates: preprocessing is the 2-worker rate in the throughput table; "
              "inference is the fp32 images/s above divided by the number of modules. On a "
              "machine with few cores both stages compete for the same cores, so running "
              "them at the same time cannot add capacity: with preprocessing at P and "
              "inference at I subjects/s on the same cores, even perfect overlap gives "
              "1 / (1/P + 1/I). That bound, as a ratio of the slower stage, is in the table "
              "below. Subjects per second count the whole `infer` call, start-up included "
              "(torch and the networks load while the first subjects are preprocessed), "
              "without `report.html`: the report is built once per run, after the "
              "predictions, and its seconds are the last column (50,000 subjects: "
              "[benchmarks-report.md](benchmarks-report.md)).", "",
              "| modules | bound 1/(1/P+1/I) as a ratio of the slower stage | preprocessing "
              "wall (s) | network time (s) | total (s) | network time hidden behind "
              "preprocessing | report.html (s) |", "|---|---|---|---|---|---|---|"]
    for e in res["end_to_end"]:
        inf_rate = inf["mimir_fp32_ips"] / e["modules"]
        bound = 1 / (1 / pre_rate + 1 / inf_rate) / min(pre_rate, inf_rate)
        t = e["timings"]
        hidden = max(0.0, t["preprocess"] + t["inference"] - t["total"]) / max(
            t["inference"], 1e-9)
        lines.append(f"| {e['modules']} | {bound:.2f} | {t['preprocess']:.1f} | "
                     f"{t['inference']:.1f} | {t['total']:.1f} | {min(hidden, 1):.0%} | "
                     f"{e['report_s']:.1f} |")
    lines.append("")
    return lines


def process_lines(p: dict) -> list[str]:
    return ["## The whole `infer` process against an eager script", "",
            f"`mimir infer --cache CACHE -m MODULE --out OUT --device cpu` on {p['images']} "
            "cached images (defaults: batch size 32, fp32, report.html built), as a user "
            "runs it, against `python benchmarks/eager_infer.py` (torchvision ResNet50, "
            "the same snapshot, batches of 32 under `no_grad`, one CSV row of outputs per "
            "image): each process timed from start to exit, wall clock, in turn, "
            f"{p['rounds']} times each (medians).", "",
            "| process | seconds (median) | each run |", "|---|---|---|",
            f"| eager script | {p['eager_s']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in p['runs']['eager'])} |",
            f"| mimir infer | {p['mimir_s']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in p['runs']['mimir'])} |", "",
            f"Speed-up of the whole process: {p['speedup']:.2f}x (goal >= 2.5x), the "
            "median of the rounds' ratios (eager over mimir, each round timed "
            f"back to back: {', '.join(f'{v:.2f}' for v in p['ratios'])}).", ""]


def report(res: dict, command: str) -> str:
    """The Markdown report of the sections in ``res``."""
    m = res["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Recorded {res['date']} with `{command}` (written by the script; numbers from that "
        "run).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, mimir {m['mimir']}. "
        f"Load average (1 / 5 / 15 min) at the start: {_load(m.get('load', []))}; at the "
        f"end: {_load(res.get('load_end', []))} (other work on a shared machine slows the "
        "figures).",
        "",
    ]
    if "phantoms" in res:
        lines += phantom_lines(res["phantoms"])
    if "preprocess" in res:
        lines += preprocess_lines(res["preprocess"])
    if "throughput" in res:
        lines += throughput_lines(res)
    if "inference" in res:
        lines += inference_lines(res["inference"])
    if "end_to_end" in res and "inference" in res:
        lines += end_to_end_lines(res)
    if "process" in res:
        lines += process_lines(res["process"])
    if res.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    lines += ["GPU figures: [benchmarks-gpu.md](benchmarks-gpu.md), written by "
              "`PYTHONPATH=src python benchmarks/gpu.py` on a GPU machine.", ""]
    return "\n".join(lines)


SECTIONS = ("phantoms", "preprocess", "pipeline", "inference", "process")


def sample_images(work: Path, zips: list[Path], n: int = 16) -> np.ndarray:
    """``n`` 2D images: from the 1-worker throughput run's cache, else made here."""
    cache_dir = work / "cache_w1"
    if cache_dir.exists():
        from mimir.cache.store import Cache

        cache = Cache(cache_dir)
        imgs = np.stack([cache.read_image(name) for name in cache.names()])
    else:
        from mimir.pipeline import preprocess_subject

        imgs = np.stack([preprocess_subject(z).image for z in zips[:4]])
    return np.concatenate([imgs] * int(np.ceil(n / len(imgs))))[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, help="Markdown file to (re)write (every section)")
    ap.add_argument("--subjects", type=int, default=24, help="zips for throughput runs")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                    help="sections to run (pipeline: throughput and end to end)")
    args = ap.parse_args()
    if args.write and set(args.sections) != set(SECTIONS):
        ap.error("--write needs every section")
    work = Path(tempfile.mkdtemp(prefix="mimir-bench-"))
    try:
        res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine()}
        print(f"CPU: {res['machine']['cpu']}; load average {_load(res['machine']['load'])}",
              flush=True)
        if "phantoms" in args.sections:
            print("phantoms ...", flush=True)
            res["phantoms"] = bench_phantoms(work, n_zip=1 if args.quick else 3,
                                             n_fast=2 if args.quick else 6)
        from mimir.phantom.cohort import generate_cohort

        zip_dir = work / "cohort"
        generate_cohort(zip_dir, args.subjects, seed=901)
        zips = sorted(zip_dir.glob("*.zip"))
        if "preprocess" in args.sections:
            print("preprocess ...", flush=True)
            res["preprocess"] = bench_preprocess(work, zips[:2 if args.quick else 3],
                                                 reps=2 if args.quick else 7)
            s = res["preprocess"]["summary"]
            print(f"preprocessing on one worker: {s['mimir_s']:.3f} s per subject, decode "
                  f"floor {s['floor_s']:.3f} s, ratio {s['ratio']:.2f} (CPU: "
                  f"{res['preprocess']['cpu']})", flush=True)
            res["worker_peak_mib"] = worker_peak_memory(zips[0])
        if "pipeline" in args.sections:
            print("throughput and end to end ...", flush=True)
            res["throughput"], res["end_to_end"] = bench_pipeline(
                work, zip_dir, rounds=1 if args.quick else 3)
            if "worker_peak_mib" not in res:
                res["worker_peak_mib"] = worker_peak_memory(zips[0])
        if "inference" in args.sections:
            print("inference ...", flush=True)
            res["inference"] = bench_inference(work, sample_images(work, zips),
                                               batch=8 if args.quick else 16,
                                               reps=1 if args.quick else 5,
                                               sweep_images=8 if args.quick else 32)
        if "process" in args.sections:
            print("whole infer process ...", flush=True)
            res["process"] = bench_process(work, sample_images(work, zips, 24),
                                           n=12 if args.quick else 96,
                                           rounds=1 if args.quick else 5)
        res["load_end"] = load_average()
        command = "make bench" if args.write else "python benchmarks/run.py"
        text = report(res, command)
        (work / "results.json").write_text(json.dumps(res, indent=1, default=str))
        print(text)
        if args.write:
            args.write.write_text(text + "\n")
            (args.write.with_suffix(".json")).write_text(json.dumps(res, indent=1,
                                                                    default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
