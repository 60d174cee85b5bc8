"""Automatic QC flags from the facts measured while preprocessing.

Each flag is one entry of :data:`RULES`: a severity, the rule in words, and a predicate
over the subject's :class:`~mimir.qc.facts.SubjectFacts` and warnings that returns None
(not raised) or a detail (raised; may be empty text). ``fail`` flags make ``qc_pass``
false (the image is not trustworthy as a whole), ``warn`` flags are reported but keep
``qc_pass`` true. Adding a flag is one entry. The rules (thresholds checked on phantoms:
clean subjects raise no flag, each irregular variant raises its own; see docs/qc.md):
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from mimir.cache.store import CacheError
from mimir.notes import code_of
from mimir.qc.facts import SubjectFacts
from mimir.reading.archive import id_columns

if TYPE_CHECKING:
    import pandas

KNEE_RATIO = 0.40
LATERAL_EDGE = 0.85
ANTERIOR_EDGE = 0.10
SMALL_OVERLAP = 5
EXPECTED_STATIONS = 6


def _lt0(v) -> bool:
    return v is not None and not math.isnan(v) and v < 0


def _ge0(v) -> bool:
    return v is not None and not math.isnan(v) and v >= 0


def swapped_stations(scores: list[dict]) -> list[int]:
    """1-based stations (neck first) whose water and fat look swapped (see RULES)."""
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


#: Warning codes (see :mod:`mimir.notes`) that other flags already report.
EXPLAINED_WARNINGS = ("superimposed_station", "water_fat_size_mismatch", "stations_do_not_meet")


def _missing_stations(f: SubjectFacts, _w) -> str | None:
    n = f.water_stations
    return f"{n} stations" if n is not None and n < EXPECTED_STATIONS else None


def _fat_water_swap(f: SubjectFacts, _w) -> str | None:
    sw = swapped_stations(f.swap_scores)
    return f"swap in station {','.join(map(str, sw))}" if sw else None


def _leg_swap(f: SubjectFacts, _w) -> str | None:
    found = [f"one-sided swap between stations {i + 1} and {i + 2}"
             for i, s in enumerate(f.swap_scores)
             if (_lt0(s.get("corr_left")) and _ge0(s.get("corr_right")))
             or (_lt0(s.get("corr_right")) and _ge0(s.get("corr_left")))]
    return "; ".join(found) if found else None


def _station_gap(f: SubjectFacts, _w) -> str | None:
    return f"overlaps {f.overlaps}" if any(o <= 0 for o in f.overlaps) else None


def _small_overlap(f: SubjectFacts, _w) -> str | None:
    if any(o <= 0 for o in f.overlaps):
        return None  # a gap is reported as such
    return f"overlaps {f.overlaps}" if any(o < SMALL_OVERLAP for o in f.overlaps) else None


def _knee(f: SubjectFacts, _w) -> str | None:
    r = f.bottom_ratio
    if r is None or not SubjectFacts.finite(r) or r <= KNEE_RATIO:
        return None
    return f"bottom ratio {r:.2f}"


def _raised(cond: bool) -> str | None:
    return "" if cond else None


def _other_warning(_f, warnings: list[str]) -> str | None:
    return _raised(any(code_of(w) not in EXPLAINED_WARNINGS for w in warnings))


class Rule(NamedTuple):
    """One QC flag: severity (``fail`` or ``warn``), the rule in words, and the
    predicate (facts, warnings) -> detail or None."""

    severity: str
    rule: str
    predicate: Callable[[SubjectFacts, list], str | None]


#: flag -> Rule; the table of every QC flag.
RULES: dict[str, Rule] = {
    "missing_stations": Rule("fail", "fewer than 6 water/fat station pairs after resolving "
                                     "repeats", _missing_stations),
    "fat_water_swap": Rule("fail", "a station's fat fraction is anti-correlated (r < 0) with "
                                   "its neighbours' in both overlaps (an end station: in its "
                                   "one overlap, while the neighbour's other overlap agrees)",
                           _fat_water_swap),
    "leg_swap": Rule("fail", "in an overlap one half (left or right) is anti-correlated and "
                             "the other half agrees: water and fat swapped in one leg",
                     _leg_swap),
    "station_gap": Rule("fail", "neighbouring stations do not overlap (a gap in coverage)",
                        _station_gap),
    "knee_not_covered": Rule("fail", "the body's cross-section in the lowest 5 slices exceeds "
                                     "0.40 of the widest cross-section in the lower third: "
                                     "the field of view ends on the thighs, above the knees",
                             _knee),
    "small_overlap": Rule("warn", "neighbouring stations overlap by fewer than 5 slices "
                                  "(15 mm)", _small_overlap),
    "superimposed_station": Rule("warn", "a station was acquired twice; the later copy was "
                                         "used", lambda f, _w: _raised(f.superimposed > 0)),
    "water_fat_crop": Rule("warn", "water and fat of a station differed in size; both "
                                   "cropped", lambda f, _w: _raised(f.cropped > 0)),
    "body_at_lateral_edge": Rule("warn", "the body touches the left or right edge in more "
                                         "than 85 % of slices",
                                 lambda f, _w: _raised(f.lateral_edge > LATERAL_EDGE)),
    "body_at_anterior_edge": Rule("warn", "the body touches the anterior edge in more than "
                                          "10 % of slices",
                                  lambda f, _w: _raised(f.anterior_edge > ANTERIOR_EDGE)),
    "preprocessing_warning": Rule("warn", "any other warning recorded while preprocessing",
                                  _other_warning),
}

#: flag -> (severity, rule): the table without its predicates.
FLAGS = {k: (r.severity, r.rule) for k, r in RULES.items()}
__doc__ += "\n" + "\n".join(f"- ``{k}`` ({sev}): {rule}." for k, (sev, rule) in FLAGS.items())


def subject_flags(facts: dict | SubjectFacts, warnings: list[str]) -> dict:
    """Flags of one subject.

    Returns
    -------
    dict
        One boolean per flag in :data:`RULES`, plus ``qc_pass`` (no ``fail`` flag),
        ``qc_flags`` (the raised flags, ``;``-separated) and ``qc_detail`` (stations or
        values behind them).
    """
    f = facts if isinstance(facts, SubjectFacts) else SubjectFacts.from_dict(facts)
    out: dict = {}
    detail = []
    for name, rule in RULES.items():
        d = rule.predicate(f, warnings)
        out[name] = d is not None
        if d:
            detail.append(d)
    raised = [k for k in RULES if out[k]]
    out["qc_pass"] = not any(RULES[k].severity == "fail" for k in raised)
    out["qc_flags"] = ";".join(raised)
    out["qc_detail"] = "; ".join(detail)
    return out


def qc_table(cache, names: list[str]) -> pandas.DataFrame:
    """QC flags of cached subjects (one row each, columns: name, eid, instance, qc_pass,
    qc_flags, qc_detail, warning_codes (the codes of the subject's warnings, see
    :mod:`mimir.notes`, ``;``-separated) and one boolean per flag). Subjects cached
    without QC facts get an empty ``qc_pass`` and ``qc_flags`` = ``unknown``."""
    import pandas as pd  # lazy: pandas loads only where it is used

    rows = []
    for n in names:
        try:
            entry = cache.read_entry(n)
        except CacheError:
            entry = None
        codes = ";".join(sorted({code_of(w) for w in entry.warnings})) if entry else ""
        if entry is None or not entry.facts:
            rows.append({"name": n, "qc_pass": None, "qc_flags": "unknown", "qc_detail": "",
                         "warning_codes": codes})
            continue
        rows.append({"name": n, **subject_flags(entry.facts, entry.warnings),
                     "warning_codes": codes})
    cols = ["name", "qc_pass", "qc_flags", "qc_detail", "warning_codes"] + list(FLAGS)
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
