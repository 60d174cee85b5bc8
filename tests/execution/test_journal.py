"""Journals: any subject name round-trips, torn lines are redone, a full disk stops the
run with one message and --resume finishes it with no subject lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mimir.cache.store import Cache, CacheEntry
from mimir.execution.journal import Journal, repair


def test_names_with_commas_quotes_and_unicode_round_trip(tmp_path):
    j = Journal(tmp_path / "j.jsonl", 2)
    names = ["a,b_20201_2_0", 'q"uote', "é 1"]
    mean = np.array([[1.5, -2.0], [0.1, 1e-300], [np.pi, 7.0]])
    var = np.array([[0.25, 3.0], [1e300, 2.0], [0.5, np.e]])
    j.append(names, mean, var)
    got = j.read()
    assert sorted(got) == sorted(names)
    for i, n in enumerate(names):
        np.testing.assert_array_equal(got[n][0], mean[i])  # exact: floats round-trip
        np.testing.assert_array_equal(got[n][1], var[i])


def test_a_torn_line_is_cut_and_the_subject_redone(tmp_path):
    j = Journal(tmp_path / "j.jsonl", 1)
    j.append(["s1"], np.ones((1, 1)), np.ones((1, 1)))
    with open(j.path, "a") as fh:
        fh.write('["s2", 1.0')  # an interruption in the middle of a line
    assert set(j.read()) == {"s1"}
    assert j.repair() is True and j.path.read_text().endswith("\n")
    j.append(["s2"], np.full((1, 1), 2.0), np.ones((1, 1)))
    assert set(j.read()) == {"s1", "s2"} and j.read()["s2"][0][0] == 2.0
    assert repair(j.path) is False


def test_legacy_comma_separated_journals_are_still_read(tmp_path):
    j = Journal(tmp_path / "m.jsonl", 1)
    (tmp_path / "m.csv").write_text("old,1.0,2.0\ntorn,1.0")
    j.append(["new"], np.zeros((1, 1)), np.ones((1, 1)))
    assert sorted(j.read()) == ["new", "old"]


def clone_cache(src: Path, dst: Path, n: int) -> list[str]:
    """``n`` subjects made from the first cached image of ``src`` (distinct names)."""
    s, d = Cache(src), Cache(dst)
    base = s.names()[0]
    img, entry = s.read_image(base), s.read_entry(base)
    names = [f"{1000000 + i}_20201_2_0" for i in range(n)]
    for i, name in enumerate(names):
        im = img.copy()
        im[0, 0, 0] = i  # distinct inputs
        d.write(im, CacheEntry(name=name, facts=entry.facts, warnings=entry.warnings))
    return names


def _cli(args: list[str], limit_kb: int | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from mimir.cli import main; main()", *args]
    if limit_kb is not None:  # a file-size limit: the disk is "full" for larger files
        script = f"ulimit -f {limit_kb}; exec " + " ".join(f"'{c}'" for c in cmd)
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=600)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_full_disk_stops_with_one_message_and_resume_loses_nothing(tmp_path, cached,
                                                                   module18):
    names = clone_cache(cached, tmp_path / "cache", 30)
    out = tmp_path / "out"
    common = ["infer", "--cache", str(tmp_path / "cache"), "-m", str(module18), "-o",
              str(out), "--device", "cpu", "--threads", "1", "-b", "4"]
    first = _cli(common, limit_kb=2)  # the journal outgrows 2 kB part-way through
    assert first.returncode == 1, first.stderr
    assert "no space left while writing" in first.stderr and "--resume" in first.stderr
    assert "Traceback" not in first.stderr, first.stderr
    assert not (out / "run.json").exists()
    journal = out / ".mimir" / "journal" / "module_small.jsonl"
    assert journal.stat().st_size <= 2048 and journal.read_text().endswith("\n")
    done_before = len(Journal(journal, 3).read())
    assert 0 < done_before < 30
    second = _cli(common + ["--resume"])
    assert second.returncode == 0, second.stderr
    tab = pd.read_csv(out / "predictions.csv", dtype={"name": str})
    assert sorted(tab["name"]) == names  # every subject, once
    assert "30 subjects: " in second.stdout
    fails = pd.read_csv(out / "failures.csv")
    assert fails.empty
