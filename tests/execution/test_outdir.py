"""The output folder: one run at a time, --overwrite removes only MIMIR's files, clear
errors for unusable folders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pandas as pd
import pytest
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.errors import UsageError
from mimir.execution.outdir import RunLock

runner = CliRunner()


def _infer(out, cached, module18, **kw):
    return mimir.infer([], cached, [module18], out, 2, device="cpu", threads=1, **kw)


def test_second_run_on_a_locked_folder_is_refused(tmp_path, cached, module18):
    out = tmp_path / "out"
    entered, release = threading.Event(), threading.Event()
    result = {}

    def hold(_n):  # the first run pauses after its first chunk, holding the lock
        entered.set()
        release.wait(60)

    t = threading.Thread(target=lambda: result.setdefault(
        "a", _infer(out, cached, module18, on_batch=hold)))
    t.start()
    try:
        assert entered.wait(120)
        lock = json.loads((out / ".mimir" / "lock").read_text())
        assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname()
        for flags in ([], ["--resume"], ["--overwrite"]):
            res = runner.invoke(app, ["infer", "--cache", str(cached), "-m", str(module18),
                                      "-o", str(out), "--device", "cpu", *flags])
            assert res.exit_code == 2, res.output
            assert "in use by another mimir run" in " ".join(res.output.split())
    finally:
        release.set()
        t.join(120)
    assert result["a"].ok and result["a"].predicted == 3
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["rows"] == 3 == len(pd.read_csv(out / "predictions.csv"))
    assert not (out / ".mimir" / "lock").exists()  # released


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, cached, module18):
    out = tmp_path / "out"
    (out / ".mimir").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / ".mimir" / "lock").write_text(json.dumps(
        {"pid": int(dead), "host": socket.gethostname(), "since": "yesterday"}))
    messages = []
    lock = RunLock(out, log=messages.append)
    lock.acquire()
    assert "taking over the lock of a run that is gone" in messages[0]
    lock.release()
    assert _infer(out, cached, module18).ok


def test_lock_held_on_another_host_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / ".mimir").mkdir(parents=True)
    (out / ".mimir" / "lock").write_text(json.dumps({"pid": 1, "host": "elsewhere-node",
                                                     "since": "now"}))
    with pytest.raises(UsageError, match="elsewhere-node"):
        RunLock(out).acquire()


def test_overwrite_removes_only_what_mimir_wrote(tmp_path, cached, module18):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    # the user's own files, some inside MIMIR's module folder and a folder of their own
    # holding a file named predictions.csv
    (out / "notes.txt").write_text("mine")
    (out / "module_small" / "my_plot.png").write_bytes(b"png")
    (out / "analysis").mkdir()
    (out / "analysis" / "predictions.csv").write_text("name\nmine\n")
    assert _infer(out, cached, module18, overwrite=True).ok
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "module_small" / "my_plot.png").read_bytes() == b"png"
    assert (out / "analysis" / "predictions.csv").read_text() == "name\nmine\n"
    assert len(pd.read_csv(out / "predictions.csv")) == 3
    assert json.loads((out / "run.json").read_text())["files"][0] == "predictions.csv"


def test_files_mimir_did_not_write_are_never_replaced(tmp_path, cached, module18):
    out = tmp_path / "out"
    out.mkdir()
    (out / "qc.csv").write_text("the user's qc\n")
    with pytest.raises(UsageError, match="did not write"):
        _infer(out, cached, module18, overwrite=True)
    assert (out / "qc.csv").read_text() == "the user's qc\n"
    (out / "qc.csv").unlink()
    (out / "readme.txt").write_text("mine")  # unrelated files may share the folder
    assert _infer(out, cached, module18).ok
    assert (out / "readme.txt").read_text() == "mine"


def test_output_naming_a_file_is_a_clear_error(tmp_path, cached, module18):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    res = runner.invoke(app, ["infer", "--cache", str(cached), "-m", str(module18), "-o",
                              str(a_file), "--device", "cpu"])
    assert res.exit_code == 2 and "is not a folder" in res.output
    assert a_file.read_text() == "x"


@pytest.fixture
def read_only(tmp_path):
    """A folder this process cannot write in: a mode-0500 folder, or for root (whom
    permissions do not stop) a folder of the kernel's sysfs."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        yield ro
        ro.chmod(0o700)
    else:
        from pathlib import Path

        yield Path("/sys/kernel")


def test_read_only_output_and_cache_folders(tmp_path, cached, module18, phantom_dir,
                                            read_only):
    res = runner.invoke(app, ["infer", "--cache", str(cached), "-m", str(module18), "-o",
                              str(read_only / "mimir-out"), "--device", "cpu"])
    assert res.exit_code == 2 and "cannot write to output folder" in res.output, res.output
    res = runner.invoke(app, ["infer", str(phantom_dir), "--cache",
                              str(read_only / "mimir-cache"), "-m", str(module18), "-o",
                              str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 2 and "cannot write to cache folder" in res.output, res.output
    res = runner.invoke(app, ["preprocess", str(phantom_dir), "--cache",
                              str(read_only / "mimir-cache")])
    assert res.exit_code == 2 and "cannot write to cache folder" in res.output, res.output
