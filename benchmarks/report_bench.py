"""Cohort report benchmark: ``make bench`` (or ``python benchmarks/report_bench.py``).

Builds a synthetic ``infer`` output folder of UK Biobank size (50,000 subjects by
default; tables written directly, no networks run) with a cache of 200 images, then
times ``mimir report`` on it (the command, in a fresh process, imports included),
records the size of ``report.html`` and, when Chromium is installed, the time headless
Chromium takes to render it to a screenshot (against a blank page, to show the
browser's own start-up). Writes a Markdown page with the machine, command and figures.

The synthetic folder: two modules (``module_bodycomp``, 16 body-composition targets;
``module_demographics``: age, sex, height, weight), predictions drawn per sex with
per-subject sds, 0.1 % of subjects with wildly wrong predictions (as after a fat/water
swap), QC flags at rates seen in UK Biobank-like data, 1 % failures of several kinds
plus exclusions. The 200 cached images are real phantom images (a few zips made and
preprocessed here, copied under the names the report shows: the outliers and the
sampled subjects of each flag), so the thumbnails compress as real ones do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

#: (name, unit, female mean, male mean, sd, typical predicted sd)
BODYCOMP = [
    ("VAT", "L", 2.2, 4.1, 1.4, 0.12), ("ASAT", "L", 8.0, 6.2, 2.6, 0.2),
    ("liverFat", "%", 3.5, 5.0, 3.0, 0.6), ("liverVolume", "L", 1.4, 1.7, 0.25, 0.08),
    ("pancreasFat", "%", 9.0, 11.0, 5.0, 1.5), ("spleenVolume", "L", 0.15, 0.2, 0.05, 0.02),
    ("kidneyVolume", "L", 0.28, 0.34, 0.05, 0.02), ("thighMuscleL", "L", 4.0, 5.6, 0.7, 0.12),
    ("thighMuscleR", "L", 4.0, 5.6, 0.7, 0.12), ("muscleFat", "%", 7.5, 6.0, 1.6, 0.25),
    ("totalLean", "kg", 42.0, 58.0, 6.0, 1.1), ("totalFat", "kg", 26.0, 22.0, 8.0, 1.0),
    ("trunkFat", "kg", 13.0, 12.5, 4.5, 0.6), ("legFat", "kg", 9.5, 6.5, 2.8, 0.5),
    ("boneMineral", "kg", 2.4, 3.2, 0.4, 0.08), ("android", "%", 38.0, 33.0, 9.0, 1.5),
]
DEMOGRAPHICS = [
    ("age", "years", 63.0, 64.0, 7.5, 4.0), ("sex", "(male = 1)", 0.0, 1.0, 0.0, 0.03),
    ("height", "cm", 162.5, 176.0, 6.5, 1.0), ("weight", "kg", 68.0, 83.0, 13.0, 0.8),
]
#: QC flag -> (share of subjects, detail)
FLAG_RATES = {
    "missing_stations": (0.001, "5 stations"), "fat_water_swap": (0.003, "swap in station 3"),
    "leg_swap": (0.0005, "one-sided swap between stations 5 and 6"),
    "station_gap": (0.0005, "overlaps [12, -2, 13, 13, 12]"),
    "knee_not_covered": (0.03, "bottom ratio 0.52"),
    "small_overlap": (0.01, "overlaps [12, 3, 13, 13, 12]"),
    "superimposed_station": (0.005, ""), "water_fat_crop": (0.002, ""),
    "body_at_lateral_edge": (0.004, ""), "body_at_anterior_edge": (0.02, ""),
    "preprocessing_warning": (0.001, ""),
}
#: failure kind -> share of subjects
FAILURE_RATES = {"corrupt dicom": 0.004, "missing water or fat": 0.003,
                 "inconsistent stations": 0.002, "numerical failure": 0.0005,
                 "limit exceeded": 0.0005, "excluded": 0.004}


def machine() -> dict:
    """CPU model (lscpu), cores, memory, versions."""
    cpu = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cpu = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                    if ln.startswith("Model name")), cpu)
    except (OSError, subprocess.SubprocessError):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import mimir

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "mimir": mimir.__version__}


def _phantom_cache(work: Path) -> dict:
    """Real images and sidecars: clean, swapped (station 3) and knee-cut phantoms."""
    import mimir
    from mimir.cache.store import Cache
    from mimir.phantom.cohort import generate_cohort
    from mimir.phantom.variants import Variants

    kinds = {"clean": Variants(), "swap": Variants(swap=3), "knee": Variants(knee_cut=True)}
    res = {}
    for i, (kind, var) in enumerate(kinds.items()):
        z = work / f"zips_{kind}"
        generate_cohort(z, 2 if kind == "clean" else 1, seed=40 + i, variants=var)
        mimir.preprocess([z], work / f"cache_{kind}")
        c = Cache(work / f"cache_{kind}")
        res[kind] = [(c.image_path(n).read_bytes(), c.read_entry(n)) for n in c.names()]
    return res


def make_output(folder: Path, n: int = 50_000, cached: int = 200, seed: int = 0,
                work: Path | None = None) -> dict:
    """Write a synthetic ``infer`` output folder (see the module docstring).

    Parameters
    ----------
    folder : Path
        The output folder (created; its ``cache/`` holds the images).
    n : int
        Subjects.
    cached : int
        Images in the cache.
    seed : int
    work : Path, optional
        Scratch folder for the phantom zips (default: inside ``folder``).

    Returns
    -------
    dict
        ``subjects``, ``rows``, ``targets``, ``cached``, ``seconds``.
    """
    from mimir.cache.store import Cache, CacheEntry
    from mimir.report.build import OUTLIERS_SHOWN, QC_SHOWN
    from mimir.report.stats import find_outliers, shuffled

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = np.array([f"{1_000_000 + 7 * i}_20201_{2 + (i % 9 == 0)}_0" for i in range(n)])
    fail_kind = np.full(n, "", dtype=object)
    u = rng.random(n)
    edge = 0.0
    for kind, rate in FAILURE_RATES.items():
        fail_kind[(u >= edge) & (u < edge + rate)] = kind
        edge += rate
    ok = fail_kind == ""
    pred_names = names[ok]
    m = len(pred_names)
    male = rng.random(m) < 0.47
    broken = rng.random(m) < 0.001          # wildly wrong predictions (e.g. swaps)
    flags = {}
    for flag, (rate, _) in FLAG_RATES.items():
        flags[flag] = rng.random(m) < rate
    flags["fat_water_swap"] |= broken
    table = {"name": pred_names}
    fail = np.zeros(m, dtype=bool)
    for f in ("missing_stations", "fat_water_swap", "leg_swap", "station_gap",
              "knee_not_covered"):
        fail |= flags[f]
    raised = [";".join(f for f in FLAG_RATES if flags[f][i]) for i in range(m)]
    table["qc_pass"] = ~fail
    table["qc_flags"] = raised
    published = {}
    for module, targets in (("module_bodycomp", BODYCOMP), ("module_demographics",
                                                            DEMOGRAPHICS)):
        cols = {"name": pred_names}
        for name, unit, fmean, mmean, sd, psd in targets:
            if name == "sex":
                mean = np.where(male, 1.0, 0.0) + rng.normal(0, 0.03, m)
            else:
                mu = np.where(male, mmean, fmean)
                cv = sd / mu                       # skewed and positive, as volumes are
                s_ln = np.sqrt(np.log1p(cv ** 2))
                mean = mu * np.exp(rng.normal(-s_ln ** 2 / 2, s_ln))
                mean = np.where(broken, mean + rng.choice([-1, 1], m) * 6 * sd, mean)
            s = psd * rng.lognormal(0, 0.25, m) * np.where(broken, 4.0, 1.0)
            var = s ** 2
            table[f"{name}_mean_in_{unit}"] = mean
            table[f"{name}_sd_in_{unit}"] = s
            table[f"{name}_variance_in_{unit}"] = var
            table[f"{name}_lower95_in_{unit}"] = mean - 1.959963984540054 * s
            table[f"{name}_upper95_in_{unit}"] = mean + 1.959963984540054 * s
            table[f"{name}_uncertain"] = s > psd * 1.8
            cols[f"{name}_mean_in_{unit}"] = mean
            cols[f"{name}_variance_in_{unit}"] = var
        published[module] = pd.DataFrame(cols)
    df = pd.DataFrame(table)
    df.to_csv(folder / "predictions.csv", index=False)
    df.to_parquet(folder / "predictions.parquet", index=False)
    for module, pub in published.items():
        (folder / module).mkdir(exist_ok=True)
        pub.to_csv(folder / module / "predictions.csv", index=False)
    qc = pd.DataFrame({"name": pred_names, "qc_pass": ~fail, "qc_flags": raised,
                       "qc_detail": ["; ".join(FLAG_RATES[f][1] for f in FLAG_RATES
                                               if flags[f][i] and FLAG_RATES[f][1])
                                     for i in range(m)],
                       **{f: flags[f] for f in FLAG_RATES}})
    qc.to_csv(folder / "qc.csv", index=False)
    rows = []
    for i in np.flatnonzero(~ok):
        kind, nm = fail_kind[i], names[i]
        msg = {"corrupt dicom": f"subject {nm}: member water/{i}.dcm: not a DICOM file",
               "missing water or fat": f"subject {nm}: station 4 has no fat series",
               "inconsistent stations": f"subject {nm}: stations differ in columns (224, "
                                        "192)",
               "numerical failure": f"subject {nm}: no finite image",
               "limit exceeded": f"subject {nm}: zip member larger than 64 MiB",
               "excluded": "excluded by artefacts.csv"}[kind]
        rows.append({"name": nm, "path": f"/data/zips/{nm}.zip", "kind": kind,
                     "member": "", "message": msg})
    pd.DataFrame(rows, columns=["name", "path", "kind", "member", "message"]).to_csv(
        folder / "failures.csv", index=False)

    # the cache: the subjects the report shows (outliers, sampled flagged subjects)
    show: list[str] = []
    for c in df.columns:
        if c.endswith("_mean_in_(male = 1)") or "_mean_in_" not in c:
            continue
        idx, _ = find_outliers(df[c].to_numpy())
        show += list(pred_names[idx[:OUTLIERS_SHOWN]])
    for f in FLAG_RATES:
        show += shuffled(list(pred_names[flags[f]]))[:QC_SHOWN]
    show = list(dict.fromkeys(show))
    chosen = set(show)
    rest = [x for x in shuffled(list(pred_names), seed=1) if x not in chosen]
    show = (show + rest)[:cached]
    images = _phantom_cache(work or folder / "phantoms")
    cache = Cache(folder / "cache")
    pos = {nm: i for i, nm in enumerate(pred_names)}
    import io

    for k, nm in enumerate(show):
        i = pos[nm]
        kind = ("swap" if flags["fat_water_swap"][i] or flags["leg_swap"][i] else
                "knee" if flags["knee_not_covered"][i] else "clean")
        raw, entry = images[kind][k % len(images[kind])]
        facts = dict(entry.facts)
        if flags["small_overlap"][i] or flags["station_gap"][i]:
            o = 3 if flags["small_overlap"][i] else -2
            sl = [list(x) for x in facts["station_slices"]]
            shift = sl[1][1] - o - sl[2][0]
            for j in range(2, len(sl)):
                sl[j] = [sl[j][0] + shift, sl[j][1] + shift]
            facts["station_slices"] = sl
            facts["overlaps"] = [facts["overlaps"][0], o] + list(facts["overlaps"][2:])
        img = np.load(io.BytesIO(raw), allow_pickle=False)
        cache.write(img, CacheEntry(name=nm, source=f"/data/zips/{nm}.zip",
                                    warnings=entry.warnings, facts=facts))
    (folder / ".mimir").mkdir(exist_ok=True)
    modules = [{"name": mod, "path": f"/modules/{mod}", "backbone": "resnet50",
                "targets": len(t), "snapshot_sha256": f"{i + 1:x}" * 64}
               for i, (mod, t) in enumerate((("module_bodycomp", BODYCOMP),
                                             ("module_demographics", DEMOGRAPHICS)))]
    state = {"modules": [x["name"] for x in modules], "batch_size": 32, "shard": None,
             "ci": 0.95, "qc": "warn", "cache": str((folder / "cache").resolve())}
    (folder / ".mimir" / "state.json").write_text(json.dumps(state, indent=1))
    n_fail = int((~ok).sum())
    run = {"engine": "mimir synthetic", "command": "mimir infer /data/zips -m "
           "module_bodycomp module_demographics -o /data/out --workers 16",
           "python": platform.python_version(), "torch": "-", "backend": "local",
           "device": "cuda", "threads": 16, "precision": "fp32", "compile": False,
           "batch_size": 32, "ci": 0.95, "qc": "warn", "shard": None,
           "qc_failed_not_predicted": [], "modules": modules, "module_failures": [],
           "counts": {"subjects": n, "predicted_this_run": m, "rows": m,
                      "failed": n_fail, "excluded": int((fail_kind == "excluded").sum())},
           "timings_s": {"preprocess": 41_000.0, "inference": 1_900.0, "wait": 12.0,
                         "total": 41_300.0}, "complete": True}
    (folder / "run.json").write_text(json.dumps(run, indent=1))
    return {"subjects": n, "rows": m, "targets": len(BODYCOMP) + len(DEMOGRAPHICS),
            "cached": len(show), "seconds": time.perf_counter() - t0}


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_shot(page: Path, shot: Path, profile: Path, height: int = 4000) -> float:
    """Seconds for headless Chromium to start, load ``page`` and write a screenshot."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size=1280,{height}", f"--screenshot={shot}"]
    t0 = time.perf_counter()
    subprocess.run([browser(), *flags, page.resolve().as_uri()], capture_output=True,
                   timeout=300, check=True)
    dt_ = time.perf_counter() - t0
    if not shot.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {page}")
    return dt_


