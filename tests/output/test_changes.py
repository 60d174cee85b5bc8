"""changes.csv: pairs of visits, the change, its interval (variances add) and the flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mimir.output.changes import changes_table, pairs, write_changes
from mimir.reading.archive import id_columns


def _table(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    names = [r[0] for r in rows]
    return pd.DataFrame({"name": names, **id_columns(names),
                         "VAT_mean_in_L": [r[1] for r in rows],
                         "VAT_sd_in_L": [np.sqrt(r[2]) for r in rows],
                         "VAT_variance_in_L": [r[2] for r in rows]})


def test_change_interval_and_flag_from_two_visits(tmp_path):
    t = _table([("1000001_20201_2_0", 3.0, 0.01), ("1000001_20201_3_0", 3.5, 0.03),
                ("1000002_20201_2_0", 2.0, 0.04), ("1000002_20201_3_0", 2.1, 0.05),
                ("1000003_20201_2_0", 1.0, 0.04), ("odd_name", 9.0, 1.0)])
    c = changes_table(t, 0.95)
    assert list(c["eid"]) == [1000001, 1000002]
    assert list(c["name_second"]) == ["1000001_20201_3_0", "1000002_20201_3_0"]
    assert list(c["instance_first"]) == [2, 2] and list(c["instance_second"]) == [3, 3]
    assert c["VAT_change_in_L"].tolist() == pytest.approx([0.5, 0.1])
    sd = np.sqrt([0.04, 0.09])  # the variances add
    assert c["VAT_change_sd_in_L"].tolist() == pytest.approx(sd)
    assert c["VAT_change_lower95_in_L"].tolist() == pytest.approx([0.5 - 1.959964 * sd[0],
                                                                   0.1 - 1.959964 * sd[1]])
    assert c["VAT_change_upper95_in_L"].tolist() == pytest.approx([0.5 + 1.959964 * sd[0],
                                                                   0.1 + 1.959964 * sd[1]])
    assert c["VAT_change_beyond"].tolist() == [True, False]  # 0.5 +- 0.39 excludes 0
    assert c["VAT_first_in_L"].tolist() == [3.0, 2.0]
    # the level follows --ci
    assert "VAT_change_lower90_in_L" in changes_table(t, 0.90).columns
    path = write_changes(tmp_path, t, 0.95, "%.7g")
    back = pd.read_csv(path)
    assert len(back) == 2 and back["VAT_change_beyond"].tolist() == [True, False]


def test_three_visits_give_consecutive_pairs_and_missing_values_no_flag():
    t = _table([("1000001_20201_4_0", 4.0, 0.01), ("1000001_20201_2_0", 3.0, 0.01),
                ("1000001_20201_3_0", np.nan, np.nan)])
    assert pairs(t) == [(1, 2), (2, 0)]  # 2 -> 3, 3 -> 4 (rows in table order)
    c = changes_table(t, 0.95)
    assert c["VAT_change_beyond"].isna().all() and c["VAT_change_in_L"].isna().all()


def test_no_pair_no_file(tmp_path):
    t = _table([("1000001_20201_2_0", 3.0, 0.01), ("1000002_20201_2_0", 3.0, 0.01)])
    assert changes_table(t, 0.95).empty
    assert write_changes(tmp_path, t, 0.95) is None
    assert not (tmp_path / "changes.csv").exists()
