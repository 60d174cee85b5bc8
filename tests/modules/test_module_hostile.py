"""Hostile module folders: special files, links to endless devices, oversized junk,
mistyped module.json, and numbers that would give non-finite or sign-flipped outputs."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import pytest

import mimir.modules.registry as registry
from mimir.errors import ModuleFormatError
from mimir.modules.format import load_module
from mimir.modules.registry import install
from tests.modules.module_factory import THREE_TARGETS, write_module


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return write_module(tmp_path_factory.mktemp("m") / "module_good", **THREE_TARGETS,
                        backbone="resnet18")


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _nothing_installed() -> bool:
    root = registry.modules_dir()
    return not root.exists() or not [p for p in root.iterdir()
                                     if not p.name.startswith(".")]


def test_link_to_an_endless_device_is_refused(tmp_path, good):
    m = _copy(good, tmp_path / "module_x")
    (m / "extra.bin").symlink_to("/dev/zero")
    t0 = time.perf_counter()
    with pytest.raises(ModuleFormatError, match="symbolic link"):
        install(m)
    assert time.perf_counter() - t0 < 10 and _nothing_installed()


def test_fifo_in_a_module_folder_is_refused(tmp_path, good):
    m = _copy(good, tmp_path / "module_x")
    os.mkfifo(m / "pipe")
    with pytest.raises(ModuleFormatError, match="not a regular file"):
        install(m)
    assert _nothing_installed()


def test_oversized_junk_is_refused_without_reading_it(tmp_path, good):
    m = _copy(good, tmp_path / "module_x")
    with open(m / "junk.bin", "wb") as fh:  # 3 GiB, sparse: no disk used
        fh.truncate(3 << 30)
    t0 = time.perf_counter()
    with pytest.raises(ModuleFormatError, match="junk.bin"):
        install(m)
    assert time.perf_counter() - t0 < 10 and _nothing_installed()


def test_oversized_zip_member_is_refused(tmp_path, good, monkeypatch):
    monkeypatch.setattr(registry, "MAX_OTHER_BYTES", 1000)
    z = tmp_path / "module_x.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in good.iterdir():
            zf.write(p, f"module_x/{p.name}")
        zf.writestr("module_x/junk.bin", b"\0" * 5000)
    with pytest.raises(ModuleFormatError, match="junk.bin.*5000 bytes"):
        install(z)
    assert _nothing_installed()


@pytest.mark.parametrize("file,line,fragment", [
    ("metadata.txt", "a,1,L,1e-320", "divisor"),
    ("metadata.txt", "a,1,L,-1000", "divisor must be > 0"),
    ("calibration_factors.txt", "1e308", "calibration factor"),
    ("calibration_factors.txt", "0", "calibration factor must be > 0"),
    ("standardization_parameters.txt", "0,1e200", "standard deviation"),
    ("standardization_parameters.txt", "1e300,1", "mean"),
])
def test_absurd_numbers_are_refused_at_load(tmp_path, good, file, line, fragment):
    m = _copy(good, tmp_path / "module_x")
    lines = (m / file).read_text().splitlines()
    lines[1] = line if file != "metadata.txt" else "AtlasVatVolume" + line[1:]
    (m / file).write_text("\n".join(lines) + "\n")
    with pytest.raises(ModuleFormatError) as exc:
        load_module(m)
    assert fragment in str(exc.value) and f"{file}, line 2" in str(exc.value)


@pytest.mark.parametrize("info,fragment", [
    ({"format_version": "1"}, "'format_version' must be a whole number"),
    ({"backbone": 50}, "'backbone' must be text"),
    ({"checksums": ["abc"]}, "'checksums' must be an object"),
    ({"uncertainty_thresholds": {"age": "wide"}}, "uncertainty threshold of 'age'"),
    ({"uncertainty_thresholds": {"age": -1}}, "uncertainty threshold of 'age'"),
    ({"targets": "age"}, "'targets' must be a list"),
    ({"targets": [1, 2, 3]}, "targets do not match"),
    (["not", "an", "object"], "must hold a JSON object"),
])
def test_mistyped_module_json_is_a_named_error(tmp_path, good, info, fragment):
    m = _copy(good, tmp_path / "module_x")
    base = json.loads((m / "module.json").read_text())
    (m / "module.json").write_text(json.dumps({**base, **info} if isinstance(info, dict)
                                              else info))
    with pytest.raises(ModuleFormatError) as exc:
        load_module(m)
    assert fragment in str(exc.value) and "module.json" in str(exc.value)
