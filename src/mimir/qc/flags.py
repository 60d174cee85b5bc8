"""Automatic QC flags from the facts measured while preprocessing.

Each flag has a severity: ``fail`` flags make ``qc_pass`` false (the image is not
trustworthy as a whole), ``warn`` flags are reported but keep ``qc_pass`` true. The
rules (thresholds checked on phantoms: clean subjects raise no flag, each irregular
variant raises its own; see docs/qc.md):
"""

from __future__ import annotations

import math

#: flag -> (severity, rule)
FLAGS = {
    "missing_stations": ("fail", "fewer than 6 water/fat station pairs after resolving "
                                 "repeats"),
    "fat_water_swap": ("fail", "a station's fat fraction is anti-correlated (r < 0) with its "
                               "neighbours' in both overlaps (an end station: in its one "
                               "overlap, while the neighbour's other overlap agrees)"),
    "leg_swap": ("fail", "in an overlap one half (left or right) is anti-correlated and the "
                         "other half agrees: water and fat swapped in one leg"),
    "station_gap": ("fail", "neighbouring stations do not overlap (a gap in coverage)"),
    "knee_not_covered": ("fail", "the body's cross-section in the lowest 5 slices exceeds 0.40 "
                                 "of the widest cross-section in the lower third: the field "
                                 "of view ends on the thighs, above the knees"),
    "small_overlap": ("warn", "neighbouring stations overlap by fewer than 5 slices (15 mm)"),
    "superimposed_station": ("warn", "a station was acquired twice; the later copy was used"),
    "water_fat_crop": ("warn", "water and fat of a station differed in size; both cropped"),
    "body_at_lateral_edge": ("warn", "the body touches the left or right edge in more than "
                                     "85 % of slices"),
    "body_at_anterior_edge": ("warn", "the body touches the anterior edge in more than 10 % "
                                      "of slices"),
    "preprocessing_warning": ("warn", "any other warning recorded while preprocessing"),
}
__doc__ += "\n" + "\n".join(f"- ``{k}`` ({sev}): {rule}." for k, (sev, rule) in FLAGS.items())

KNEE_RATIO = 0.40
LATERAL_EDGE = 0.85
ANTERIOR_EDGE = 0.10
SMALL_OVERLAP = 5
EXPECTED_STATIONS = 6


def swapped_stations(scores: list[dict]) -> list[int]:
    """1-based stations (neck first) whose water and fat look swapped (see FLAGS)."""
    S = len(scores) + 1
    bad = {i for i, s in enumerate(scores) if _lt0(s.get("corr"))}
    good = {i for i, s in enumerate(scores) if _ge0(s.get("corr"))}
    out = []
    for st in range(S):
        bounds = [b for b in (st - 1, st) if 0 <= b < S - 1]
        if not bounds or not all(b in bad for b in bounds):
            continue
        if len(bounds) == 1:
            other = bounds[0] + 1 if st == 0 else bounds[0] - 1
            if 0 <= other < S - 1 and other not in good:
                continue  # cannot tell which of the two stations is swapped
        out.append(st + 1)
    return out


def _lt0(v) -> bool:
    return v is not None and not math.isnan(v) and v < 0


def _ge0(v) -> bool:
    return v is not None and not math.isnan(v) and v >= 0


def subject_flags(facts: dict, warnings: list[str]) -> dict:
    """Flags of one subject.

    Returns
    -------
    dict
        One boolean per flag in :data:`FLAGS`, plus ``qc_pass`` (no ``fail`` flag),
        ``qc_flags`` (the raised flags, ``;``-separated) and ``qc_detail`` (stations or
        values behind them).
    """
    f = {k: False for k in FLAGS}
    detail = []
    n = facts.get("water_stations")
    if n is not None and n < EXPECTED_STATIONS:
        f["missing_stations"] = True
        detail.append(f"{n} stations")
    scores = facts.get("swap_scores") or []
    sw = swapped_stations(scores)
    if sw:
        f["fat_water_swap"] = True
        detail.append(f"swap in station {','.join(map(str, sw))}")
    for i, s in enumerate(scores):
        left, right = s.get("corr_left"), s.get("corr_right")
        if (_lt0(left) and _ge0(right)) or (_lt0(right) and _ge0(left)):
            f["leg_swap"] = True
            detail.append(f"one-sided swap between stations {i + 1} and {i + 2}")
    overlaps = facts.get("overlaps") or []
    if any(o <= 0 for o in overlaps):
        f["station_gap"] = True
        detail.append(f"overlaps {overlaps}")
    elif any(o < SMALL_OVERLAP for o in overlaps):
        f["small_overlap"] = True
        detail.append(f"overlaps {overlaps}")
    ratio = facts.get("bottom_ratio")
    if ratio is not None and not math.isnan(ratio) and ratio > KNEE_RATIO:
        f["knee_not_covered"] = True
        detail.append(f"bottom ratio {ratio:.2f}")
    if facts.get("superimposed", 0) > 0:
        f["superimposed_station"] = True
    if facts.get("cropped", 0) > 0:
        f["water_fat_crop"] = True
    if facts.get("lateral_edge", 0) > LATERAL_EDGE:
        f["body_at_lateral_edge"] = True
    if facts.get("anterior_edge", 0) > ANTERIOR_EDGE:
        f["body_at_anterior_edge"] = True
    explained = ("superimposed station", "sizes differ", "do not meet")
    if any(not any(e in w for e in explained) for w in warnings):
        f["preprocessing_warning"] = True
    raised = [k for k, v in f.items() if v]
    f["qc_pass"] = not any(FLAGS[k][0] == "fail" for k in raised)
    f["qc_flags"] = ";".join(raised)
    f["qc_detail"] = "; ".join(detail)
    return f


def qc_table(cache, names: list[str]) -> pd.DataFrame:  # noqa: F821
    """QC flags of cached subjects (one row each, columns: name, eid, instance, qc_pass,
    qc_flags, qc_detail and one boolean per flag). Subjects cached without QC facts get
    an empty ``qc_pass`` and ``qc_flags`` = ``unknown``."""
    import pandas as pd

    from mimir.cache.store import CacheError
    from mimir.reading.archive import id_columns

    rows = []
    for n in names:
        try:
            entry = cache.read_entry(n)
        except CacheError:
            entry = None
        if entry is None or not entry.facts:
            rows.append({"name": n, "qc_pass": None, "qc_flags": "unknown", "qc_detail": ""})
            continue
        rows.append({"name": n, **subject_flags(entry.facts, entry.warnings)})
    cols = ["name", "qc_pass", "qc_flags", "qc_detail"] + list(FLAGS)
    table = pd.DataFrame(rows, columns=cols)
    ids = id_columns(table["name"])
    table.insert(1, "eid", ids["eid"])
    table.insert(2, "instance", ids["instance"])
    return table


def uncertainty_threshold(module, target) -> tuple[float, str]:
    """Predicted-sd threshold above which a prediction is flagged uncertain.

    The module's own threshold (module.json ``uncertainty_thresholds``: the 99th
    percentile of calibrated predicted sd on its validation data) when it has one;
    otherwise twice the standard deviation of its training labels (in reporting units),
    i.e. an interval wider than the population's spread.
    """
    th = module.sd_threshold(target.name)
    if th is not None:
        return th, "module"
    return 2.0 * target.sd / abs(target.divisor), "2 x training sd"
