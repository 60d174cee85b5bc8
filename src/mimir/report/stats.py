"""Aggregates the report shows (pure functions on arrays and tables).

Nothing here reads files or draws: robust z-scores and outliers, per-target summaries,
QC flag counts and failure groups, and the decoding of sex and boolean columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Scale turning a median absolute deviation into a standard deviation (normal data).
MAD_TO_SD = 1.482602218505602
#: Scale turning a mean absolute deviation into a standard deviation (normal data).
MEANAD_TO_SD = 1.2533141373155001
#: Robust z-score beyond which a prediction is listed as an outlier.
OUTLIER_Z = 4.0


def robust_scale(values) -> tuple[float, float]:
    """Median and robust standard deviation of the finite values.

    The robust sd is 1.4826 x the median absolute deviation from the median; where
    that is 0 (more than half the values equal), 1.2533 x the mean absolute deviation
    is used instead, and 0 only when all values are equal.

    Parameters
    ----------
    values : array-like of float
        NaN and infinite values are ignored.

    Returns
    -------
    (float, float)
        Median and robust sd (both NaN when no value is finite).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    med = float(np.median(x))
    dev = np.abs(x - med)
    scale = float(np.median(dev)) * MAD_TO_SD
    if scale == 0:
        scale = float(np.mean(dev)) * MEANAD_TO_SD
    return med, scale


def robust_z(values) -> np.ndarray:
    """Robust z-scores ``(x - median) / robust sd`` (see :func:`robust_scale`).

    Non-finite values get NaN; when the robust sd is 0 every finite value gets 0.
    """
    x = np.asarray(values, dtype=np.float64)
    med, scale = robust_scale(x)
    z = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    if scale > 0:
        z[ok] = (x[ok] - med) / scale
    else:
        z[ok] = 0.0
    return z


def find_outliers(values, threshold: float = OUTLIER_Z) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values beyond ``threshold`` robust z-scores, most extreme first.

    Parameters
    ----------
    values : array-like of float
    threshold : float
        A value is an outlier when ``|robust z| > threshold``.

    Returns
    -------
    index : ndarray of int
        Positions in ``values``, ordered by decreasing ``|z|`` (ties by position).
    z : ndarray of float
        Their robust z-scores.
    """
    z = robust_z(values)
    hit = np.flatnonzero(np.abs(np.nan_to_num(z, nan=0.0)) > threshold)
    order = np.lexsort((hit, -np.abs(z[hit])))
    hit = hit[order]
    return hit, z[hit]


def target_summary(values, sd=None, uncertain=None) -> dict:
    """Counts and quantiles of one target's predictions.

    Parameters
    ----------
    values : array-like of float
        Predicted means (NaN: not predicted).
    sd : array-like of float, optional
        Predicted standard deviations.
    uncertain : array-like of bool, optional
        The ``_uncertain`` flags (only subjects with a known flag should be passed).

    Returns
    -------
    dict
        ``n``, ``median``, ``p2_5``, ``p97_5``, ``mean``, ``sd``, ``median_sd`` and
        ``uncertain`` (share flagged uncertain; NaN without flags).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    out: dict = {"n": int(x.size)}
    if x.size:
        p = np.percentile(x, [2.5, 50, 97.5])
        out.update(median=float(p[1]), p2_5=float(p[0]), p97_5=float(p[2]),
                   mean=float(np.mean(x)), sd=float(np.std(x, ddof=1)) if x.size > 1
                   else float("nan"))
    else:
        out.update(median=np.nan, p2_5=np.nan, p97_5=np.nan, mean=np.nan, sd=np.nan)
    s = np.asarray(sd if sd is not None else [], dtype=np.float64)
    s = s[np.isfinite(s)]
    out["median_sd"] = float(np.median(s)) if s.size else float("nan")
    u = np.asarray(uncertain if uncertain is not None else [], dtype=bool)
    out["uncertain"] = float(np.mean(u)) if u.size else float("nan")
    out["uncertain_n"] = int(np.sum(u))
    return out


