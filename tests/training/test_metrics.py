"""Evaluation metrics against hand computations; the loss with missing labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mimir.training import metrics as M
from mimir.training.loss import gaussian_nll


def brute_icc21(y, pred):
    """ICC(2,1) from a two-way ANOVA written out with loops."""
    data = [[a, b] for a, b in zip(y, pred, strict=True)]
    n, k = len(data), 2
    grand = sum(sum(r) for r in data) / (n * k)
    row_means = [sum(r) / k for r in data]
    col_means = [sum(data[i][j] for i in range(n)) / n for j in range(k)]
    ssr = sum(k * (m - grand) ** 2 for m in row_means)
    ssc = sum(n * (m - grand) ** 2 for m in col_means)
    sst = sum((data[i][j] - grand) ** 2 for i in range(n) for j in range(k))
    sse = sst - ssr - ssc
    msr, msc, mse = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)


def test_icc_small_table_against_anova():
    y = [9.0, 6.0, 8.0, 7.0, 10.0, 6.0]
    p = [2.0, 1.0, 4.0, 1.0, 5.0, 2.0]
    assert M.icc21(y, p) == pytest.approx(brute_icc21(y, p), rel=1e-12)
    # a constant offset lowers absolute agreement but not consistency
    y2 = np.arange(10.0)
    assert M.icc21(y2, y2) == pytest.approx(1.0)
    assert M.icc21(y2, y2 + 3) < 0.9


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=3,
                max_size=30))
def test_icc_matches_anova_property(pairs):
    y = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    ref = brute_icc21(y, p) if np.var(y + p) > 1e-6 else float("nan")
    got = M.icc21(y, p)
    if math.isfinite(ref) and abs(ref) < 1e6:
        assert got == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_r2_mae_mape_edge_cases():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert M.r2(y, y) == 1.0
    assert M.r2(y, np.full(4, y.mean())) == pytest.approx(0.0)
    assert math.isnan(M.r2(np.ones(4), np.arange(4.0)))  # no variance in the reference
    assert M.mae(y, y + 0.5) == pytest.approx(0.5)
    assert M.mae([1.0, np.nan], [2.0, 5.0]) == pytest.approx(1.0)  # missing left out
    # MAPE leaves out references near 0
    assert M.mape([0.0, 2.0, 4.0], [5.0, 1.0, 5.0]) == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert math.isnan(M.mape([0.0, 1e-5], [1.0, 1.0]))


def test_calibration_factor_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    n = 200_000
    var = rng.uniform(0.5, 2.0, n)
    y = rng.normal(0, np.sqrt(3.0 * var))  # true variance is 3x the predicted
    s = M.calibration_factor(y, np.zeros(n), var)
    assert s == pytest.approx(3.0, rel=0.02)
    # s minimises the NLL
    assert M.nll(y, 0, s * var) < M.nll(y, 0, 0.9 * s * var)
    assert M.nll(y, 0, s * var) < M.nll(y, 0, 1.1 * s * var)


def test_auce_of_perfectly_calibrated_sample_is_near_zero():
    rng = np.random.default_rng(1)
    n = 100_000
    var = rng.uniform(0.1, 4.0, n)
    y = rng.normal(0, np.sqrt(var))
    assert M.auce(y, np.zeros(n), var) < 0.005
    curve = M.calibration_curve(y, np.zeros(n), var)
    np.testing.assert_allclose(curve, M.LEVELS, atol=0.01)
    # overconfident predictions are far from the diagonal
    assert M.auce(y, np.zeros(n), var / 4) > 0.1
    assert M.coverage(y, np.zeros(n), var) == pytest.approx(0.95, abs=0.005)


def test_sparsification_removes_most_uncertain_first():
    y = np.zeros(4)
    mean = np.array([0.1, 0.2, 4.0, 8.0])
    var = np.array([1.0, 2.0, 3.0, 4.0])
    f, m = M.sparsification(y, mean, var, fractions=[0.0, 0.25, 0.5])
    np.testing.assert_allclose(m, [(0.1 + 0.2 + 4 + 8) / 4, (0.1 + 0.2 + 4) / 3, 0.15])


def test_loss_masks_missing_labels():
    out = torch.tensor([[0.5, 0.0, 1.0, math.log(2.0)], [2.0, 1.0, -1.0, 0.0]])
    labels = torch.tensor([[1.0, float("nan")], [0.0, -1.0]])
    # entries: (0,0) known, (0,1) missing, (1,0) known, (1,1) known
    e00 = math.exp(-0.0) * (1.0 - 0.5) ** 2 + 0.0
    e10 = math.exp(-1.0) * (0.0 - 2.0) ** 2 + 1.0
    e11 = math.exp(-0.0) * (-1.0 + 1.0) ** 2 + 0.0
    assert float(gaussian_nll(out, labels)) == pytest.approx((e00 + e10 + e11) / 4)
    # the missing entry's outputs get no gradient
    o = out.clone().requires_grad_(True)
    gaussian_nll(o, labels).backward()
    assert torch.all(o.grad[0, 2:] == 0) and torch.any(o.grad[0, :2] != 0)


def _heavy_tailed(n: int = 5000, seed: int = 0):
    """Errors from Student's t with 3 degrees of freedom against a predicted variance of
    one: heavy tails, as regression networks' held-out errors often have."""
    rng = np.random.default_rng(seed)
    return rng.standard_t(3, n), np.zeros(n), rng.uniform(0.5, 2.0, n)


