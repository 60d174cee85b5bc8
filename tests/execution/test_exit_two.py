"""Exit status 2 (a usage error) leaves nothing on disk, whatever the path to it; too many
--workers are capped to the CPUs, with a note."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.limits import usable_cpus

runner = CliRunner()


def _tree(root: Path) -> dict:
    """Every file (size, time) and folder under ``root``."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            if p.is_file() else "folder" for p in root.rglob("*")}


@pytest.fixture
def done_run(tmp_path, cached, module18) -> Path:
    out = tmp_path / "done"
    mimir.infer([], cached, [module18], out, 2, device="cpu", report=False)
    return out


def _cases(tmp, cached, module18, done_run):
    new = str(tmp / "new" / "deeper" / "out")
    base = ["infer", "--cache", str(cached), "-m", str(module18)]
    return {
        "no GPU": base + ["-o", new, "--device", "cuda"],
        "no GPU on the cluster": base + ["-o", new, "--device", "cuda", "--cluster",
                                         "local:1"],
        "bad level": base + ["-o", new, "--ci", "1.5"],
        "a module that does not exist": ["infer", "--cache", str(cached), "-m",
                                         str(tmp / "module_none"), "-o", new],
        "results there, no --resume": base + ["-o", str(done_run)],
        "resume with another batch size": base + ["-o", str(done_run), "--resume", "-b", "3"],
        "workers on a cluster": base + ["-o", new, "--workers", "2", "--cluster", "local:1"],
        "resume and overwrite": base + ["-o", new, "--resume", "--overwrite"],
        "new cache, no inputs": ["infer", "--cache", str(tmp / "new_cache"), "-m",
                                 str(module18), "-o", new],
    }


def test_every_usage_error_leaves_the_disk_as_it_was(tmp_path, cached, module18, done_run):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    for what, argv in _cases(tmp_path, cached, module18, done_run).items():
        before = _tree(tmp_path), _tree(cached)
        res = runner.invoke(app, argv)
        assert res.exit_code == 2, (what, res.output)
        assert (_tree(tmp_path), _tree(cached)) == before, what


def test_too_many_workers_are_capped_with_a_note(tmp_path, phantom_dir, module18):
    many = usable_cpus() + 5
    notes = []
    s = mimir.infer([phantom_dir], tmp_path / "cache", [module18], tmp_path / "out", 2,
                    device="cpu", workers=many, report=False, log=notes.append)
    assert s.ok and s.predicted == 3
    assert any(f"--workers {many}" in n and f"{usable_cpus()} CPUs" in n for n in notes)
    res = runner.invoke(app, ["preprocess", str(phantom_dir), "--cache",
                              str(tmp_path / "c2"), "--workers", str(many)])
    assert res.exit_code == 0, res.output
    assert f"{usable_cpus()} CPUs" in " ".join(res.output.split())
    assert os.cpu_count()  # the cap is the CPUs this process may use
