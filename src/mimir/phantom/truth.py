"""Ground truth measured from a phantom's generated anatomy.

Definitions (each a measurement on the tissue labels of :func:`mimir.phantom.anatomy.render`):

- ``vat_volume_L``: visceral adipose tissue voxels on the subject's output grid
  (2.232 x 2.232 x 3 mm, the imaged field of view), times the voxel volume.
- ``asat_volume_L``: subcutaneous adipose tissue of the trunk between the top of the
  femoral heads and the T9 level (as in UK Biobank's abdominal SAT), imaged field.
- ``liver_volume_L``: liver voxels times the voxel volume.
- ``liver_fat_pct``: 100 x the mean fat fraction over liver voxels.
- ``thigh_muscle_volume_L``: muscle voxels of both legs between the knee and the crotch
  (within the imaged field; tall subjects' knees may lie below it).
- ``muscle_fat_pct``: 100 x the mean fat fraction over those thigh muscle voxels.
- ``weight_kg``: the whole body, head to feet, rendered on a coarse grid
  (4.464 x 4.464 x 6 mm, wide enough for the arms): the sum over tissues of volume
  times density (:data:`mimir.phantom.anatomy.TISSUES`); the ``wb_<tissue>_L``
  columns are those whole-body volumes, so ``weight_kg == sum(wb_t * density_t)``.
- ``height_cm``, ``sex_male1`` and ``age_years``: the subject's parameters (properties
  of the person; the anatomy scales with height, and muscle fat, visceral fat and marrow
  fat rise with age).
"""

from __future__ import annotations

import numpy as np

from mimir.phantom.anatomy import (
    LANDMARKS,
    REGIONS,
    TISSUES,
    Body,
    Rendered,
    render,
    tissue_fat_fraction,
)
from mimir.phantom.geometry import PIXEL_SPACING, OutputGrid
from mimir.phantom.subject import PhantomSubject

#: (column, unit, description) of the main truth columns, in order.
TRUTH_COLUMNS = (
    ("vat_volume_L", "L", "visceral adipose tissue volume"),
    ("asat_volume_L", "L", "abdominal subcutaneous adipose tissue volume"),
    ("liver_fat_pct", "%", "liver fat fraction"),
    ("liver_volume_L", "L", "liver volume"),
    ("thigh_muscle_volume_L", "L", "total thigh muscle volume"),
    ("muscle_fat_pct", "%", "thigh muscle fat fraction"),
    ("weight_kg", "kg", "body weight"),
    ("height_cm", "cm", "standing height"),
    ("sex_male1", "(male = 1)", "sex"),
    ("age_years", "years", "age"),
)
#: Voxel volume of the output grid in litres.
VOXEL_L = PIXEL_SPACING * PIXEL_SPACING * 3.0 * 1e-6
WB_STEP = (2 * PIXEL_SPACING, 2 * PIXEL_SPACING, 6.0)
BODY_TISSUES = [name for name in TISSUES if name not in ("air", "table")]


def _slab(mask_z: np.ndarray) -> slice:
    idx = np.flatnonzero(mask_z)
    return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)


def measure_on_grid(subject: PhantomSubject, r: Rendered, ff: np.ndarray | None = None) -> dict:
    """Regional truths measured on labels rendered on the subject's output grid.

    Parameters
    ----------
    subject : PhantomSubject
    r : Rendered
        Labels on the output grid.
    ff : ndarray, optional
        The voxels' fat fraction (computed when not given).
    """
    body = Body(subject)
    t = {name: v[0] for name, v in TISSUES.items()}
    h = r.h
    if ff is None:
        ff = tissue_fat_fraction(subject, r)
    out = {"vat_volume_L": float(np.count_nonzero(r.tissue == t["vat"]) * VOXEL_L)}
    sl = _slab((h >= body.f("femoral_head") + 25.0 * subject.frame)
               & (h <= LANDMARKS["T9"] * body.H))
    asat = (r.tissue[sl] == t["sat"]) & (r.region[sl] == REGIONS["trunk"])
    out["asat_volume_L"] = float(np.count_nonzero(asat) * VOXEL_L)
    liver = r.tissue == t["liver"]
    n_liver = int(np.count_nonzero(liver))
    out["liver_fat_pct"] = float(100 * ff[liver].mean()) if n_liver else float("nan")
    out["liver_volume_L"] = float(n_liver * VOXEL_L)
    sl = _slab((h >= body.f("knee")) & (h <= body.f("crotch")))
    thigh = (r.tissue[sl] == t["muscle"]) & (r.region[sl] == REGIONS["leg"])
    n_thigh = int(np.count_nonzero(thigh))
    out["thigh_muscle_volume_L"] = float(n_thigh * VOXEL_L)
    out["muscle_fat_pct"] = float(100 * ff[sl][thigh].mean()) if n_thigh else float("nan")
    return out


def whole_body(subject: PhantomSubject) -> dict:
    """Whole-body tissue volumes (L) and weight (kg) from a coarse head-to-feet render."""
    body = Body(subject)
    z_floor = subject.chin_z - body.chin_h
    z = z_floor + WB_STEP[2] * (np.arange(int(body.H / WB_STEP[2]) + 1) + 0.5)
    x = np.arange(-380.0, 380.0, WB_STEP[0])
    y = np.arange(-320.0, 160.0, WB_STEP[1])
    r = render(subject, x, y, z)
    counts = np.bincount(r.tissue.ravel(), minlength=len(TISSUES))
    vox_l = WB_STEP[0] * WB_STEP[1] * WB_STEP[2] * 1e-6
    out = {}
    weight = 0.0
    for name in BODY_TISSUES:
        label, _pd, _ff, rho = TISSUES[name]
        vol = float(counts[label] * vox_l)
        out[f"wb_{name}_L"] = vol
        weight += vol * rho
    out["weight_kg"] = weight
    return out


def measure_truth(subject: PhantomSubject, grid: OutputGrid | None,
                  rendered: Rendered | None = None, ff: np.ndarray | None = None) -> dict:
    """All truth values of a subject (see the module docstring for definitions).

    Parameters
    ----------
    subject : PhantomSubject
    grid : OutputGrid or None
        The subject's output grid (None when ``rendered`` is given).
    rendered : Rendered, optional
        Labels already rendered on the output grid (saves rendering them again).
    ff : ndarray, optional
        Their fat fraction, if already computed.

    Returns
    -------
    dict
        ``eid``, the :data:`TRUTH_COLUMNS` and the ``wb_<tissue>_L`` volumes.
    """
    if rendered is None:
        if grid is None:
            raise ValueError("measure_truth needs the output grid or the rendered labels")
        rendered = render(subject, grid.x, grid.y, grid.z)
    out: dict = {"eid": subject.eid}
    out.update(measure_on_grid(subject, rendered, ff))
    out.update(whole_body(subject))
    out["height_cm"] = subject.height_cm
    out["sex_male1"] = subject.sex
    out["age_years"] = subject.age
    order = ["eid"] + [c for c, _, _ in TRUTH_COLUMNS]
    return {k: out[k] for k in order} | {k: v for k, v in out.items() if k not in order}
