"""A preprocessing worker that dies (killed, out of memory) loses no subject."""

from __future__ import annotations

import os
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


def test_killed_worker_is_replaced_and_no_subject_lost(phantom_dir, tmp_path):
    killed: list[int] = []
    stop = threading.Event()

    def killer():
        while not stop.is_set() and not killed:
            pids = _spawned_workers()
            if pids:
                time.sleep(1.0)  # let it start on a subject
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        summary = mimir.preprocess([phantom_dir], tmp_path / "cache", workers=2)
    finally:
        stop.set()
        t.join(5)
    assert killed, "the test did not manage to kill a worker"
    assert summary.count("done") == 3 and not summary.failed
    cache = Cache(tmp_path / "cache")
    for z in sorted(phantom_dir.glob("*.zip")):
        name = z.name.split(".")[0]
        assert np.array_equal(cache.read_image(name), preprocess_subject(z).image)


def test_script_without_main_guard_gets_a_message_saying_so(phantom_dir, tmp_path):
    """Spawned workers import the calling script; without the guard every worker dies."""
    import subprocess
    import sys

    import pandas as pd

    zips = sorted(phantom_dir.glob("*.zip"))[:2]
    script = tmp_path / "unguarded.py"
    script.write_text("import mimir\n"
                      f"mimir.preprocess({[str(z) for z in zips]!r}, {str(tmp_path / 'c')!r}, "
                      "workers=2)\n")
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                   timeout=300)
    failures = pd.read_csv(tmp_path / "c" / "failures.csv")
    assert len(failures) == 2
    assert failures["message"].str.contains('if __name__ == "__main__"', regex=False).all()
