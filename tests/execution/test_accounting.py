"""Every input appears exactly once: in predictions, failures or exclusions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import mimir
from mimir.cli import app

runner = CliRunner()


def test_every_input_is_accounted_for(tmp_path, phantom_dir, module18):
    zips = sorted(phantom_dir.glob("*.zip"))
    d = tmp_path / "zips"
    d.mkdir()
    shutil.copy(zips[0], d / "a,b_20201_2_0.zip")  # a comma: CSV-quoted, kept
    shutil.copy(zips[1], d / "1000002_20201_2_0.zip")
    shutil.copy(zips[2], d / "bad\nname_20201_2_0.zip")  # a line break: refused
    (d / "1000004_20201_2_0.zip").symlink_to(tmp_path / "nowhere.zip")
    os.mkfifo(d / "1000005_20201_2_0.zip")
    (d / "1000006_20201_2_0.zip").mkdir()
    excl = tmp_path / "excl.csv"
    excl.write_text("eid ,reason\n1000002 ,artefact\n")  # spaces around the header
    s = mimir.infer([d], tmp_path / "cache", [module18], tmp_path / "out", 2, device="cpu",
                    threads=1, exclude=excl)
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"name": str})
    fails = pd.read_csv(tmp_path / "out" / "failures.csv", dtype=str, keep_default_na=False)
    assert list(pred["name"]) == ["a,b_20201_2_0"]
    kinds = dict(zip(fails["name"], fails["kind"], strict=True))
    assert kinds == {"1000002_20201_2_0": "excluded", "bad\nname_20201_2_0": "unusable name",
                     "1000004_20201_2_0": "missing file", "1000005_20201_2_0": "not a zip",
                     "1000006_20201_2_0": "missing file"}
    msgs = dict(zip(fails["name"], fails["message"], strict=True))
    assert "link to a missing file" in msgs["1000004_20201_2_0"]
    assert "FIFO" in msgs["1000005_20201_2_0"] and "folder" in msgs["1000006_20201_2_0"]
    # each of the six inputs once, and the counts add up
    assert len(pred) + len(fails) == 6 == s.subjects
    assert s.predicted == 1 and len(s.failed) == 4
    pub = pd.read_csv(tmp_path / "out" / "module_small" / "predictions.csv", dtype=str)
    assert list(pub["name"]) == ["a,b_20201_2_0"]


def test_same_name_in_two_folders_is_refused_naming_both(tmp_path, phantom_dir, module18):
    z = sorted(phantom_dir.glob("*.zip"))[0]
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        shutil.copy(z, tmp_path / sub / z.name)
    res = runner.invoke(app, ["infer", str(tmp_path / "x"), str(tmp_path / "y"), "-m",
                              str(module18), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert str(Path(tmp_path / "x" / z.name)) in text.replace(" ", "") or "x" in text
    assert "two inputs give the subject name" in text
    assert not (tmp_path / "out").exists()


def test_too_long_paths_fail_as_subjects(tmp_path, cached, module18):
    long = tmp_path / ("9" * 300 + "_20201_2_0.zip")
    lst = tmp_path / "list.txt"          # named in a list file: it fails as a subject
    lst.write_text(f"{long}\n")
    s = mimir.infer([lst], tmp_path / "cache", [module18], tmp_path / "out", 2,
                    device="cpu", threads=1)
    fails = pd.read_csv(tmp_path / "out" / "failures.csv", dtype=str, keep_default_na=False)
    assert len(fails) == 1 and s.predicted == 0
    assert fails["kind"][0] in ("unusable name", "missing file")
