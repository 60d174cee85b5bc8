"""Fat fraction and body mask (preprocessing.md section 7).

The body mask thresholds the signal sum at the mean of the Otsu thresholds of its
coronal planes. :func:`otsu_thresholds` computes every plane's 256-bin histogram in one
pass over the volume and gives exactly scikit-image's ``threshold_otsu`` per plane: the
bins are those of ``numpy.histogram`` (which scikit-image uses), and the threshold is
computed from them with scikit-image's arithmetic, step for step, for all planes at once
(:func:`otsu_from_histograms`; the tests compare it with scikit-image). Preprocessing
thus does not import scikit-image (with SciPy's ndimage, about 0.4 s at the start of
every worker process); only the plane-by-plane fallback does.
"""

from __future__ import annotations

import numpy as np

import mimir.native as native

#: Histogram bins of ``threshold_otsu`` (its default).
OTSU_BINS = 256
#: Planes of a volume binned at once (a few MB of float64 at a time).
_CHUNK_ELEMENTS = 1 << 17
#: Near-edge values the compiled estimate hands back at a time.
_HITS = 1 << 14
#: Unit roundoff of float64.
_U = 2.0 ** -53


def signal_sum(water: np.ndarray, fat: np.ndarray) -> np.ndarray:
    """``water + fat`` in float64 with every exact 0 replaced by 1."""
    s = np.add(water, fat, dtype=np.float64)
    s[s == 0] = 1
    return s


