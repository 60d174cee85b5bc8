"""Split folders: ours (fold_*.txt of subject names) and the original's
(images_set_*.txt of eids)."""

from __future__ import annotations

import pytest

from mimir.errors import UsageError
from mimir.training.splits import read_folds


def test_original_split_files_of_eids_map_through_the_instance(tmp_path):
    d = tmp_path / "splits"
    d.mkdir()
    for k, eids in enumerate([["1000001", "1000002"], ["1000003"], ["1000004"]]):
        (d / f"images_set_{k}.txt").write_text("\n".join(eids) + "\n\n")
    (d / "images_set_10.txt").write_text("1000010\n")  # numeric order, not text order
    folds = read_folds(d)
    assert folds == [["1000001_20201_2_0", "1000002_20201_2_0"], ["1000003_20201_2_0"],
                     ["1000004_20201_2_0"], ["1000010_20201_2_0"]]
    assert read_folds(d, instance=3)[0] == ["1000001_20201_3_0", "1000002_20201_3_0"]
    # subject names in such files stay as they are
    (d / "images_set_0.txt").write_text("1000001_20201_3_0\n")
    assert read_folds(d)[0] == ["1000001_20201_3_0"]


def test_fold_files_win_and_empty_folders_are_refused(tmp_path):
    d = tmp_path / "splits"
    d.mkdir()
    with pytest.raises(UsageError, match="images_set_<k>.txt"):
        read_folds(d)
    (d / "images_set_0.txt").write_text("1\n")
    (d / "fold_1.txt").write_text("a\n")
    (d / "fold_2.txt").write_text("b\n")
    assert read_folds(d) == [["a"], ["b"]]
