"""The new limits reach preprocessing from both commands (``--max-fused-voxels``,
``--max-subject-pixels``)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.execution.options import INFER_OPTIONS, InferOptions
from mimir.limits import DEFAULT_LIMITS


@pytest.fixture
def mini_zip(fuzz_bases, tmp_path):
    src = fuzz_bases / "mini.zip"
    dst = tmp_path / "zips" / "1234567_20201_2_0.zip"
    dst.parent.mkdir()
    shutil.copyfile(src, dst)
    return dst


@pytest.mark.parametrize("option, value, kind", [
    ("--max-fused-voxels", "1000", "implausible geometry"),
    ("--max-subject-pixels", "1000", "limit exceeded"),
])
def test_preprocess_option_fails_the_subject(mini_zip, tmp_path, option, value, kind):
    cache = tmp_path / "cache"
    res = CliRunner().invoke(app, ["preprocess", str(mini_zip), "--cache", str(cache),
                                   option, value, "-o", str(tmp_path / "tables")])
    assert res.exit_code == 1, res.output
    df = pd.read_csv(tmp_path / "tables" / "failures.csv", dtype=str, keep_default_na=False)
    assert df["kind"].tolist() == [kind]
    ok = CliRunner().invoke(app, ["preprocess", str(mini_zip), "--cache", str(cache)])
    assert ok.exit_code == 0, ok.output


def test_infer_passes_the_limits(monkeypatch, tmp_path):
    import mimir.api as api

    seen = {}

    def fake(*args, **kw):
        seen["limits"] = InferOptions(**{k: v for k, v in kw.items()
                                         if k in INFER_OPTIONS}).limits
        raise SystemExit(0)

    monkeypatch.setattr(api, "infer", fake)
    CliRunner().invoke(app, ["infer", "--cache", str(tmp_path), "-m", "x", "-o",
                             str(tmp_path / "o"), "--max-fused-voxels", "123",
                             "--max-subject-pixels", "456"])
    assert seen["limits"].max_fused_voxels == 123
    assert seen["limits"].max_subject_pixels == 456
    assert seen["limits"].max_slice_pixels == DEFAULT_LIMITS.max_slice_pixels


@pytest.mark.parametrize("command", ["preprocess", "infer"])
def test_help_names_the_options(command):
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert "--max-fused-voxels" in res.output and "--max-subject-pixels" in res.output
