"""Options are validated once, before anything is read or written, in the API as in the
CLI."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

import mimir
from mimir.cli import app
from mimir.errors import UsageError
from mimir.execution.options import InferOptions, interval_z

runner = CliRunner()


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(precision="fp64"), "--precision"),
    (dict(threads=0), "--threads"),
    (dict(batch_size=2.5), "--batch-size"),
    (dict(batch_size=True), "--batch-size"),
    (dict(workers=0), "--workers"),
    (dict(ci=0.9999999999999999), "too close to 1"),
    (dict(ci="0.95"), "--ci"),
    (dict(ci=1.0), "--ci"),
    (dict(qc="lenient"), "--qc"),
    (dict(device="tpu"), "--device"),
    (dict(resume=True, overwrite=True), "exclude each other"),
    (dict(shard=(3, 2)), "--shard"),
    (dict(cluster="local:0"), "at least 1"),
    (dict(cluster="local:-1"), "at least 1"),
    (dict(cluster="slurm"), "local[:N]"),
    (dict(scheduler="tcp://x:1", cluster="local"), "exclude each other"),
    (dict(ids="eids.txt"), "go together"),
])
def test_invalid_api_calls_fail_before_the_output_folder_exists(tmp_path, module18, kwargs,
                                                                fragment):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=None) as exc:
        mimir.infer([], tmp_path / "cache", [module18], out, **{"batch_size": 4, **kwargs})
    assert fragment in str(exc.value)
    assert not out.exists()
    # the corrected call then works on the same folder (nothing was left behind)
    assert not (tmp_path / "cache").exists()


def test_cli_refuses_local_zero_at_once(tmp_path, module18):
    t0 = time.perf_counter()
    res = runner.invoke(app, ["infer", "--cache", str(tmp_path), "-m", str(module18), "-o",
                              str(tmp_path / "o"), "--cluster", "local:0"])
    assert res.exit_code == 2 and "at least 1" in res.output
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "o").exists()


def test_interval_levels_need_a_finite_z():
    assert interval_z(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert interval_z(0.999999) > 4.8
    with pytest.raises(UsageError, match="too close to 1"):
        interval_z(0.9999999999999999)
    assert InferOptions(shard=("2", "3")).shard == (2, 3)
