"""A preprocessing worker that dies (killed, out of memory) loses no subject."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np

import mimir
from mimir.cache.store import Cache
from mimir.pipeline import preprocess_subject


def _spawned_workers() -> list[int]:
    """Worker processes of this test process (spawn children, not the tracker)."""
    me = os.getpid()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and "spawn_main" in cmd:
            pids.append(int(d.name))
    return pids


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_killed_worker_is_replaced_and_no_subject_lost(phantom_dir, tmp_path):
    # 12 subjects (the 3 phantoms and copies under other names): about 2 s of work per
    # worker, so that a worker is still busy when it is killed
    inputs = tmp_path / "zips"
    inputs.mkdir()
    originals = sorted(phantom_dir.glob("*.zip"))
    copies = {}
    for k in range(4):
        for z in originals:
            eid, rest = z.name.split("_", 1)
            name = f"{int(eid) + 1000 * k}_{rest}"
            shutil.copyfile(z, inputs / name)
            copies[name.split(".")[0]] = z
    killed: list[int] = []
    stop = threading.Event()

    def killer():
        while not stop.is_set() and not killed:
            # a worker that has used 0.6 s of CPU has imported what it needs (about
            # 0.3 s) and is preprocessing a subject
            for pid in _spawned_workers():
                if _cpu_seconds(pid) >= 0.6:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass
                    break
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        summary = mimir.preprocess([inputs], tmp_path / "cache", workers=2)
    finally:
        stop.set()
        t.join(5)
    assert killed, "the test did not manage to kill a worker"
    assert summary.count("done") == len(copies) and not summary.failed
    cache = Cache(tmp_path / "cache")
    images = {z: preprocess_subject(z).image for z in originals}
    for name, z in copies.items():
        assert np.array_equal(cache.read_image(name), images[z]), name


def test_script_without_main_guard_gets_a_message_saying_so(phantom_dir, tmp_path):
    """Spawned workers import the calling script; without the guard every worker dies."""
    import subprocess
    import sys

    import pandas as pd

    zips = sorted(phantom_dir.glob("*.zip"))[:2]
    script = tmp_path / "unguarded.py"
    script.write_text("import mimir\n"
                      f"mimir.preprocess({[str(z) for z in zips]!r}, {str(tmp_path / 'c')!r}, "
                      f"workers=2, out={str(tmp_path / 't')!r})\n")
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                   timeout=300)
    failures = pd.read_csv(tmp_path / "t" / "failures.csv")
    assert len(failures) == 2
    assert failures["message"].str.contains('if __name__ == "__main__"', regex=False).all()


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_workers_die_with_a_killed_parent(phantom_dir, tmp_path):
    """kill -9 of mimir: its preprocessing workers stop within a few seconds."""
    import subprocess
    import sys

    zips = sorted(phantom_dir.glob("*.zip"))
    d = tmp_path / "zips"
    d.mkdir()
    for i in range(12):  # enough work that the workers are busy when the parent dies
        (d / f"{1000000 + i}_20201_2_0.zip").symlink_to(zips[i % len(zips)])
    proc = subprocess.Popen([sys.executable, "-c", "from mimir.cli import main; main()",
                             "preprocess", str(d), "--cache", str(tmp_path / "cache"),
                             "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and len(workers) < 2:
        workers = [p for p in _children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        time.sleep(0.1)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(1.5)  # let them start on subjects
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    t0 = time.time()
    while time.time() - t0 < 10 and any(_alive(p) for p in workers):
        time.sleep(0.1)
    gone_after = time.time() - t0
    for p in workers:  # never leave strays behind, whatever the outcome
        if _alive(p):
            os.kill(p, signal.SIGKILL)
    assert gone_after < 5, f"workers outlived their parent by {gone_after:.1f} s"
