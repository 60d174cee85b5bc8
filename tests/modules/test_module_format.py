"""Module folders: validation with named errors, safe snapshot loading, the registry."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from mimir.errors import ModuleFormatError, UsageError
from mimir.modules.format import load_module
from mimir.modules.network import network_from_state
from mimir.modules.registry import install, installed, resolve
from mimir.modules.snapshot import load_state_dict
from tests.modules.module_factory import THREE_TARGETS, write_module


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    return write_module(tmp_path_factory.mktemp("m") / "module_test", **THREE_TARGETS,
                        backbone="resnet18", module_json=False)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_published_format_loads(module_dir):
    m = load_module(module_dir)
    assert [t.name for t in m.targets] == ["AtlasVatVolume", "liverVolume", "age"]
    assert [t.divisor for t in m.targets] == [1.0, 1000.0, 1.0]
    assert m.targets[1].field == "" and m.targets[0].field == "22407"
    assert m.backbone == "resnet50"  # no module.json: read as published


@pytest.mark.parametrize("file,text,fragment", [
    ("standardization_parameters.txt", "stand_mean,stand_stdev\n1,2\n3,4\n",
     "standardization_parameters.txt: 2 targets, but metadata.txt lists 3"),
    ("calibration_factors.txt", "calibration_factor\n1\n1\n1\n1\n",
     "calibration_factors.txt: 4 targets"),
    ("metadata.txt", "Name,Field,Unit,Divisor\na,1,L,1\nb,2,L\nc,3,L,1\n",
     "metadata.txt, line 3: 3 fields"),
    ("metadata.txt", "Name,Field,Unit,Divisor\na,1,L,1\nb,2,L,zero\nc,3,L,1\n",
     "metadata.txt, line 3: divisor 'zero' is not a number"),
    ("standardization_parameters.txt", "stand_mean,stand_stdev\n1,2\n3,-4\n5,6\n",
     "standardization_parameters.txt, line 3: standard deviation must be > 0"),
    ("calibration_factors.txt", "factor\n1\n1\n1\n",
     "calibration_factors.txt, line 1: header"),
])
def test_mismatched_metadata_names_file_and_line(module_dir, tmp_path, file, text, fragment):
    bad = _copy(module_dir, tmp_path / "bad")
    (bad / file).write_text(text)
    with pytest.raises(ModuleFormatError) as exc:
        load_module(bad)
    assert fragment in str(exc.value)


def test_fc_size_must_match_targets(module_dir, tmp_path):
    bad = _copy(module_dir, tmp_path / "bad")
    (bad / "metadata.txt").write_text("Name,Field,Unit,Divisor\na,,L,1\nb,,L,1\n")
    (bad / "standardization_parameters.txt").write_text("stand_mean,stand_stdev\n0,1\n0,1\n")
    (bad / "calibration_factors.txt").write_text("calibration_factor\n1\n1\n")
    m = load_module(bad)
    state = load_state_dict(m.snapshot_path)
    with pytest.raises(ModuleFormatError, match=r"fc.weight has shape \(6, 512\).*2 targets"):
        network_from_state("resnet18", m.n_targets, state, str(m.snapshot_path))


class _Evil:
    """Unpickling this runs code: it would create a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_snapshot_that_runs_code_is_refused(tmp_path, module_dir):
    marker = tmp_path / "pwned"
    evil = _copy(module_dir, tmp_path / "evil")
    state = load_state_dict(module_dir / "snapshot.pth.tar")
    torch.save({"state_dict": state, "payload": _Evil(str(marker))},
               evil / "snapshot.pth.tar")
    with pytest.raises(ModuleFormatError, match="refused"):
        load_state_dict(evil / "snapshot.pth.tar")
    assert not marker.exists()
    # a raw pickle (not even torch's format) is refused as well, without running
    (evil / "snapshot.pth.tar").write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(ModuleFormatError):
        load_state_dict(evil / "snapshot.pth.tar")
    assert not marker.exists()


def test_legacy_snapshot_format_loads(tmp_path):
    d = write_module(tmp_path / "module_legacy", **THREE_TARGETS, backbone="resnet18",
                     legacy=True)
    state = load_state_dict(d / "snapshot.pth.tar")
    assert state["fc.weight"].shape == (6, 512)


def test_dataparallel_prefix_is_stripped(tmp_path, module_dir):
    state = load_state_dict(module_dir / "snapshot.pth.tar")
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}},
               tmp_path / "s.pth.tar")
    again = load_state_dict(tmp_path / "s.pth.tar")
    assert set(again) == set(state)


def test_module_json_backbone_and_checksum(tmp_path, module_dir):
    import json

    from mimir.modules.format import file_sha256

    d = _copy(module_dir, tmp_path / "module_json")
    (d / "module.json").write_text(json.dumps({
        "format_version": 1, "backbone": "resnet18",
        "checksums": {"snapshot.pth.tar": file_sha256(d / "snapshot.pth.tar")}}))
    assert load_module(d).backbone == "resnet18"
    (d / "module.json").write_text(json.dumps({"backbone": "resnet18",
                                               "checksums": {"snapshot.pth.tar": "0" * 64}}))
    with pytest.raises(ModuleFormatError, match="SHA-256 does not match"):
        load_module(d)
    (d / "module.json").write_text(json.dumps({"backbone": "vgg16"}))
    with pytest.raises(ModuleFormatError, match="backbone 'vgg16'"):
        load_module(d)


def test_install_zip_list_and_resolve(tmp_path, module_dir, monkeypatch):
    monkeypatch.setenv("MIMIR_HOME", str(tmp_path / "home"))
    z = tmp_path / "module_test.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in module_dir.iterdir():
            zf.write(p, f"module_test/{p.name}")
        # the snapshot is a ResNet18's: installing checks its output layer against that
        zf.writestr("module_test/module.json", '{"format_version": 1, "backbone": "resnet18"}')
    m = install(z)
    assert m.name == "module_test"
    assert [x.name for x in installed()] == ["module_test"]
    assert resolve("module_test") == tmp_path / "home" / "modules" / "module_test"
    with pytest.raises(UsageError, match="already installed"):
        install(z)
    with pytest.raises(UsageError, match="not an installed module"):
        resolve("module_nope")


def test_install_refuses_path_traversal(tmp_path, module_dir, monkeypatch):
    monkeypatch.setenv("MIMIR_HOME", str(tmp_path / "home"))
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in module_dir.iterdir():
            zf.write(p, p.name)
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ModuleFormatError, match="outside the module folder"):
        install(z)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "home" / "escaped.txt").exists()
    assert installed() == []
