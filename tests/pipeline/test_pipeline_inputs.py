"""Turning INPUTS, id lists and exclusion lists into subjects (no preprocessing)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from mimir.errors import UsageError
from mimir.pipeline.inputs import read_ids, resolve_inputs
from mimir.qc.exclusions import excluded_subjects, matches, read_exclusions


def touch_zip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a", b"1")
    return path


@pytest.fixture
def tree(tmp_path):
    a = touch_zip(tmp_path / "zips" / "2000001_20201_2_0.zip")
    b = touch_zip(tmp_path / "zips" / "1000001_20201_2_0.zip")
    (tmp_path / "zips" / "notes.txt").write_text("not a zip")
    (tmp_path / "zips" / "sub").mkdir()
    touch_zip(tmp_path / "zips" / "sub" / "3000001_20201_2_0.zip")  # not recursed
    c = touch_zip(tmp_path / "other" / "4000001_20201_3_0.zip")
    return tmp_path, a, b, c


def test_zip_paths_kept_in_order(tree):
    root, a, b, c = tree
    assert resolve_inputs([c, a]) == [c, a]
    assert resolve_inputs([str(b)]) == [b]


def test_folder_gives_its_zips_sorted_not_recursive(tree):
    root, a, b, c = tree
    assert resolve_inputs([root / "zips"]) == [b, a]


def test_empty_folder_is_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError):
        resolve_inputs([tmp_path / "empty"])


def test_list_file_relative_to_the_list(tree, monkeypatch):
    root, a, b, c = tree
    lists = root / "lists"
    lists.mkdir()
    lst = lists / "subjects.txt"
    lst.write_text(f"# my cohort\n\n../zips/{a.name}\n  {c}  \n../missing/5000001_20201_2_0.zip\n")
    monkeypatch.chdir(root / "other")  # the working folder must not matter
    got = resolve_inputs([lst])
    assert [p.resolve() for p in got[:2]] == [a.resolve(), c.resolve()]
    # a path that does not exist is kept (it fails later as "missing file")
    assert got[2].name == "5000001_20201_2_0.zip"
    assert got[2].parent.resolve() == (root / "missing").resolve()
    assert len(got) == 3


def test_a_named_path_must_exist(tmp_path):
    """A named input that does not exist is a usage error naming it (a listed one is
    kept, above)."""
    p = tmp_path / "6000001_20201_2_0.zip"
    with pytest.raises(UsageError, match=f"input {p} does not exist"):
        resolve_inputs([p])
    with pytest.raises(UsageError, match="zipz does not exist"):
        resolve_inputs([tmp_path / "zipz"])
    broken = tmp_path / "6000002_20201_2_0.zip"
    broken.symlink_to(tmp_path / "nowhere.zip")   # exists as a name: fails as a subject
    assert resolve_inputs([broken]) == [broken]


@pytest.mark.parametrize("text,hint", [
    ("eid,name,vat\n1000001,1000001_20201_2_0,3.1\n", "--ids FILE"),  # a table
    ("1000001\n1000002\n", "--ids FILE"),                               # bare ids
    ("notes about the cohort\n", "one subject zip per line"),            # prose
])
def test_a_text_input_must_list_zips(tmp_path, text, hint):
    f = tmp_path / "truth.csv"
    f.write_text(text)
    with pytest.raises(UsageError) as err:
        resolve_inputs([f])
    msg = str(err.value)
    assert f"input {f} is not a zip, a folder of zips or a list of zips: line 1" in msg
    assert hint in msg


def test_same_path_kept_once_same_name_elsewhere_refused(tree):
    root, a, b, c = tree
    lst = root / "l.txt"
    lst.write_text(f"{b}\n{a}\n")
    assert resolve_inputs([a, root / "zips", lst, a]) == [a, b]
    copy = touch_zip(root / "copy" / a.name)  # same subject name elsewhere
    with pytest.raises(UsageError) as err:
        resolve_inputs([a, root / "zips", copy])
    assert str(a) in str(err.value) and str(copy) in str(err.value)


def test_unreadable_folder_entries_are_kept_to_fail_as_subjects(tmp_path):
    d = tmp_path / "zips"
    good = touch_zip(d / "1000001_20201_2_0.zip")
    (d / "2000001_20201_2_0.zip").symlink_to(tmp_path / "gone.zip")  # dangling
    (d / "3000001_20201_2_0.zip").symlink_to(d / "3000001_20201_2_0.zip")  # a loop
    os.mkfifo(d / "4000001_20201_2_0.zip")
    (d / "5000001_20201_2_0.zip").mkdir()
    got = resolve_inputs([d])
    assert [p.name.split("_")[0] for p in got] == ["1000001", "2000001", "3000001",
                                                    "4000001", "5000001"]
    assert got[0] == good


def test_ids_with_dicom_dir_and_instance(tmp_path):
    ids = tmp_path / "ids.csv"
    ids.write_text("eid,sex\n1234567,1\n\"7654321\",0\n# comment\n1234567,1\n")
    got = resolve_inputs([], ids=ids, dicom_dir=tmp_path / "dicom")
    assert got == [tmp_path / "dicom" / "1234567_20201_2_0.zip",
                   tmp_path / "dicom" / "7654321_20201_2_0.zip"]
    got3 = resolve_inputs([], ids=ids, dicom_dir=tmp_path / "dicom", instance=3)
    assert [p.name for p in got3] == ["1234567_20201_3_0.zip", "7654321_20201_3_0.zip"]


def test_ids_combined_with_inputs_deduplicated(tree):
    root, a, b, c = tree
    ids = root / "ids.txt"
    ids.write_text("2000001\n9999999\n")
    got = resolve_inputs([a], ids=ids, dicom_dir=root / "zips")
    assert got == [a, root / "zips" / "9999999_20201_2_0.zip"]


def test_read_ids_formats(tmp_path):
    p = tmp_path / "ids.tsv"
    p.write_text("id\tother\n11\tx\n\n12\ty\n")
    assert read_ids(p) == ["11", "12"]
    q = tmp_path / "plain.txt"
    q.write_text("21\n22\n")
    assert read_ids(q) == ["21", "22"]


@pytest.mark.parametrize("kwargs", [{"ids": "x"}, {"dicom_dir": "y"}])
def test_ids_and_dicom_dir_go_together(kwargs):
    with pytest.raises(UsageError):
        resolve_inputs([], **kwargs)


# exclusions ---------------------------------------------------------------------------

NAMES = ["1000001_20201_2_0", "1000001_20201_3_0", "2000002_20201_2_0", "3000003_20201_2_0"]


def test_exclusions_csv_with_eid_column(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text("reason,eid\nartefact,1000001\nghost,3000003_2\n")
    assert read_exclusions(p) == {"1000001", "3000003_2"}
    ex = excluded_subjects(NAMES, p)
    assert set(ex) == {"1000001_20201_2_0", "1000001_20201_3_0", "3000003_20201_2_0"}
    assert all("ex.csv" in reason for reason in ex.values())


def test_exclusions_tsv_with_named_column(tmp_path):
    p = tmp_path / "ex.tsv"
    p.write_text("eid\tsubject_name\n1000001\t2000002_20201_2_0\n")
    assert read_exclusions(p, column="subject_name") == {"2000002_20201_2_0"}
    assert set(excluded_subjects(NAMES, p, "subject_name")) == {"2000002_20201_2_0"}
    # without the column the eid column is used
    assert set(excluded_subjects(NAMES, p)) == {"1000001_20201_2_0", "1000001_20201_3_0"}
    with pytest.raises(UsageError):
        read_exclusions(p, column="nope")


def test_exclusions_plain_list(tmp_path):
    p = tmp_path / "ex.txt"
    p.write_text("eid\n# note\n1000001_3\n\n2000002\n")
    assert read_exclusions(p) == {"1000001_3", "2000002"}
    assert set(excluded_subjects(NAMES, p)) == {"1000001_20201_3_0", "2000002_20201_2_0"}


def test_exclusions_errors_and_none(tmp_path):
    assert excluded_subjects(NAMES, None) == {}
    with pytest.raises(UsageError):
        read_exclusions(tmp_path / "absent.csv")
    p = tmp_path / "bad.csv"
    p.write_text("foo,bar\n1,2\n")
    with pytest.raises(UsageError):
        read_exclusions(p)


def test_matches():
    assert matches("1000001_20201_2_0", {"1000001"})
    assert matches("1000001_20201_2_0", {"1000001_2"})
    assert not matches("1000001_20201_2_0", {"1000001_3"})
    assert not matches("1000001_20201_2_0", {"100000"})
    assert matches("odd_name", {"odd_name"}) and not matches("odd_name", {"odd"})
