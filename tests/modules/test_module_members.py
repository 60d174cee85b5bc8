"""Ensemble modules: module.json's members, strictly checked; members run as one network
and combine as the mixture; a single-snapshot module is unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mimir.errors import ModuleFormatError
from mimir.inference.engine import EngineOptions, LoadedModule
from mimir.inference.ensemble import mixture
from mimir.modules.format import file_sha256, load_module
from mimir.modules.members import MAX_MEMBERS
from mimir.modules.registry import install
from tests.modules.module_factory import THREE_TARGETS, make_ensemble, write_module


@pytest.fixture(scope="module")
def singles(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("singles")
    return [write_module(root / f"module_s{k}", **THREE_TARGETS, backbone="resnet18",
                         seed=k, scale=0.05) for k in range(3)]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, singles) -> Path:
    return make_ensemble(tmp_path_factory.mktemp("ens") / "module_ens", singles)


def test_members_run_as_one_network_and_give_the_mixture(ensemble, singles):
    m = load_module(ensemble)
    assert [x.file for x in m.members] == ["snapshot.pth.tar", "member_2.pth.tar",
                                           "member_3.pth.tar"]
    assert [x.seed for x in m.members] == [1, 2, 3]
    images = np.random.default_rng(0).integers(0, 255, size=(5, 3, 256, 256), dtype=np.uint8)
    opts = EngineOptions(device="cpu")
    eng = LoadedModule(m, opts)
    assert len(eng.net.members) == 3  # one network holding the three members
    mean, var = eng.predict(images)
    calib = np.array(THREE_TARGETS["calib"])
    per = [LoadedModule(load_module(s), opts).predict(images) for s in singles]
    # the calibration factor scales the whole mixture variance (members uncalibrated)
    want_m, want_v = mixture(np.stack([p[0] for p in per]), np.stack([p[1] / calib
                                                                      for p in per]))
    assert np.allclose(mean, want_m, rtol=1e-5, atol=1e-6)
    assert np.allclose(var, calib * want_v, rtol=1e-4)
    # the members disagree, so the ensemble is wider than the mean of their variances
    assert np.all(var > calib * np.mean([p[1] / calib for p in per], axis=0))


def test_a_single_snapshot_module_has_no_members(singles):
    m = load_module(singles[0])
    assert m.members == () and m.member_paths() == [m.snapshot_path]


def _edit(ensemble: Path, tmp_path: Path, change) -> Path:
    bad = tmp_path / "module_bad"
    shutil.copytree(ensemble, bad)
    info = json.loads((bad / "module.json").read_text())
    change(info, bad)
    (bad / "module.json").write_text(json.dumps(info))
    return bad


def _set(key, value, k=1):
    def change(info, _):
        info["members"][k][key] = value
    return change


@pytest.mark.parametrize("change,fragment", [
    (_set("snapshot", "../module_s1/snapshot.pth.tar"), "member 2: snapshot must be "
                                                        "'member_2.pth.tar'"),
    (_set("snapshot", "/etc/passwd"), "snapshot must be 'member_2.pth.tar'"),
    (_set("snapshot", "member_3.pth.tar"), "snapshot must be 'member_2.pth.tar'"),
    (_set("sha256", "0" * 64), "member_2.pth.tar: SHA-256 does not match member 2"),
    (_set("sha256", "abc"), "sha256 must be 64 lower-case hex digits"),
    (_set("seed", True), "seed must be a whole number"),
    (_set("code", "import os"), "unknown keys ['code']"),
    (lambda info, _: info.update(format_version=1), "'members' needs format_version 2"),
    (lambda info, _: info.update(format_version=3), "format_version 3 is newer"),
    (lambda info, _: info.update(members=info["members"][:1]), "lists 1; an ensemble has 2"),
    (lambda info, _: info.update(members=info["members"] * 11), f"an ensemble has 2 to "
                                                                f"{MAX_MEMBERS}"),
    (lambda info, _: info.update(members={"a": 1}), "'members' must be a list"),
    (lambda info, _: info["members"].__setitem__(2, "member_3.pth.tar"),
     "member 3 must be an object"),
    (lambda info, d: (d / "member_3.pth.tar").unlink(), "member_3.pth.tar: missing"),
])
def test_bad_member_lists_are_refused_naming_the_problem(ensemble, tmp_path, change,
                                                         fragment):
    with pytest.raises(ModuleFormatError) as exc:
        load_module(_edit(ensemble, tmp_path, change))
    assert fragment in str(exc.value)


def test_a_replaced_member_snapshot_is_refused(ensemble, singles, tmp_path):
    bad = tmp_path / "module_bad"
    shutil.copytree(ensemble, bad)
    shutil.copy(singles[0] / "snapshot.pth.tar", bad / "member_3.pth.tar")
    with pytest.raises(ModuleFormatError, match="member_3.pth.tar: SHA-256 does not match"):
        load_module(bad)


def test_a_member_that_would_run_code_is_refused_and_never_runs(ensemble, tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    bad = tmp_path / "module_bad"
    shutil.copytree(ensemble, bad)
    (bad / "member_2.pth.tar").write_bytes(pickle.dumps({"state_dict": Evil()}))
    _edit_sum = json.loads((bad / "module.json").read_text())
    _edit_sum["members"][1]["sha256"] = file_sha256(bad / "member_2.pth.tar")
    (bad / "module.json").write_text(json.dumps(_edit_sum))
    m = load_module(bad)  # the list is in order; the snapshot is refused when loaded
    with pytest.raises(ModuleFormatError, match="refused"):
        LoadedModule(m, EngineOptions(device="cpu"))
    assert not marker.exists()


def test_an_ensemble_installs_with_its_members(ensemble):
    m = install(ensemble, name="module_ens_installed")
    assert len(m.members) == 3 and all(p.is_file() for p in m.member_paths())
