"""Relevance maps, the cohort map and region shares."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.explain.maps import cohort_map, normalised, region_share, relevance


def test_relevance_squares_the_channel_sum_and_the_cohort_map_weighs_subjects_equally():
    a = np.zeros((2, 3, 4, 4))
    a[0, 0, 1, 1], a[0, 1, 1, 1] = 2.0, -0.5   # subject 1: one pixel, channels summed
    a[1, 2, 3, 3] = 100.0                       # subject 2: another pixel, much larger
    r = relevance(a)
    assert r[0, 1, 1] == pytest.approx(2.25) and r[1, 3, 3] == pytest.approx(1e4)
    c = cohort_map(a)
    assert c.sum() == pytest.approx(1.0)
    assert c[1, 1] == pytest.approx(0.5) and c[3, 3] == pytest.approx(0.5)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    assert region_share(c, mask) == pytest.approx(0.5)
    assert np.array_equal(normalised(np.zeros((1, 2, 2))), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        region_share(c, mask[:2])
