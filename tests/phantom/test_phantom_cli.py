"""``mimir phantom``: writes zips and truth.csv, refuses to overwrite unless told to."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from mimir.cli import app
from mimir.phantom.subject import draw_cohort


def _snapshot(folder):
    """Name -> (bytes, mtime_ns) of every file in ``folder``."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("cli") / "out"
    result = runner.invoke(app, ["phantom", str(out), "--n", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return out


def test_phantom_writes_zips_and_truth(cli_dir):
    expected = sorted(f"{s.eid}_20201_2_0.zip" for s in draw_cohort(2, 3))
    assert sorted(p.name for p in cli_dir.glob("*.zip")) == expected
    assert (cli_dir / "truth.csv").is_file()
    assert not list(cli_dir.glob("*.part"))
    truth = pd.read_csv(cli_dir / "truth.csv")
    # one row per zip, named after it
    assert sorted(truth["name"] + ".zip") == expected
    assert sorted(truth["eid"]) == sorted(s.eid for s in draw_cohort(2, 3))


def test_phantom_refuses_to_overwrite(cli_dir, runner):
    before = _snapshot(cli_dir)
    result = runner.invoke(app, ["phantom", str(cli_dir), "--n", "2", "--seed", "3"])
    assert result.exit_code == 2
    assert "overwrite" in result.output
    assert _snapshot(cli_dir) == before


def test_phantom_overwrite_replaces_files(cli_dir, runner):
    zips = sorted(cli_dir.glob("*.zip"))
    reference = {p.name: p.read_bytes() for p in zips}
    truth = (cli_dir / "truth.csv").read_bytes()
    # spoil the files so that rewriting them shows
    zips[0].write_bytes(b"not a zip")
    (cli_dir / "truth.csv").write_text("spoilt\n")
    result = runner.invoke(app, ["phantom", str(cli_dir), "--n", "2", "--seed", "3",
                                 "--overwrite"])
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in cli_dir.glob("*.zip")} == reference
    assert (cli_dir / "truth.csv").read_bytes() == truth
    assert not list(cli_dir.glob("*.part"))


def test_phantom_rejects_bad_options(runner, tmp_path):
    result = runner.invoke(app, ["phantom", str(tmp_path / "x"), "--n", "0"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["phantom", str(tmp_path / "y"), "--n", "1", "--swap", "7"])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
