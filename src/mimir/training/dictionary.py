"""The data dictionary (``columns.csv``) of a cross-validation folder.

It covers ``metrics.csv``, ``metrics_by_fold.csv``, ``calibration_factors.csv``,
``pooled_predictions.csv`` and each fold's ``log.csv`` and ``heldout_iter_N.csv``.
Values are in the target table's units (``1/d unit`` for a divisor d other than 1).
"""

from __future__ import annotations

from pathlib import Path

from mimir.output.dictionary import dictionary_of_tables, squared

_METRICS = {
    "target": ("the target's column in the target table", ""),
    "name": ("the target's name (from the table's .meta.csv)", ""),
    "field": ("UK Biobank field id of the target (empty where none is recorded)", ""),
    "unit": ("the unit of the target's values in the table", ""),
    "iteration": ("the training snapshot evaluated", ""),
    "fold": ("the fold whose held-out subjects are evaluated", ""),
    "n": ("held-out subjects with a reference value", ""),
    "icc": ("ICC of the formula named in icc_formula (agreement of prediction and "
            "reference)", ""),
    "icc_formula": ("textbook: ICC(2,1), absolute agreement; published: the original "
                    "MIMIR's formula (docs/training.md)", ""),
    "icc_textbook": ("ICC(2,1): two-way random effects, absolute agreement, single "
                     "measures", ""),
    "icc_published": ("the ICC as the original MIMIR computed it (its published figures "
                      "use it)", ""),
    "r2": ("coefficient of determination, 1 - SS_res / SS_tot", ""),
    "mae": ("mean absolute error", "target unit"),
    "mape": ("mean absolute percentage error in % (references below 1e-4 left out; the "
             "original computed a fraction)", "%"),
    "nll": ("mean Gaussian negative log-likelihood, uncalibrated variances", ""),
    "auce": ("area between the calibration curve and the diagonal, uncalibrated", ""),
    "coverage95": ("share of references inside the 95 % interval, uncalibrated", ""),
    "nll_calibrated": ("mean Gaussian negative log-likelihood, calibrated variances", ""),
    "auce_calibrated": ("area between the calibration curve and the diagonal, "
                        "calibrated", ""),
    "coverage95_calibrated": ("share of references inside the 95 % interval, "
                              "calibrated", ""),
    "calibration_factor": ("scale of the predicted variances that calibrates them on the "
                           "pooled held-out predictions", ""),
    "calibration_method": ("published: the calibration-curve criterion; nll: minimum "
                           "Gaussian NLL", ""),
    "calibration_sum": ("S(factor) of the published criterion (0 when calibrated)", ""),
    "published_target": ("the published target matched (by UK Biobank field, else by "
                         "name); empty: none", ""),
    "published_field": ("its UK Biobank field id", ""),
    "published_unit": ("its unit (published MAE is in this unit)", ""),
    "published_n": ("subjects of the published 10-fold cross-validation", ""),
    "published_icc": ("published ICC (the original's formula: compare with "
                      "icc_published)", ""),
    "published_r2": ("published R²", ""),
    "published_mae": ("published mean absolute error", "published_unit"),
    "published_mape_percent": ("published mean absolute percentage error", "%"),
    "loss": ("running training loss (Gaussian negative log-likelihood, standardised "
             "units)", ""),
    "lr": ("learning rate", ""),
    "seconds": ("seconds since the run started", "s"),
}


def crossval_dictionary(out: Path, targets: list[str], info: dict) -> list[dict]:
    """Rows of ``columns.csv`` for every table of a cross-validation folder."""
    meanings = dict(_METRICS)
    for t in targets:
        about = info.get(t, {})
        u = about.get("unit", "")
        label = about.get("label", t)
        meanings[f"{t}_mean"] = (f"{label}: predicted mean (held out)", u)
        meanings[f"{t}_var"] = (f"{label}: predicted variance, uncalibrated", squared(u))
        meanings[f"{t}_var_calibrated"] = (f"{label}: predicted variance times the "
                                           "calibration factor", squared(u))
        meanings[f"{t}_truth"] = (f"{label}: the reference value", u)
    meanings["name"] = ("subject name (<eid>_20201_<instance>_0), or in metrics tables the "
                        "target's name", "")
    return dictionary_of_tables(out, meanings=meanings)
