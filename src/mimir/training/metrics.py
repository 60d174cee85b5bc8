"""Accuracy and uncertainty metrics (modules.md, evaluation).

All functions take 1-D arrays of equal length: ``y`` the reference values, ``mean``
the predictions and ``var`` the predicted variances. Entries with a missing reference
(NaN) are left out.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

#: Interval levels of the calibration curve.
LEVELS = np.round(np.arange(1, 11) / 10, 10)


def _clean(*arrays):
    arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(a, dtype=np.float64))
                                   for a in arrays])
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a)
    return [a[ok] for a in arrays]


def icc21(y, pred) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, single measures.

    With n subjects rated by k = 2 "raters" (reference and prediction):
    ``(MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)`` (Shrout & Fleiss 1979;
    McGraw & Wong's ICC(A,1)).
    """
    y, pred = _clean(y, pred)
    X = np.stack([y, pred], axis=1)
    n, k = X.shape
    if n < 2:
        return float("nan")
    grand = X.mean()
    ss_rows = k * np.sum((X.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((X.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((X - grand) ** 2) - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom != 0 else float("nan")


def icc_published(y, pred) -> float:
    """The ICC as the original MIMIR computed it (its published figures come from this).

    With n subjects, k = 2 columns (reference, prediction), row means r_i, column means
    c_j and grand mean g::

        MS_R = k * sum_i (r_i - g)^2 / (n - 1)            (as in ICC(2,1))
        MS_C = sum_j (c_j - g)^2 / (k - 1)                (no factor n)
        MS_E = sum_ij (x_ij - r_i)^2 / ((n - 1)(k - 1))   (the within-subject sum,
                                                           column effect included)
        ICC  = (MS_R - MS_E) / (MS_R + (k - 1) MS_E + k / n (MS_C - MS_E))

    Without a systematic offset between reference and prediction it is close to
    :func:`icc21`; an offset lowers it (it enters MS_E).
    """
    y, pred = _clean(y, pred)
    X = np.stack([y, pred], axis=1)
    n, k = X.shape
    if n < 2:
        return float("nan")
    grand = X.mean()
    rows = X.mean(axis=1)
    ms_r = k * np.sum((rows - grand) ** 2) / (n - 1)
    ms_c = np.sum((X.mean(axis=0) - grand) ** 2) / (k - 1)
    ms_e = np.sum((X - rows[:, None]) ** 2) / ((n - 1) * (k - 1))
    denom = ms_r + (k - 1) * ms_e + k / n * (ms_c - ms_e)
    return float((ms_r - ms_e) / denom) if denom != 0 else float("nan")


#: The ICC formulas ``crossval --icc`` offers: MIMIR's textbook ICC(2,1), or the one
#: the original's published figures come from.
ICC_FORMULAS = {"textbook": icc21, "published": icc_published}


def r2(y, pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (nan when SS_tot is 0)."""
    y, pred = _clean(y, pred)
    if len(y) == 0:
        return float("nan")
    ss_tot = np.sum((y - y.mean()) ** 2)
    if ss_tot == 0:
        return float("nan")
    return float(1 - np.sum((y - pred) ** 2) / ss_tot)


def mae(y, pred) -> float:
    """Mean absolute error."""
    y, pred = _clean(y, pred)
    return float(np.mean(np.abs(y - pred))) if len(y) else float("nan")


def mape(y, pred, eps: float = 1e-4) -> float:
    """Mean absolute percentage error in % (the original computed a fraction, 1/100 of
    this; its documents print %); references with ``|y| < eps`` left out."""
    y, pred = _clean(y, pred)
    keep = np.abs(y) >= eps
    if not np.any(keep):
        return float("nan")
    return float(100 * np.mean(np.abs((y[keep] - pred[keep]) / y[keep])))


def nll(y, mean, var) -> float:
    """Mean Gaussian negative log-likelihood ``0.5 (log(2 pi var) + (y - mean)^2 / var)``."""
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return float("nan")
    return float(np.mean(0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)))


def calibration_curve(y, mean, var, levels=LEVELS) -> np.ndarray:
    """Observed fraction of subjects whose |error| / sd lies in the central interval.

    For each level p the interval is ``|error| / sd <= z`` with z the (1 + p) / 2
    quantile of the standard normal (p = 1 covers everything).
    """
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return np.full(len(levels), np.nan)
    u = np.abs(y - mean) / np.sqrt(var)
    out = []
    for p in levels:
        z = np.inf if p >= 1 else NormalDist().inv_cdf((1 + p) / 2)
        out.append(np.mean(u <= z))
    return np.array(out)


def auce(y, mean, var, levels=LEVELS) -> float:
    """Area between the calibration curve and the diagonal: mean |observed - p| over the
    levels (the levels are equally spaced on (0, 1], so this is the area)."""
    curve = calibration_curve(y, mean, var, levels)
    return float(np.mean(np.abs(curve - np.asarray(levels))))


#: Calibration estimators: ``published`` (the default) and ``nll``.
CALIBRATION_METHODS = ("published", "nll")

#: The search range of :func:`calibration_factor_published`.
FACTOR_RANGE = (1e-8, 1e8)


def calibration_sum(y, mean, var, c: float, levels=LEVELS) -> float:
    """S(c) of the published criterion: the sum over the levels of ``p - f(p)``, where
    f(p) is the share of subjects with ``|y - mean| <= z((1 + p) / 2) sqrt(c var)``.

    S falls as c grows (in steps of 1/n); a calibrated factor has S = 0.
    """
    y, mean, var = _clean(y, mean, var)
    return _sum_at(_sorted_u2(y, mean, var), c, _z2(levels), levels)


def _sorted_u2(y, mean, var) -> np.ndarray:
    return np.sort((y - mean) ** 2 / var)


def _z2(levels) -> np.ndarray:
    return np.array([np.inf if p >= 1 else NormalDist().inv_cdf((1 + p) / 2) ** 2
                     for p in levels])


def _sum_at(u2: np.ndarray, c: float, z2: np.ndarray, levels) -> float:
    # |err| <= z sqrt(c var)  <=>  err^2 / var <= c z^2 (z = inf covers everything)
    inside = np.searchsorted(u2, c * z2, side="right") / len(u2)
    return float(np.sum(np.asarray(levels) - inside))


def calibration_factor_published(y, mean, var, levels=LEVELS) -> float:
    """The published calibration factor: the c at which S(c) (:func:`calibration_sum`)
    is zero, found by bisection on log c.

    S is a falling step function. Where it is zero on an interval, the geometric middle
    of that interval is returned; where its steps skip zero, the side of the crossing
    whose S is nearer to zero. NaN when no subject has a finite reference; the ends of
    :data:`FACTOR_RANGE` when S does not change sign inside it (degenerate errors, e.g.
    all exactly zero).
    """
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return float("nan")
    u2, z2 = _sorted_u2(y, mean, var), _z2(levels)

    def S(c: float) -> float:
        return _sum_at(u2, c, z2, levels)

    tol = 1e-9  # S moves in steps of 1/n; below this it is zero up to float rounding
    lo, hi = FACTOR_RANGE
    if S(lo) <= tol:
        return lo
    if S(hi) > tol:
        return hi
    first_nonpositive = _bisect(S, lo, hi, lambda v: v <= tol)
    s_at, s_before = S(first_nonpositive[1]), S(first_nonpositive[0])
    if abs(s_at) <= tol:  # zero on an interval: [first c with S <= 0, first c with S < 0)
        end = _bisect(S, first_nonpositive[1], hi, lambda v: v < -tol)[1]
        return float(np.sqrt(first_nonpositive[1] * end))
    # the steps skip zero: the side nearer to zero
    return float(first_nonpositive[0] if abs(s_before) < abs(s_at) else first_nonpositive[1])


def _bisect(S, lo: float, hi: float, done, rel: float = 1e-12) -> tuple[float, float]:
    """(a, b) with ``not done(S(a))``, ``done(S(b))`` and b / a - 1 <= ``rel``: bisection
    on log c of a monotone criterion (``done(S(lo))`` false, ``done(S(hi))`` true)."""
    while hi / lo - 1 > rel:
        mid = float(np.sqrt(lo * hi))
        if done(S(mid)):
            hi = mid
        else:
            lo = mid
    return lo, hi


def calibration_factor_nll(y, mean, var) -> float:
    """The variance scale s minimising the Gaussian NLL of ``(mean, s * var)``.

    Closed form: ``s = mean((y - mean)^2 / var)``. Equal to the published factor on
    Gaussian errors, far larger on heavy-tailed ones.
    """
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return float("nan")
    return float(np.mean((y - mean) ** 2 / var))


def calibration_factor(y, mean, var, method: str = "published") -> float:
    """The calibration factor of one target by ``method`` (see
    :data:`CALIBRATION_METHODS`)."""
    if method == "published":
        return calibration_factor_published(y, mean, var)
    if method == "nll":
        return calibration_factor_nll(y, mean, var)
    raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got "
                     f"{method!r}")


def sparsification(y, mean, var, fractions=np.round(np.arange(0, 10) / 10, 10)):
    """MAE of the subjects left after removing the most uncertain fraction first.

    Returns (fractions, mae) arrays.
    """
    y, mean, var = _clean(y, mean, var)
    order = np.argsort(-var, kind="stable")
    err = np.abs(y - mean)[order]
    n = len(err)
    maes = []
    for f in fractions:
        k = int(np.floor(f * n))
        rest = err[k:]
        maes.append(float(np.mean(rest)) if len(rest) else float("nan"))
    return np.asarray(fractions), np.array(maes)


def ause(y, mean, var, fractions=np.round(np.arange(0, 10) / 10, 10)) -> float:
    """Area under the sparsification error: the mean gap, over the removed fractions,
    between the sparsification curve (most uncertain removed first) and the oracle's
    (largest errors removed first), relative to the MAE of all subjects. 0: the
    predicted variances rank the errors perfectly; larger is worse."""
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return float("nan")
    _, by_var = sparsification(y, mean, var, fractions)
    _, oracle = sparsification(y, mean, np.abs(y - mean), fractions)
    total = float(np.mean(np.abs(y - mean)))
    return float(np.nanmean(by_var - oracle) / total) if total > 0 else float("nan")


def coverage(y, mean, var, level: float = 0.95) -> float:
    """Share of references inside the central interval at ``level``."""
    y, mean, var = _clean(y, mean, var)
    if len(y) == 0:
        return float("nan")
    z = NormalDist().inv_cdf((1 + level) / 2)
    return float(np.mean(np.abs(y - mean) <= z * np.sqrt(var)))


def all_metrics(y, mean, var, icc: str = "textbook") -> dict:
    """Every metric of one target (before calibration).

    ``icc`` is the value of :data:`ICC_FORMULAS` ``[icc]``; ``icc_textbook`` and
    ``icc_published`` hold both.
    """
    both = {"icc_textbook": icc21(y, mean), "icc_published": icc_published(y, mean)}
    return {"n": int(len(_clean(y, mean, var)[0])), "icc": both[f"icc_{icc}"], **both,
            "r2": r2(y, mean), "mae": mae(y, mean), "mape": mape(y, mean),
            "nll": nll(y, mean, var), "auce": auce(y, mean, var),
            "coverage95": coverage(y, mean, var)}