def fat_fraction(fat: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Fat fraction in per mille: ``1000 * fat / total``."""
    return 1000 * fat / total


def otsu_thresholds_reference(volume: np.ndarray) -> np.ndarray:
    """``threshold_otsu`` of each coronal plane ``volume[:, y, :]``, plane by plane."""
    # lazy on purpose: scikit-image (and SciPy's ndimage) take about 0.4 s to import,
    # and only this rare fallback (volumes not float64, non-finite values) needs them
    from skimage.filters import threshold_otsu  # lazy: scikit-image loads only where it is used

    return np.array([threshold_otsu(volume[:, y, :]) for y in range(volume.shape[1])],
                    dtype=np.float64)


def otsu_from_histograms(counts: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Otsu's threshold of each row's histogram, as ``threshold_otsu(hist=(counts,
    centers))`` of scikit-image computes it.

    The threshold is the bin centre maximising the between-class variance
    ``w1 * w2 * (m1 - m2) ** 2`` over the splits after each bin (w: class counts, m:
    class means, from cumulative sums over the bins), with the dtypes and the order of
    operations of scikit-image 0.26: counts as float32 (empty bins at either end left
    out first), centres as float64, the first maximum.

    Parameters
    ----------
    counts : ndarray, shape (P, bins)
        Histogram counts of P planes.
    centers : ndarray of float64, shape (P, bins)
        Their bin centres.

    Returns
    -------
    ndarray of float64, shape (P,)
    """
    if counts.shape[1] and np.all(counts[:, 0] > 0) and np.all(counts[:, -1] > 0):
        return _otsu_rows(counts.astype(np.float32), centers)
    out = np.empty(len(counts), dtype=np.float64)  # ends to trim: row by row
    for i, (c, x) in enumerate(zip(counts, centers, strict=True)):
        full = np.flatnonzero(c > 0)
        start, end = (int(full[0]), int(full[-1]) + 1) if full.size else (0, 0)
        out[i] = _otsu_rows(c[None, start:end].astype(np.float32), x[None, start:end])[0]
    return out


def _otsu_rows(counts: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """:func:`otsu_from_histograms` of float32 counts without empty end bins."""
    below = np.cumsum(counts, axis=1)
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    weighted = counts * centers
    mean_below = np.cumsum(weighted, axis=1) / below
    mean_above = (np.cumsum(weighted[:, ::-1], axis=1) / above[:, ::-1])[:, ::-1]
    between = below[:, :-1] * above[:, 1:] * (mean_below[:, :-1] - mean_above[:, 1:]) ** 2
    best = np.argmax(between, axis=1)
    return centers[np.arange(len(centers)), best]


def histogram_edges(lo: float, hi: float, bins: int = OTSU_BINS) -> np.ndarray:
    """The bin edges ``numpy.histogram(a, bins)`` uses for data with range [lo, hi]."""
    return np.linspace(lo, hi, bins + 1, endpoint=True, dtype=np.float64)


def numpy_bins(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, edges: np.ndarray,
               bins: int = OTSU_BINS, rows: np.ndarray | None = None) -> np.ndarray:
    """The bin ``numpy.histogram`` gives each value, its arithmetic step by step.

    Parameters
    ----------
    x : ndarray, float64, shape (k,)
        Values, each within the range of its own histogram.
    lo, hi : ndarray, float64, shape (k,)
        Range of each value's histogram (its data's minimum and maximum).
    edges : ndarray, float64, shape (k, bins + 1), or (m, bins + 1) with ``rows``
        Each value's bin edges (:func:`histogram_edges`).
    rows : ndarray of int, shape (k,), optional
        The row of ``edges`` holding each value's edges (a table of m histograms
        indexed in place, not copied per value).

    Returns
    -------
    ndarray of intp, shape (k,)
    """
    idx = (((x - lo) / (hi - lo)) * bins).astype(np.intp)
    idx[idx == bins] -= 1
    rows = np.arange(len(x)) if rows is None else rows
    idx[x < edges[rows, idx]] -= 1
    idx[(x >= edges[rows, idx + 1]) & (idx != bins - 1)] += 1
    return idx


def _plane_first_axis(volume: np.ndarray) -> np.ndarray:
    """``volume`` (X, Y, Z) as (Z, Y, X): the axis order most volumes here are stored in."""
    return volume.transpose(2, 1, 0)


def coronal_histograms(volume: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       bins: int = OTSU_BINS) -> np.ndarray:
    """The ``numpy.histogram`` counts of every coronal plane, in one pass.

    Every value's bin is estimated as ``trunc(f + eps)`` with ``f = x * a_y + b_y``
    (a_y, b_y folding the plane's range and its place in one long histogram; eps a
    generous bound on rounding error), all planes are counted by one ``bincount`` per
    chunk, and the values where ``trunc(f - eps)`` differs, that is whose estimate lies
    within rounding error of a bin edge (a handful per plane, the minimum and maximum
    among them), are re-binned with numpy's own arithmetic (:func:`numpy_bins`). Any
    other value lies strictly inside its bin, where numpy's estimate needs no
    correction, so the counts are exactly numpy's.

    Parameters
    ----------
    volume : ndarray, float64, shape (X, Y, Z)
    lo, hi : ndarray, float64, shape (Y,)
        Minimum and maximum of each plane ``volume[:, y, :]``, finite. A constant plane
        (``lo == hi``) gets all its values in bin 0.

    Returns
    -------
    ndarray of int64, shape (Y, bins)

    Raises
    ------
    ValueError
        When a plane's range is too narrow for rounding error to be bounded well (then
        use numpy's histogram itself).
    """
    v = _plane_first_axis(volume)
    Z, Y, X = v.shape
    const = lo == hi
    den = np.where(const, 1.0, hi - lo)
    a = np.where(const, 0.0, bins / den)
    # a constant plane's values all land mid-way in its bin 0 (and are never re-binned)
    b = bins * np.arange(Y) - lo * a + np.where(const, 0.5, 0.0)
    # bound (in bins) on the estimate's error plus numpy's own rounding, 64 times over
    mag = np.maximum(np.abs(lo), np.abs(hi))
    eps = float(np.max(64 * _U * (mag / den * bins * 4 + bins * (Y + 2) * 4)))
    if not eps < 1e-3:
        raise ValueError("plane ranges too narrow for their magnitude")
    n_bins = bins * Y + 1
    edges = np.stack([histogram_edges(lo[j], hi[j], bins) for j in range(Y)])
    k = native.kernels()
    if k is not None and v.flags.c_contiguous and Y * X > 0:
        counts = _estimate_compiled(k, v, lo, hi, a, b + eps, eps, edges, bins, n_bins)
    else:
        counts = _estimate_numpy(v, lo, hi, a, b, eps, edges, bins, n_bins)
    if counts[-1] != 0:  # pragma: no cover - guarded by the bound above
        raise AssertionError("histogram estimate out of range")
    return counts[:-1].reshape(Y, bins)


def _rebin(counts: np.ndarray, x: np.ndarray, hit: np.ndarray, shape: tuple,
           lo: np.ndarray, hi: np.ndarray, edges: np.ndarray, bins: int) -> None:
    """Add the values ``x`` at flat positions ``hit`` of a (Z, Y, X) volume to
    ``counts`` in their exact bins (numpy's arithmetic)."""
    _, Y, X = shape
    y = (hit // X) % Y
    exact = numpy_bins(x, lo[y], hi[y], edges, bins, rows=y) + bins * y
    counts += np.bincount(exact, minlength=len(counts))


def _estimate_compiled(k, v: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: np.ndarray,
                       b_eps: np.ndarray, eps: float, edges: np.ndarray, bins: int,
                       n_bins: int) -> np.ndarray:
    """The counts of :func:`coronal_histograms` with the estimate as one compiled loop
    (the same arithmetic; near-edge values come back in batches and are re-binned here)."""
    counts = np.zeros(n_bins, dtype=np.int64)
    hits = np.empty(_HITS, dtype=np.int64)
    flat = v.reshape(-1)
    pos = 0
    while pos < flat.size:
        pos, n = k.hist_estimate(v, a, b_eps, 2 * eps, counts, hits, pos)
        if n:
            hit = hits[:n]
            _rebin(counts, flat[hit], hit, v.shape, lo, hi, edges, bins)
    return counts


def _estimate_numpy(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: np.ndarray,
                    b: np.ndarray, eps: float, edges: np.ndarray, bins: int,
                    n_bins: int) -> np.ndarray:
    """The counts of :func:`coronal_histograms`, chunk by chunk with numpy."""
    Z, Y, X = v.shape
    A = np.ascontiguousarray(np.broadcast_to(a[:, None], (Y, X)))
    # estimate trunc(f + eps); where trunc(f - eps) differs, f is within eps of an edge
    B = np.ascontiguousarray(np.broadcast_to(b[:, None] + eps, (Y, X)))
    counts = np.zeros(n_bins, dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // (Y * X))
    f = np.empty((step, Y, X))
    idx = np.empty((step, Y, X), dtype=np.intp)
    low = np.empty((step, Y, X), dtype=np.intp)
    near = np.empty((step, Y, X), dtype=bool)
    for z0 in range(0, Z, step):
        c = v[z0:z0 + step]
        k = len(c)
        fk, ik, lk, nk = f[:k], idx[:k], low[:k], near[:k]
        np.multiply(c, A, out=fk)
        np.add(fk, B, out=fk)
        np.copyto(ik, fk, casting="unsafe")  # truncation toward zero
        counts += np.bincount(ik.reshape(-1), minlength=n_bins)
        np.subtract(fk, 2 * eps, out=fk)
        np.copyto(lk, fk, casting="unsafe")
        np.not_equal(ik, lk, out=nk)
        hit = np.flatnonzero(nk)
        if hit.size:  # re-binned chunk by chunk: memory bounded by the chunk
            counts -= np.bincount(ik.reshape(-1)[hit], minlength=n_bins)
            _rebin(counts, np.ascontiguousarray(c).reshape(-1)[hit], hit, (k, Y, X),
                   lo, hi, edges, bins)
    return counts


def otsu_thresholds(volume: np.ndarray, lo: np.ndarray | None = None,
                    hi: np.ndarray | None = None) -> np.ndarray:
    """Otsu's threshold (scikit-image defaults) of each coronal plane ``volume[:, y, :]``.

    Equal, plane by plane, to ``skimage.filters.threshold_otsu(volume[:, y, :])``: a
    constant plane gives its value; otherwise the threshold comes from the plane's
    256-bin histogram (:func:`coronal_histograms`, all planes in one pass). Volumes that
    are not float64, or have non-finite values, go plane by plane through scikit-image
    itself (which raises for non-finite values, as before).

    Parameters
    ----------
    volume : ndarray, shape (X, Y, Z)
    lo, hi : ndarray, shape (Y,), optional
        Minimum and maximum of every plane, when already known.

    Returns
    -------
    ndarray, float64, shape (Y,)
    """
    if volume.dtype != np.float64 or volume.size == 0:
        return otsu_thresholds_reference(volume)
    v = _plane_first_axis(volume)
    lo = np.min(v, axis=(0, 2)) if lo is None else lo
    hi = np.max(v, axis=(0, 2)) if hi is None else hi
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return otsu_thresholds_reference(volume)
    const = lo == hi
    out = np.empty(volume.shape[1], dtype=np.float64)
    out[const] = volume[0, const, 0]
    if not np.all(const):
        try:
            counts = coronal_histograms(volume, lo, hi)
        except ValueError:
            return otsu_thresholds_reference(volume)
        planes = np.flatnonzero(~const)
        edges = np.stack([histogram_edges(lo[y], hi[y]) for y in planes])
        centers = (edges[:, :-1] + edges[:, 1:]) / 2.0
        out[planes] = otsu_from_histograms(counts[planes], centers)
    return out


def body_mask(total: np.ndarray) -> tuple[np.ndarray, float]:
    """Body mask ``total >= t``, t the mean per-y Otsu threshold of the coronal planes.

    Returns
    -------
    mask : ndarray of bool
    t : float
    """
    t = float(np.mean(otsu_thresholds(total)))
    return total >= t, t