def bool_values(column) -> tuple[np.ndarray, np.ndarray]:
    """Decode a boolean column as written to CSV or Parquet.

    Parameters
    ----------
    column : array-like
        True/False, "True"/"False" (any case), 1/0, or missing (None, NaN, "").

    Returns
    -------
    value : ndarray of bool
        True where the entry is true.
    known : ndarray of bool
        True where the entry is a boolean at all.
    """
    s = pd.Series(column)
    if s.dtype == bool:
        return s.to_numpy(), np.ones(len(s), dtype=bool)
    text = s.astype(str).str.strip().str.lower()
    value = text.isin(("true", "1", "1.0")).to_numpy()
    known = value | text.isin(("false", "0", "0.0")).to_numpy()
    return value, known


def sex_labels(values) -> np.ndarray:
    """Recorded sex as ``"female"``, ``"male"`` or ``""`` (unknown).

    Accepts UK Biobank's coding of field 31 (0 female, 1 male) and words
    (female/male, f/m, woman/man; any case).
    """
    out = []
    for v in values:
        t = str(v).strip().lower() if v is not None and v == v else ""
        if t in ("1", "1.0", "male", "m", "man"):
            out.append("male")
        elif t in ("0", "0.0", "female", "f", "woman"):
            out.append("female")
        else:
            out.append("")
    return np.array(out, dtype=object)


def flag_counts(qc: pd.DataFrame, flags: dict) -> pd.DataFrame:
    """Subjects raising each QC flag.

    Parameters
    ----------
    qc : DataFrame
        ``qc.csv``: one boolean column per flag and ``qc_flags``.
    flags : dict
        flag -> (severity, rule), in display order (:data:`mimir.qc.flags.FLAGS`).

    Returns
    -------
    DataFrame
        ``flag``, ``severity``, ``subjects``, ``share`` and ``rule``; an ``unknown`` row
        when subjects were cached without QC facts.
    """
    n = len(qc)
    rows = []
    for flag, (sev, rule) in flags.items():
        hit = int(bool_values(qc[flag])[0].sum()) if flag in qc.columns else 0
        rows.append({"flag": flag, "severity": sev, "subjects": hit,
                     "share": hit / n if n else 0.0, "rule": rule})
    if "qc_flags" in qc.columns:
        unknown = int((qc["qc_flags"].astype(str) == "unknown").sum())
        if unknown:
            rows.append({"flag": "unknown", "severity": "", "subjects": unknown,
                         "share": unknown / n, "rule": "cached before QC facts were "
                         "recorded; preprocess again"})
    return pd.DataFrame(rows, columns=["flag", "severity", "subjects", "share", "rule"])


def flagged_names(qc: pd.DataFrame, flag: str) -> list[str]:
    """Names of the subjects raising ``flag`` (``unknown``: cached without facts)."""
    if flag == "unknown":
        return qc.loc[qc["qc_flags"].astype(str) == "unknown", "name"].tolist()
    if flag not in qc.columns:
        return []
    return qc.loc[bool_values(qc[flag])[0], "name"].tolist()


def group_failures(failures: pd.DataFrame, examples: int = 5,
                   message_chars: int = 300) -> list[dict]:
    """Failures grouped by kind, largest group first.

    Parameters
    ----------
    failures : DataFrame
        ``failures.csv`` (columns ``name``, ``kind``, ``message``).
    examples : int
        Examples kept per kind (the first by name).
    message_chars : int
        Longer messages are cut (with an ellipsis).

    Returns
    -------
    list of dict
        ``kind``, ``count`` and ``examples`` (list of (name, message)).
    """
    if failures is None or failures.empty:
        return []
    groups: list[dict] = []
    f = failures.fillna("")
    for kind, g in f.groupby(f["kind"].astype(str), sort=False):
        g = g.sort_values("name", kind="stable")
        ex = []
        for name, msg in zip(g["name"].head(examples), g["message"].head(examples),
                             strict=True):
            msg = str(msg)
            if len(msg) > message_chars:
                msg = msg[:message_chars - 1] + "\u2026"
            ex.append((str(name), msg))
        groups.append({"kind": kind or "(no kind)", "count": len(g), "examples": ex})
    groups.sort(key=lambda d: (-int(d["count"]), str(d["kind"])))
    return groups


def shuffled(names: list[str], seed: int = 0) -> list[str]:
    """The names (sorted first) in a reproducible random order, for picking examples.

    Callers take the first few that suit them (e.g. those with a cached image), so
    examples are spread over the cohort instead of being the first names
    alphabetically, and rebuilding a report picks the same ones.
    """
    order = sorted(names)
    rng = np.random.default_rng(seed)
    return [order[i] for i in rng.permutation(len(order))]
