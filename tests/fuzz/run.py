"""Run fuzz cases and summarise them: ``python -m tests.fuzz.run --cases N``.

Cases ``first .. first + cases - 1`` run in ``--workers`` processes (each loads the
base subjects once); each worker reports its peak resident memory (:func:`peak_rss`),
which covers every case it ran and its own copy of the base subjects. Prints a JSON
summary (``--json FILE`` also writes it) and exits 1 when any case is a violation or
a worker's peak memory reaches :data:`MEMORY_BOUND`. ``--write FILE`` replaces the figures between the
``fuzz-figures`` markers of a Markdown file (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

#: Peak resident memory a worker may reach (bytes).
MEMORY_BOUND = 3 * 10**9
START = "<!-- fuzz-figures:start -->"
END = "<!-- fuzz-figures:end -->"

_BASES: dict = {}


def peak_rss() -> int:
    """Peak resident memory of this process in bytes.

    Linux's ``VmHWM`` (high-water mark of this process's own address space) where
    there is one: ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a process started
    from a large one (pytest) would report its parent's size.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_chunk(seeds: list[int], bases_dir: str, workdir: str) -> tuple[list[dict], int]:
    """Run some cases in this process; return their outcomes and the peak memory."""
    from tests.fuzz.engine import load_bases, run_case

    if bases_dir not in _BASES:
        _BASES.clear()
        _BASES[bases_dir] = load_bases(Path(bases_dir))
    out = [asdict(run_case(s, _BASES[bases_dir], Path(workdir))) for s in seeds]
    return out, peak_rss()


def cpu_model() -> str:
    """The CPU model as ``lscpu`` names it."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in text.splitlines():
        if line.strip().startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def examples(outcomes: list[dict], n: int = 3) -> dict:
    """The first ``n`` cases of each failure kind and of ``announced`` (to rerun one:
    ``--first SEED --cases 1``)."""
    out: dict = {}
    for o in outcomes:
        key = o["kind"] if o["outcome"] == "failed" else o["outcome"]
        if key in ("equal",) or len(out.setdefault(key, [])) >= n:
            continue
        out[key].append({k: o[k] for k in ("seed", "base", "family", "detail", "message",
                                           "warnings")})
    return {k: v for k, v in out.items() if v}


def summarise(outcomes: list[dict], peak: int, seconds: float, workers: int,
              first: int) -> dict:
    """Counts of a run."""
    failed = Counter(o["kind"] for o in outcomes if o["outcome"] == "failed")
    return {
        "cases": len(outcomes),
        "first_seed": first,
        "workers": workers,
        "outcomes": dict(Counter(o["outcome"] for o in outcomes)),
        "failed_by_kind": dict(sorted(failed.items())),
        "by_family": {f: dict(Counter(o["outcome"] for o in outcomes if o["family"] == f))
                      for f in sorted({o["family"] for o in outcomes})},
        "by_base": dict(Counter(o["base"] for o in outcomes)),
        "violations": [o for o in outcomes if o["violation"]],
        "examples": examples(outcomes),
        "peak_rss_bytes": peak,
        "slowest_case_s": round(max((o["seconds"] for o in outcomes), default=0.0), 2),
        "seconds": round(seconds, 1),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
    }


def run(cases: int, first: int = 0, workers: int = 1, bases_dir: str | None = None,
        chunk: int = 25, progress=None) -> dict:
    """Run cases ``first .. first + cases - 1`` and summarise them."""
    from tests.fuzz.engine import build_bases

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mimir-fuzz-") as tmp:
        bases = str(build_bases(bases_dir or Path(tmp) / "bases"))
        seeds = list(range(first, first + cases))
        chunks = [seeds[i:i + chunk] for i in range(0, len(seeds), chunk)]
        outcomes: list[dict] = []
        peak = 0
        if workers <= 1:
            for c in chunks:
                out, rss = run_chunk(c, bases, str(Path(tmp) / "w0"))
                outcomes += out
                peak = max(peak, rss)
                if progress:
                    progress(len(outcomes), cases)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futs = [pool.submit(run_chunk, c, bases, str(Path(tmp) / f"w{k}"))
                        for k, c in enumerate(chunks)]
                for fut in as_completed(futs):
                    out, rss = fut.result()
                    outcomes += out
                    peak = max(peak, rss)
                    if progress:
                        progress(len(outcomes), cases)
    outcomes.sort(key=lambda o: o["seed"])
    return summarise(outcomes, peak, time.perf_counter() - t0, workers, first)


def markdown(summary: dict, command: str) -> str:
    """The figures block of docs/reliability.md."""
    s = summary
    oc = s["outcomes"]
    lines = [
        f"Command: `{command}`; {s['cases']} cases (seeds {s['first_seed']} to "
        f"{s['first_seed'] + s['cases'] - 1}), {s['workers']} worker processes, "
        f"{s['seconds'] / 60:.1f} min on {s['cores']} cores of an {s['cpu']} "
        "(shared with other work).",
        "",
        "| outcome | cases |",
        "|---|---|",
        f"| cached, image equal to the base subject's | {oc.get('equal', 0)} |",
        f"| cached, irregularity announced by a warning | {oc.get('announced', 0)} |",
        f"| failed with a named kind | {oc.get('failed', 0)} |",
        f"| violations | {len(s['violations'])} |",
        "",
        "| failure kind | cases |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in s["failed_by_kind"].items()]
    lines += ["", "| family | equal | announced | failed |", "|---|---|---|---|"]
    for fam, c in s["by_family"].items():
        lines.append(f"| {fam} | {c.get('equal', 0)} | {c.get('announced', 0)} | "
                     f"{c.get('failed', 0)} |")
    lines += ["", f"Peak resident memory of a worker process: "
              f"{s['peak_rss_bytes'] / 2**20:.0f} MiB (bound {MEMORY_BOUND / 1e9:.0f} GB); "
              f"slowest case {s['slowest_case_s']} s."]
    return "\n".join(lines)


def write_figures(path: Path, block: str) -> None:
    """Replace the text between the figure markers of ``path``."""
    text = path.read_text()
    a, b = text.index(START) + len(START), text.index(END)
    path.write_text(text[:a] + "\n" + block + "\n" + text[b:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--first", type=int, default=0, help="first case seed")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bases", help="folder for the base subjects (kept; default: temporary)")
    ap.add_argument("--json", type=Path, help="also write the summary here")
    ap.add_argument("--write", type=Path, help="Markdown file whose figures to replace")
    ap.add_argument("--command", default=None, help="command shown in the figures")
    args = ap.parse_args(argv)

    def progress(done, total):
        print(f"\r{done}/{total} cases", end="", file=sys.stderr, flush=True)

    summary = run(args.cases, args.first, args.workers, args.bases, progress=progress)
    print(file=sys.stderr)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    if args.write:
        cmd = args.command or "python -m tests.fuzz.run " + " ".join(argv or sys.argv[1:])
        write_figures(args.write, markdown(summary, cmd))
    ok = not summary["violations"] and summary["peak_rss_bytes"] < MEMORY_BOUND
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