def run_bench(n: int, cached: int, rounds: int, work: Path,
              screenshot: Path | None = None) -> dict:
    out = work / "out"
    made = make_output(out, n=n, cached=cached, work=work / "phantoms")
    mimir_cmd = Path(sys.executable).parent / "mimir"
    cmd = [str(mimir_cmd), "report", str(out)]
    # GNU time reports the command's own peak memory (a child forked from this large
    # process would inherit its resident size in the figure)
    gnu_time = Path("/usr/bin/time")
    wrap = [str(gnu_time), "-f", "maxrss_kib %M"] if gnu_time.is_file() else []
    times, peaks = [], []
    load = os.getloadavg()[0]
    for _ in range(rounds):
        t0 = time.perf_counter()
        done = subprocess.run(wrap + cmd, check=True, capture_output=True, text=True,
                              timeout=600)
        times.append(time.perf_counter() - t0)
        peaks += [int(ln.split()[1]) / 1024 for ln in done.stderr.splitlines()
                  if ln.startswith("maxrss_kib ")]
    peak = max(peaks) if peaks else float("nan")
    page = out / "report.html"
    text = page.read_text(encoding="utf-8")
    res = {"made": made, "build_s": times, "load_before": load, "peak_mib": peak,
           "size_bytes": page.stat().st_size,
           "images": text.count("background-image:url(data:image/png"),
           "plots": text.count("<svg class='plot'")}
    if browser():
        blank = work / "blank.html"
        blank.write_text("<!doctype html><title>blank</title><p>blank</p>")
        base, render = [], []
        for r in range(rounds):
            base.append(chromium_shot(blank, work / f"blank{r}.png", work / f"p{r}b"))
            render.append(chromium_shot(page, work / f"shot{r}.png", work / f"p{r}"))
        res["chromium_s"], res["chromium_blank_s"] = render, base
        if screenshot is not None:
            chromium_shot(page, screenshot, work / "pshot", height=4200)
            # the later sections, seen by hiding the ones before them in a copy
            for part, hide, height in (("outliers", "#targets,#distributions", 2000),
                                       ("qc", "#targets,#distributions,#outliers", 2800)):
                view = work / f"view-{part}.html"
                view.write_text(text.replace("</style>", f"{hide}{{display:none}}</style>", 1),
                                encoding="utf-8")
                chromium_shot(view, screenshot.with_name(f"{screenshot.stem}-{part}.png"),
                              work / f"pshot-{part}", height=height)
    return res


