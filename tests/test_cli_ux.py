"""What a user sees and touches on the command line: inputs checked before anything is
written, modules after one flag, the published catalogue, help texts with examples,
output that wraps only on a terminal, meaningful rates, `-v` anywhere, what to cite."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import mimir
from mimir.cli import app, main
from mimir.cli.app import hoist_root_flags, prepare_argv
from mimir.cli.examples import EXAMPLES
from mimir.errors import UsageError
from tests.modules.module_factory import write_module

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))


# inputs are checked before anything is written ------------------------------------------

def test_mistyped_input_is_exit_2_naming_it_and_nothing_is_written(tmp_path, module18,
                                                                   monkeypatch):
    cache = tmp_path / "home" / "cache"
    monkeypatch.setenv("MIMIR_CACHE", str(cache))
    typo = tmp_path / "zipz"
    res = runner.invoke(app, ["infer", str(typo), "-m", str(module18), "-o",
                              str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert f"input {typo} does not exist" in _flat(res.output)
    assert not (tmp_path / "out").exists() and not cache.exists()
    # the API refuses it the same way, before any folder exists
    with pytest.raises(UsageError, match="does not exist"):
        mimir.infer([typo], None, [module18], tmp_path / "out2", 2)
    assert not (tmp_path / "out2").exists()
    res = runner.invoke(app, ["preprocess", str(typo), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 2 and not (tmp_path / "c").exists()


def test_a_table_given_as_input_is_not_a_list_of_zips(tmp_path, phantom_dir, module18):
    truth = phantom_dir / "truth.csv"
    res = runner.invoke(app, ["infer", str(truth), "-m", str(module18), "-o",
                              str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    msg = _flat(res.output)
    assert f"input {truth} is not a zip, a folder of zips or a list of zips" in msg
    assert "line 1" in msg and "--ids" in msg
    assert not (tmp_path / "out").exists()
    # a list of bare eids is pointed to --ids/--dicom-dir too
    eids = tmp_path / "eids.txt"
    eids.write_text("1000001\n1000002\n")
    with pytest.raises(UsageError, match="--ids FILE"):
        mimir.preprocess([eids], tmp_path / "c")


def test_modules_after_one_flag_are_only_modules(tmp_path, module18, phantom_dir):
    other = write_module(tmp_path / "module_other", targets=[("x", "", "L", 1.0)],
                         stand=[(1.0, 1.0)], calib=[1.0], backbone="resnet18")
    a, b, z = str(module18), str(other), str(phantom_dir)
    assert prepare_argv(["infer", "-m", a, b, z, "-o", "o"]) == [
        "infer", "-m", a, "-m", b, z, "-o", "o"]
    assert prepare_argv(["infer", "--modules", a, z]) == ["infer", "--modules", a, z]


def test_m_mod_path_predicts_path(tmp_path, module18, phantom_dir, cached, monkeypatch):
    """``mimir infer -m MOD /data/zips``: the folder is the input, not a second module."""
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["mimir", "infer", "-m", str(module18), str(phantom_dir),
                                      "-o", str(out), "--cache", str(cached), "--device",
                                      "cpu", "--no-report"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert len(pd.read_csv(out / "predictions.csv")) == 3


def test_a_module_that_is_not_one_is_exit_2_before_anything_runs(tmp_path, phantom_dir,
                                                                 module18):
    notmod = tmp_path / "zips"
    notmod.mkdir()
    res = runner.invoke(app, ["infer", str(phantom_dir), "-m", str(module18), "-m",
                              str(notmod), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert f"module {notmod}" in _flat(res.output) and "metadata.txt" in _flat(res.output)
    assert not (tmp_path / "out").exists()
    res = runner.invoke(app, ["infer", str(phantom_dir), "-m", "module_nonesuch", "-o",
                              str(tmp_path / "out")])
    assert res.exit_code == 2 and "not an installed module" in _flat(res.output)


def test_no_inputs_without_a_named_cache_is_a_usage_error(tmp_path, module18):
    """The shared cache holds every run's subjects: predicting all of it must be asked
    for by naming it."""
    res = runner.invoke(app, ["infer", "-m", str(module18), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "name it with --cache" in _flat(res.output)


# -v anywhere, --version, help and examples --------------------------------------------

def test_verbose_anywhere_on_the_line(monkeypatch):
    assert hoist_root_flags(["qc", "x", "-v"]) == ["-v", "qc", "x"]
    assert hoist_root_flags(["qc", "--", "-v"]) == ["qc", "--", "-v"]
    monkeypatch.setattr(sys, "argv", ["mimir", "modules", "list", "-v"])
    monkeypatch.delenv("MIMIR_VERBOSE", raising=False)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    import os

    assert os.environ["MIMIR_VERBOSE"] == "1"


def test_version_names_what_to_cite():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    out = _flat(res.output)
    assert f"mimir {mimir.__version__}" in out
    for ref in ("arXiv:2106.11731", "arXiv:2101.06963", "doi:10.1038/s41598-020-74633-5",
                "MIT license"):
        assert ref in out


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_option_has_help_and_help_ends_with_examples(path):
    cmd = COMMANDS[path]
    for p in cmd.params:
        if p.name == "help":
            continue
        assert (getattr(p, "help", None) or "").strip(), \
            f"mimir {' '.join(path)}: {p.name} has no help text"
    key = " ".join(path)
    assert 1 <= len(EXAMPLES[key]) <= 2
    res = runner.invoke(app, [*path, "--help"])
    assert res.exit_code == 0
    tail = res.output.rstrip().split("Examples:")[-1]
    assert _flat(tail) == " ".join(EXAMPLES[key]), tail


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_each_example_parses_with_the_commands_own_options(key):
    words = shlex.split(EXAMPLES[key][0]) + (shlex.split(EXAMPLES[key][1])
                                             if len(EXAMPLES[key]) > 1 else [])
    for example in EXAMPLES[key]:
        args = prepare_argv(shlex.split(example)[1:])
        path = tuple(key.split())
        assert args[:len(path)] == list(path), example
        cmd = COMMANDS[path]
        cmd.make_context(key, args[len(path):])   # raises on an unknown or bad option
    assert words[0] == "mimir"
    assert set(EXAMPLES) == {" ".join(p) for p in COMMANDS}


# output: wrapping, rates, summary lines ------------------------------------------------

def test_output_to_a_pipe_is_not_wrapped(tmp_path, module18):
    long = tmp_path / ("x" * 120) / "zips"
    res = runner.invoke(app, ["infer", str(long), "-m", str(module18), "-o",
                              str(tmp_path / "o")])
    assert res.exit_code == 2
    line = next(ln for ln in res.output.splitlines() if "does not exist" in ln)
    assert str(long) in line and len(line) > 150      # one line, the path whole
    res = runner.invoke(app, ["modules", "published"])
    assert res.exit_code == 0
    assert max(map(len, res.output.splitlines())) > 80  # the table at its natural width


def test_modules_list_keeps_units_in_brackets(tmp_path, module18):
    assert runner.invoke(app, ["modules", "install", str(module18)]).exit_code == 0
    res = runner.invoke(app, ["modules", "list"])
    assert res.exit_code == 0
    units = [t.unit for t in mimir.modules_list()[0].targets]
    for u in units:
        assert f"[{u}]" in res.output, res.output


def test_rates_only_when_meaningful():
    from types import SimpleNamespace

    from mimir.cli.common import rate_text
    from mimir.pipeline.batch import BatchSummary, Record

    def task(**kw):
        base = dict(completed=0, fields={}, finished=False, finished_time=None, elapsed=0.0)
        return SimpleNamespace(**{**base, **kw})

    # 3,000 subjects found in the cache in 0.03 s: no rate at all
    assert rate_text(task(completed=3000, fields={"worked": 0}, elapsed=0.03), "subj") == ""
    assert rate_text(task(completed=0, elapsed=5.0), "subj") == ""        # nothing yet
    assert rate_text(task(completed=5, elapsed=0.2), "subj") == ""        # too soon
    assert rate_text(task(completed=9, fields={"worked": 4}, elapsed=2.0), "subj") == \
        "2.00 subj/s"
    assert rate_text(task(completed=400, finished=True, finished_time=10.0, elapsed=99.0),
                     "it") == "40 it/s"
    cached = BatchSummary([Record("a", "a.zip", "cached")], elapsed=0.01)
    assert "/s" not in cached.line() and cached.line().endswith("0.0 s")
    done = BatchSummary([Record("a", "a.zip", "done")] * 4, elapsed=2.0)
    assert done.line().endswith("(2.00 subjects/s)")


def test_infer_summary_line_has_no_stray_separator():
    from mimir.execution.run import InferSummary

    s = InferSummary(out=Path("o"), subjects=3, predicted=2,
                     failures=[{"kind": "missing file"}], timings={"total": 1.25},
                     qc_failed=1)
    line = s.line()
    assert line == "3 subjects: 2 predicted, 1 failed, 1 failed QC (qc_pass false); 1.2 s; " \
                   "results in o"
    assert "; ;" not in line and not line.rstrip().endswith(";")
    s.module_failures = [{"module": "m", "message": "x"}]
    assert "; 1 module(s) failed; " in s.line()


# the published catalogue ---------------------------------------------------------------

def test_catalogue_has_every_published_row():
    from mimir.modules.catalogue import CROSSVAL, match, published

    rows = published()
    assert len(rows) == 83
    assert sum(r.source == CROSSVAL for r in rows) == 71
    assert {r.table for r in rows if r.source != CROSSVAL} == {"Body Composition"}
    height = next(r for r in rows if r.target == "height")
    assert (height.field, height.unit, height.n, height.icc, height.r2, height.mae,
            height.mape_percent) == ("12144", "cm", 38874, 0.965, 0.932, 1.794, 1.1)
    # by field first (the published name differs), else by name; cross-validation first
    assert match("VAT", "22407").target == "AtlasVatVolume"
    assert match("VAT", "22407").source == CROSSVAL
    assert match("Age", "").target == "age" and match("nothing", "") is None
    table = mimir.modules_published()
    assert len(table) == 83 and list(table.columns[:4]) == ["source", "table", "target",
                                                            "field"]


def test_modules_info_lists_field_unit_and_accuracy(tmp_path):
    from mimir.demo.run import DEMO_MODULE

    info = mimir.modules_info(DEMO_MODULE)
    weight = info[info["target"] == "weight"].iloc[0]
    assert weight["published_target"] == "weight" and weight["published_icc"] == 0.997
    assert 0.9 < weight["own_icc"] <= 1      # the demo module's own cross-validation
    vat = info[info["target"] == "VAT"].iloc[0]
    assert vat["published_source"] == "" and 0.9 < vat["own_icc"] <= 1
    res = runner.invoke(app, ["modules", "info", str(DEMO_MODULE)])
    assert res.exit_code == 0, res.output
    row = next(ln for ln in res.output.splitlines() if ln.strip("│ ").startswith("weight"))
    assert "0.997" in row and "kg" in row
    res = runner.invoke(app, ["modules", "info", str(tmp_path)])
    assert res.exit_code == 2


# notebooks ---------------------------------------------------------------------------

def test_api_shows_progress_where_it_can_be_drawn_and_can_be_turned_off(monkeypatch,
                                                                        phantom_dir, cached):
    import io

    from rich.console import Console

    import mimir.api.progress as progress

    drawn = io.StringIO()
    calls = []

    def live():
        calls.append(1)
        return Console(file=drawn, force_terminal=True, width=100)

    monkeypatch.setattr(progress, "_live_console", live)
    s = mimir.preprocess([phantom_dir], cached)
    assert s.count("cached") == 3 and calls == [1]
    assert "preprocess" in drawn.getvalue() and "3/3" in drawn.getvalue()
    drawn.truncate(0)
    mimir.preprocess([phantom_dir], cached, progress=False)
    assert calls == [1] and drawn.getvalue().strip("\x00") == ""
    # hooks of one's own replace the bar
    seen = []
    mimir.preprocess([phantom_dir], cached, on_record=seen.append)
    assert len(seen) == 3 and calls == [1]
    # a script whose stderr is a log file gets no bar
    monkeypatch.undo()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress._live_console() is None


_PROBE = '''
def imported():
    import sys
    return "mimir.cli" in sys.modules
'''
_SCRIPT = '''
import sys
{imports}
if __name__ == "__main__":
    {call}
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    import probe_helper
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        print(pool.submit(probe_helper.imported).result())
'''


@pytest.mark.parametrize("console_script", [True, False])
def test_spawned_workers_skip_the_console_script(tmp_path, console_script):
    """A worker spawned under the ``mimir`` console script does not re-run it (about a
    second of imports per worker); a user's own script is re-run as multiprocessing
    documents (its workers see what it imports)."""
    (tmp_path / "probe_helper.py").write_text(_PROBE)
    if console_script:  # the shape pip gives the console script: it imports main
        script = _SCRIPT.format(imports="from mimir.cli import main, _workers_skip_the_script",
                                call="_workers_skip_the_script()")
    else:  # a user's script that imports the command line but has no main of its own
        script = _SCRIPT.format(imports="import mimir.cli\nfrom mimir.cli import "
                                "_workers_skip_the_script", call="_workers_skip_the_script()")
    (tmp_path / "script.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, str(tmp_path / "script.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ("False" if console_script else "True")
