"""The output folder's state is not trusted (issue #26, item 2): ``--overwrite`` and
``--resume`` touch only MIMIR's own files inside the folder, as it wrote them; paths an
edited ``state.json`` lists outside the folder, files changed or linked since, and the
user's files under ``.mimir/`` stay, with a note."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

import mimir
from mimir.errors import UsageError
from mimir.execution.journal import Journal, read_names
from mimir.execution.outdir import RunLock, state_path


def _infer(out, cached, module18, **kw):
    return mimir.infer([], cached, [module18], out, 2, device="cpu", threads=1, report=False,
                       **kw)


def _edit_state(out, **changes) -> dict:
    state = json.loads(state_path(out).read_text())
    for key, value in changes.items():
        state[key] = value(state.get(key))
    state_path(out).write_text(json.dumps(state))
    return state


def test_overwrite_never_deletes_outside_the_output_folder(tmp_path, cached, module18,
                                                           capsys):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    outside = tmp_path / "outside" / "deep"
    outside.mkdir(parents=True)
    victims = [outside / "victim.txt", tmp_path / "victim2.txt", tmp_path / "victim3.txt"]
    for v in victims:
        v.write_text("keep me")
    _edit_state(out, outputs=lambda o: o + ["../outside/deep/victim.txt", str(victims[1]),
                                            "module_small/../../victim3.txt"])
    assert _infer(out, cached, module18, overwrite=True).ok
    assert all(v.read_text() == "keep me" for v in victims)
    assert outside.is_dir()
    assert "lists 3 path(s) MIMIR never writes" in capsys.readouterr().err


def test_user_files_under_dot_mimir_survive_overwrite(tmp_path, cached, module18, capsys):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    (out / ".mimir" / "my_notes.txt").write_text("mine")
    (out / ".mimir" / "journal" / "mine.jsonl").write_text("mine\n")
    assert _infer(out, cached, module18, overwrite=True).ok
    assert (out / ".mimir" / "my_notes.txt").read_text() == "mine"
    assert (out / ".mimir" / "journal" / "mine.jsonl").read_text() == "mine\n"
    assert "left 2 file(s) under" in capsys.readouterr().err
    assert len(Journal(out / ".mimir" / "journal" / "module_small.jsonl", 3).read()) == 3


def test_state_records_what_the_run_wrote(tmp_path, cached, module18):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    written = json.loads(state_path(out).read_text())["written"]
    assert {"predictions.csv", "run.json", "module_small/predictions.csv"} <= set(written)
    for rel, rec in written.items():
        data = (out / rel).read_bytes()
        assert rec == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("flag", ["overwrite", "resume"])
def test_a_changed_output_is_left_alone_and_stops_the_run(tmp_path, cached, module18, flag,
                                                          capsys):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    mine = (out / "qc.csv").read_bytes()
    edited = mine.replace(b"True", b"Fals")  # the user's edit, same size
    assert edited != mine and len(edited) == len(mine)
    (out / "qc.csv").write_bytes(edited)
    before = (out / "predictions.csv").read_bytes()
    with pytest.raises(UsageError, match=r"qc.csv \(it changed since MIMIR wrote it"):
        _infer(out, cached, module18, **{flag: True})
    assert (out / "qc.csv").read_bytes() == edited
    assert (out / "predictions.csv").read_bytes() == before  # nothing removed either
    assert "is left alone: it changed since MIMIR wrote it" in capsys.readouterr().err


def test_outputs_replaced_by_links_are_not_followed(tmp_path, cached, module18):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "predictions.csv").write_text("theirs")
    (out / "module_small" / "predictions.csv").unlink()
    (out / "module_small").rmdir()
    os.symlink(elsewhere, out / "module_small")
    target = tmp_path / "target.csv"
    target.write_text("theirs too")
    (out / "qc.csv").unlink()
    os.symlink(target, out / "qc.csv")
    with pytest.raises(UsageError, match="symbolic link"):
        _infer(out, cached, module18, overwrite=True)
    assert (elsewhere / "predictions.csv").read_text() == "theirs"
    assert target.read_text() == "theirs too"


def test_journal_linked_out_of_the_folder_is_refused_untouched(tmp_path, cached, module18):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    journal = out / ".mimir" / "journal" / "module_small.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_text("a line without its end")  # repair() would cut it to nothing
    journal.unlink()
    os.symlink(victim, journal)
    (out / "predictions.csv").unlink()  # as if interrupted before the tables
    with pytest.raises(UsageError, match="symbolic link"):
        _infer(out, cached, module18, resume=True)
    assert victim.read_text() == "a line without its end"


def test_state_and_journals_that_are_fifos_do_not_hang(tmp_path, cached, module18):
    out = tmp_path / "out"
    assert _infer(out, cached, module18).ok
    journal = out / ".mimir" / "journal" / "module_small.jsonl"
    journal.unlink()
    os.mkfifo(journal)
    with pytest.raises(UsageError, match="not a regular file"):
        _infer(out, cached, module18, resume=True)
    skipped = out / ".mimir" / "qc_skipped.txt"
    os.mkfifo(skipped)
    with pytest.raises(UsageError, match="not a regular file"):
        read_names(skipped)
    state_path(out).unlink()
    os.mkfifo(state_path(out))
    with pytest.raises(UsageError, match="FIFO"):
        _infer(out, cached, module18, resume=True)


def test_damaged_journal_lines_are_redone_not_used(tmp_path):
    j = Journal(tmp_path / "m.jsonl", 1)
    lines = ['["a", 1.0, 2.0]\n', '["b", NaN, 2.0]\n', '["c", [1], 2.0]\n',
             '["d", true, 2.0]\n', "[" * 100_000 + "\n", '["e", 1e999, 1.0]\n']
    (tmp_path / "m.jsonl").write_text("".join(lines))
    assert list(j.read()) == ["a"]


def test_a_torn_lock_is_taken_over(tmp_path):
    (tmp_path / ".mimir").mkdir()
    (tmp_path / ".mimir" / "lock").write_text('{"pi')
    said = []
    lock = RunLock(tmp_path, said.append)
    lock.acquire("test")
    assert lock.mine is not None and said and "is gone" in said[0]
    lock.release()