def markdown(res: dict, info: dict, command: str) -> str:
    made = res["made"]
    b = res["build_s"]
    lines = [
        "# Cohort report benchmark",
        "",
        f"Recorded {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}` "
        "(written by the script; numbers from that run).",
        "",
        f"Machine: {info['cpu']} (lscpu model name), {info['cores']} cores, "
        f"{info['memory_gib']} GiB; Python {info['python']}, mimir {info['mimir']}. One-minute load average when "
        f"the timings started: {res['load_before']:.1f} (the cores are shared with other "
        "work, so times are upper bounds).",
        "",
        f"Synthetic `infer` output folder: {made['subjects']:,} subjects, "
        f"{made['rows']:,} predicted (the rest failed or excluded), {made['targets']} "
        f"targets in 2 modules, QC flags and failures at UK Biobank-like rates, "
        f"{made['cached']} cached images (real phantom images under the names the report "
        "shows). Tables are written directly; no network runs.",
        "",
        "| what | figure | goal |",
        "|---|---|---|",
        f"| `mimir report OUT` wall time, fresh process (s, each round) | "
        f"{', '.join(f'{x:.1f}' for x in b)} (median {statistics.median(b):.1f}) | < 60 |",
        f"| peak memory of `mimir report` (MiB) | {res['peak_mib']:.0f} | |",
        f"| report.html size (MB) | {res['size_bytes'] / 1e6:.2f} | < 10 |",
        f"| thumbnails embedded / figures | {res['images']} / {res['plots']} | |",
    ]
    if "chromium_s" in res:
        c, z = res["chromium_s"], res["chromium_blank_s"]
        lines += [
            f"| headless Chromium: start, render, screenshot (s, each round) | "
            f"{', '.join(f'{x:.1f}' for x in c)} (median {statistics.median(c):.1f}) | < 5 |",
            f"| the same for a blank page (browser start-up alone) | "
            f"{', '.join(f'{x:.1f}' for x in z)} | |",
        ]
    else:
        lines.append("| headless Chromium | not installed; not measured | < 5 |")
    lines += ["", "Chromium command: `chromium --headless --no-sandbox --disable-gpu "
              "--hide-scrollbars --window-size=1280,4000 --screenshot=FILE file://...` "
              "(plus the flags that keep it offline), timed from start to exit.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="subjects")
    ap.add_argument("--cached", type=int, default=200, help="images in the cache")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", type=Path, help="Markdown page to write")
    ap.add_argument("--screenshot", type=Path, help="also save screenshots of the report: "
                    "its top, and its outliers and QC sections (STEM-outliers.png, "
                    "STEM-qc.png)")
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()
    command = "python benchmarks/report_bench.py " + " ".join(sys.argv[1:])
    if Path(sys.argv[0]).name == "report_bench.py" and os.environ.get("MAKELEVEL"):
        command = "make bench"
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        work = args.keep
        res = run_bench(args.n, args.cached, args.rounds, work, args.screenshot)
    else:
        with tempfile.TemporaryDirectory(prefix="mimir-report-bench-") as tmp:
            res = run_bench(args.n, args.cached, args.rounds, Path(tmp), args.screenshot)
    info = machine()
    text = markdown(res, info, command)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        args.write.with_suffix(".json").write_text(json.dumps(
            {"machine": info, **res}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
