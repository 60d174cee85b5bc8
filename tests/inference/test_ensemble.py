"""The ensemble mixture against a direct computation, and members combined in one pass."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.inference.ensemble import combine_outputs, mixture
from mimir.inference.formulas import to_predictions


def test_mixture_matches_a_direct_computation():
    rng = np.random.default_rng(5)
    K, N, T = 5, 7, 3
    means = rng.normal(size=(K, N, T))
    variances = rng.uniform(0.1, 2.0, size=(K, N, T))
    mean, var = mixture(means, variances)
    for i in range(N):
        for t in range(T):
            m = [means[k, i, t] for k in range(K)]
            v = [variances[k, i, t] for k in range(K)]
            mu = sum(m) / K
            # mean of the variances plus the population variance (ddof = 0) of the means
            want = sum(v) / K + sum((x - mu) ** 2 for x in m) / K
            assert mean[i, t] == pytest.approx(mu, rel=1e-12)
            assert var[i, t] == pytest.approx(want, rel=1e-12)
    # the second moment of the mixture, sampled: E[y^2] - E[y]^2 of draws from it
    draws = rng.normal(means[:, 0, 0], np.sqrt(variances[:, 0, 0]), size=(400_000, K))
    assert draws.ravel().var() == pytest.approx(var[0, 0], rel=0.01)


def test_one_member_is_itself_and_identical_members_add_nothing():
    m, v = np.array([[1.0, 2.0]]), np.array([[0.5, 3.0]])
    assert np.array_equal(mixture(m, v)[0], m[0]) and np.array_equal(mixture(m, v)[1], v[0])
    mean, var = mixture(np.repeat(m, 4, axis=0), np.repeat(v, 4, axis=0))
    assert np.allclose(mean, m[0]) and np.allclose(var, v[0])
    with pytest.raises(ValueError, match="same shape"):
        mixture(m, v[:, :1])


def test_combined_outputs_give_the_mixture_through_the_module_formulas():
    """Combining in standardised units, then standardisation, calibration and divisor,
    equals the mixture of the members' predictions with the factor applied to the whole
    mixture variance."""
    rng = np.random.default_rng(1)
    K, N, T = 3, 6, 2
    outs = [rng.normal(size=(N, 2 * T)) for _ in range(K)]
    mu, sd = np.array([10.0, -3.0]), np.array([2.0, 0.5])
    c, d = np.array([0.7, 1.3]), np.array([1.0, 1000.0])
    combined = combine_outputs(np.concatenate(outs, axis=1), K)
    assert combined.shape == (N, 2 * T)
    mean, var = to_predictions(combined, mu, sd, c, d)
    per = [to_predictions(o, mu, sd, np.ones(T), d) for o in outs]
    m_mix, v_mix = mixture(np.stack([p[0] for p in per]), np.stack([p[1] for p in per]))
    assert np.allclose(mean, m_mix, rtol=1e-12)
    assert np.allclose(var, c * v_mix, rtol=1e-10)
    with pytest.raises(ValueError, match="members"):
        combine_outputs(np.zeros((2, 10)), 3)