def test_published_factor_meets_the_published_criterion():
    for seed in range(4):
        y, m, var = _heavy_tailed(seed=seed)
        c = M.calibration_factor(y, m, var)  # the default: published
        assert c == M.calibration_factor_published(y, m, var)
        s = M.calibration_sum(y, m, var, c)
        # the original iterated until |S| <= 0.05; bisection lands on the step itself
        assert abs(s) <= 0.05
        # S falls with c: just below the factor it is positive, just above negative
        assert M.calibration_sum(y, m, var, c * 0.99) > 0 > M.calibration_sum(y, m, var,
                                                                               c * 1.01)


def test_published_calibration_beats_nll_on_heavy_tailed_errors():
    y, m, var = _heavy_tailed(seed=7)
    pub = M.calibration_factor(y, m, var, "published")
    nll = M.calibration_factor(y, m, var, "nll")
    assert nll == pytest.approx(np.mean(y ** 2 / var))
    assert nll > 1.5 * pub  # the squared errors' mean is dominated by the tails
    assert M.auce(y, m, pub * var) < M.auce(y, m, nll * var)
    assert M.auce(y, m, pub * var) < 0.03
    with pytest.raises(ValueError, match="calibration method"):
        M.calibration_factor(y, m, var, "median")


def test_published_factor_on_tiny_samples_takes_the_crossing_nearest_to_zero():
    # one subject: S is 5.5 below u^2 / z(0.55)^2 and drops by 1 at each level's step;
    # no c gives S = 0, the factor lands where |S| is smallest
    y, m, var = np.array([2.0]), np.zeros(1), np.ones(1)
    c = M.calibration_factor_published(y, m, var)
    grid = np.geomspace(1e-3, 1e3, 20001)
    best = min(abs(M.calibration_sum(y, m, var, g)) for g in grid)
    assert abs(M.calibration_sum(y, m, var, c)) == pytest.approx(best)
    # two subjects can hit S = 0 on an interval: the factor lies inside it
    y2 = np.array([1.0, 3.0])
    c2 = M.calibration_factor_published(y2, np.zeros(2), np.ones(2))
    assert M.calibration_sum(y2, np.zeros(2), np.ones(2), c2) == pytest.approx(0, abs=1e-12)
    assert math.isnan(M.calibration_factor_published([np.nan], [0.0], [1.0]))


def test_icc_worked_example_of_the_docs():
    """docs/training.md: the textbook ICC(2,1) and the original's formula (its column
    mean square without the factor n, its error term the within-subject sum over
    (n - 1)(k - 1)) on the same five subjects, against the numbers worked by hand."""
    y = np.array([10.0, 12, 14, 16, 18])
    p = np.array([11.0, 13.5, 14.5, 17.5, 18.5])
    X = np.stack([y, p], axis=1)
    n, k = X.shape
    g = X.mean()
    ssr = k * np.sum((X.mean(axis=1) - g) ** 2)
    ssc = n * np.sum((X.mean(axis=0) - g) ** 2)
    sse = np.sum((X - g) ** 2) - ssr - ssc
    assert (ssr, ssc, sse) == pytest.approx((76.5, 2.5, 0.5))
    # textbook: MSR 19.125, MSC 2.5, MSE 0.125 -> 19 / 20.2
    assert M.icc21(y, p) == pytest.approx(19 / 20.2, rel=1e-12)
    assert M.ICC_FORMULAS["textbook"](y, p) == pytest.approx(0.940594, abs=5e-7)
    # the original's: MS_R 19.125, MS_C 0.5 (no factor n), MS_E (2.5 + 0.5) / 4 = 0.75
    # -> (19.125 - 0.75) / (19.125 + 0.75 + 2 / 5 (0.5 - 0.75)) = 18.375 / 19.775
    assert M.icc_published(y, p) == pytest.approx(18.375 / 19.775, rel=1e-12)
    assert M.ICC_FORMULAS["published"](y, p) == pytest.approx(0.929204, abs=5e-7)
    # equal column means (no offset): MS_C = MSC = 0 and MS_E = MSE, the two agree
    q = y + np.array([0.5, -0.5, 0.5, -0.5, 0.0])
    assert M.icc21(y, q) == pytest.approx(0.98958, abs=5e-6)
    assert M.icc_published(y, q) == pytest.approx(M.icc21(y, q), rel=1e-12)


def test_icc_formulas_agree_without_bias_and_part_with_one():
    """docs/training.md: 1,000 subjects (sd 1, error sd 0.2, rng seed 0): the two agree
    to 1e-7 without an offset and part by about 0.008 with one of half an sd."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    p = y + rng.normal(scale=0.2, size=1000)
    assert abs(M.icc21(y, p) - M.icc_published(y, p)) < 1e-7
    gap = M.icc21(y, p + 0.5) - M.icc_published(y, p + 0.5)
    assert 0.005 < gap < 0.012
    row = M.all_metrics(y, p, np.ones_like(y), icc="published")
    assert row["icc"] == row["icc_published"] != row["icc_textbook"]
    assert M.all_metrics(y, p, np.ones_like(y))["icc"] == row["icc_textbook"]


def test_mape_is_in_percent():
    """MIMIR's MAPE is in % (the original computed a fraction)."""
    assert M.mape([100.0, 200.0], [110.0, 180.0]) == pytest.approx(10.0)
