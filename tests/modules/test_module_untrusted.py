"""Module metadata is not trusted (issue #26, items 5 and 6): checks are linear in the
number of targets, sizes are capped with clear errors, an interrupted install leaves
nothing behind, the snapshot's output width must fit the targets, and a damaged module
zip is a ModuleFormatError, never a traceback."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import torch

import mimir.modules.registry as registry
from mimir.errors import ModuleFormatError
from mimir.modules.format import MAX_TARGETS, load_module
from mimir.modules.registry import install
from mimir.modules.snapshot import check_head
from tests.modules.module_factory import THREE_TARGETS, write_module
from tests.zipbytes import central_entry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return write_module(tmp_path_factory.mktemp("m") / "module_good", **THREE_TARGETS,
                        backbone="resnet18")


def _leftovers() -> list[str]:
    root = registry.modules_dir()
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def _text_module(folder: Path, n: int) -> Path:
    """A module folder with ``n`` targets (an empty snapshot: load_module does not read
    it)."""
    folder.mkdir(parents=True)
    rows = "".join(f"target_{i},{i},L,1\n" for i in range(n))
    (folder / "metadata.txt").write_text("Name,Field,Unit,Divisor\n" + rows)
    (folder / "standardization_parameters.txt").write_text(
        "stand_mean,stand_stdev\n" + "1.5,0.5\n" * n)
    (folder / "calibration_factors.txt").write_text("calibration_factor\n" + "1.0\n" * n)
    (folder / "snapshot.pth.tar").write_bytes(b"")
    return folder


def test_metadata_of_40k_targets_is_checked_in_linear_time(tmp_path):
    """Was 30 s for 40,000 targets (a quadratic search for repeated names)."""
    m = _text_module(tmp_path / "module_big", 40_000)
    t0 = time.perf_counter()
    assert load_module(m).n_targets == 40_000
    assert time.perf_counter() - t0 < 5
    rows = (m / "metadata.txt").read_text().splitlines()
    (m / "metadata.txt").write_text("\n".join(rows + [rows[1], rows[2]]) + "\n")
    with pytest.raises(ModuleFormatError, match="repeated: target_0, target_1"):
        load_module(m)


def test_more_targets_than_the_cap_are_refused_quickly(tmp_path):
    m = _text_module(tmp_path / "module_x", 3)
    # 3 million calibration rows fit the byte limit but not the target limit
    (m / "calibration_factors.txt").write_text("calibration_factor\n" + "1\n" * 3_000_000)
    t0 = time.perf_counter()
    with pytest.raises(ModuleFormatError, match=f"more than the {MAX_TARGETS} targets"):
        load_module(m)
    # 3 million metadata rows exceed the byte limit: refused before reading
    with open(m / "metadata.txt", "w") as fh:
        fh.write("Name,Field,Unit,Divisor\n")
        fh.writelines(f"target_{i},{i},L,1\n" for i in range(3_000_000))
    with pytest.raises(ModuleFormatError, match="metadata.txt holds .* bytes, more than"):
        load_module(m)
    assert time.perf_counter() - t0 < 20


def test_a_1gib_metadata_file_is_not_read(tmp_path):
    m = _text_module(tmp_path / "module_x", 3)
    with open(m / "metadata.txt", "r+b") as fh:
        fh.truncate(1 << 30)  # sparse
    tracemalloc.start()
    try:
        with pytest.raises(ModuleFormatError, match="more than the"):
            load_module(m)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_special_files_in_a_module_folder_used_directly_are_refused(tmp_path, good):
    m = tmp_path / "module_x"
    shutil.copytree(good, m)
    (m / "metadata.txt").unlink()
    os.mkfifo(m / "metadata.txt")
    with pytest.raises(ModuleFormatError, match="FIFO"):
        load_module(m)
    (m / "metadata.txt").unlink()
    shutil.copy(good / "metadata.txt", m / "metadata.txt")
    (m / "module.json").unlink()
    (m / "module.json").symlink_to("/dev/zero")
    with pytest.raises(ModuleFormatError, match="symbolic link"):
        load_module(m)
    (m / "module.json").unlink()
    (m / "module.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModuleFormatError, match="nested more than"):
        load_module(m)


def test_snapshot_output_width_must_fit_the_targets(tmp_path, good):
    m = tmp_path / "module_x"
    shutil.copytree(good, m)
    snap = torch.load(m / "snapshot.pth.tar", weights_only=True)
    sd = snap["state_dict"]
    sd["fc.weight"], sd["fc.bias"] = sd["fc.weight"][:4], sd["fc.bias"][:4]
    torch.save(snap, m / "snapshot.pth.tar")
    with pytest.raises(ModuleFormatError, match=r"fc.weight has shape \(4, 512\).*3 targets"):
        install(m)
    assert [n for n in _leftovers() if not n.startswith(".")] == []
    state = {"fc.weight": torch.zeros(6, 512), "fc.bias": torch.zeros(5)}
    with pytest.raises(ModuleFormatError, match=r"fc.bias has shape \(5,\)"):
        check_head(state, "resnet18", 3, "x")
    check_head({"fc.weight": torch.zeros(6, 512), "fc.bias": torch.zeros(6)}, "resnet18", 3,
               "x")


_HANG = """
import sys, time
import mimir.modules.registry as registry
def hang(path, *a, **k):
    print("staged", flush=True)
    time.sleep(600)
registry.load_state_dict = hang
registry.install(sys.argv[1])
"""


def test_an_interrupted_install_leaves_nothing_behind(tmp_path, good):
    proc = subprocess.Popen([sys.executable, "-c", _HANG, str(good)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    try:
        assert proc.stdout.readline().strip() == "staged"
        assert any(n.startswith(".install-") for n in _leftovers())
    finally:
        proc.kill()
        proc.wait()
    assert any(n.startswith(".install-") for n in _leftovers())  # killed: left behind
    assert install(good).name == "module_good"
    assert _leftovers() == ["module_good"]  # the next install removed it


def _zip(good: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(good.iterdir()):
            zf.write(p, f"module_good/{p.name}")
    return path


def _damage(data: bytearray, how: str) -> None:
    c = central_entry(data, "module_good/snapshot.pth.tar")
    if how == "bad_crc":
        struct.pack_into("<I", data, c + 16, struct.unpack_from("<I", data, c + 16)[0] ^ 1)
    elif how == "larger_than_declared":
        size = struct.unpack_from("<I", data, c + 24)[0]
        struct.pack_into("<I", data, c + 24, size // 2)
    else:  # bogus central directory offset in the end record
        e = data.rindex(b"PK\x05\x06")
        struct.pack_into("<I", data, e + 16, struct.unpack_from("<I", data, e + 16)[0] + 5000)


@pytest.mark.parametrize("how,says", [("bad_crc", "damaged"),
                                      ("larger_than_declared", "damaged"),
                                      ("bogus_directory_offset", "bogus central-directory")])
def test_damaged_module_zips_are_format_errors(tmp_path, good, how, says):
    z = _zip(good, tmp_path / "module_good.zip")
    data = bytearray(z.read_bytes())
    _damage(data, how)
    z.write_bytes(bytes(data))
    with pytest.raises(ModuleFormatError, match=says):
        install(z)
    assert _leftovers() == []


def test_a_fifo_given_as_a_module_zip_is_refused(tmp_path):
    os.mkfifo(tmp_path / "module.zip")
    with pytest.raises(ModuleFormatError, match="FIFO"):
        install(tmp_path / "module.zip")
