"""Per-subject phantom parameters and how they are drawn.

The parameters describe a body; the ground truth reported for a subject is *measured*
from the anatomy they generate (see :mod:`mimir.phantom.truth`), except sex, age and
standing height, which are properties of the person rather than of the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class PhantomSubject:
    """Parameters of one synthetic subject.

    Attributes
    ----------
    eid : int
        Seven-digit subject id.
    sex : int
        1 male, 0 female.
    age : float
        Years (45-82).
    height_cm : float
        Standing height; all vertical landmarks scale with it.
    frame : float
        Skeletal frame factor (widths and depths of the lean body).
    muscle : float
        Muscle bulk factor (limb and wall muscle; falls with age).
    sat_mm : float
        Subcutaneous fat thickness scale in mm (regional profile applied).
    vat_share : float
        Share of the abdominal cavity that is visceral fat (before texture).
    liver_ff : float
        Liver fat fraction (0-1), mean over the liver.
    liver_size : float
        Liver volume factor (steatosis enlarges the liver).
    muscle_ff : float
        Thigh and trunk muscle fat fraction (0-1); rises with age.
    marrow_ff : float
        Bone marrow fat fraction (0-1); rises with age.
    chin_z : float
        Scanner z (mm) of the chin: how the subject was positioned.
    texture : tuple of float
        Phases of the smooth texture fields (visceral fat, liver, muscle).
    """

    eid: int
    sex: int
    age: float
    height_cm: float
    frame: float
    muscle: float
    sat_mm: float
    vat_share: float
    liver_ff: float
    liver_size: float
    muscle_ff: float
    marrow_ff: float
    chin_z: float
    texture: tuple

    def as_dict(self) -> dict:
        d = asdict(self)
        d["texture"] = list(self.texture)
        return d


def draw_subject(rng: np.random.Generator, eid: int) -> PhantomSubject:
    """Draw one subject's parameters (UK Biobank-like ranges and correlations)."""
    sex = int(rng.random() < 0.5)
    age = float(rng.uniform(45, 82))
    height = float(np.clip(rng.normal(176.0 if sex else 163.0, 6.8 if sex else 6.2),
                           145, 200))
    frame = float(np.clip((height / 170.0) ** 0.6 * rng.normal(1.0, 0.05), 0.8, 1.25))
    muscle = float(np.clip(rng.normal(1.0, 0.08) * (1 - 0.004 * (age - 45)), 0.7, 1.3))
    sat = float(np.clip(np.exp(rng.normal(np.log(19.0 if sex else 27.0), 0.40)), 4, 60))
    vat = rng.normal(0.40 if sex else 0.24, 0.11) + 0.004 * (age - 60) + 0.004 * (sat - 22)
    vat = float(np.clip(vat, 0.02, 0.85))
    liver_ff = np.exp(rng.normal(np.log(0.035), 0.9) + 1.5 * (vat - 0.3))
    liver_ff = float(np.clip(liver_ff, 0.005, 0.40))
    liver_size = float(np.clip(rng.normal(1.0, 0.1) * (1 + 0.8 * liver_ff)
                               * (0.85 if sex else 0.8) * frame ** 1.5, 0.5, 1.8))
    muscle_ff = 0.025 + 0.0011 * (age - 45) + 0.0006 * (sat - 18) + rng.normal(0, 0.008)
    muscle_ff = float(np.clip(muscle_ff, 0.01, 0.25))
    marrow_ff = float(np.clip(0.35 + 0.006 * (age - 45) + rng.normal(0, 0.05), 0.2, 0.85))
    chin_z = float(rng.normal(50.0, 8.0))
    texture = tuple(float(v) for v in rng.uniform(0, 2 * np.pi, size=8))
    return PhantomSubject(eid=eid, sex=sex, age=round(age, 2), height_cm=round(height, 1),
                          frame=frame, muscle=muscle, sat_mm=sat, vat_share=vat,
                          liver_ff=liver_ff, liver_size=liver_size, muscle_ff=muscle_ff,
                          marrow_ff=marrow_ff, chin_z=chin_z, texture=texture)


def draw_cohort(n: int, seed: int) -> list[PhantomSubject]:
    """``n`` subjects with distinct eids, deterministic in ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20201]))
    eids = rng.choice(np.arange(1_000_000, 6_000_000), size=n, replace=False)
    return [draw_subject(np.random.default_rng(np.random.SeedSequence([seed, int(e)])), int(e))
            for e in eids]


#: The instance of UK Biobank's repeat imaging visit.
REPEAT_INSTANCE = 3


@dataclass(frozen=True)
class FollowUp:
    """What changes between a phantom's first imaging visit (instance 2) and its repeat
    visit (instance 3).

    Attributes
    ----------
    years : float
        Time between the visits: age, muscle fat and marrow fat move on as they were
        drawn to rise with age, and muscle bulk falls.
    vat : float
        Relative change of the share of the abdominal cavity that is visceral fat
        (0.25: a quarter more); liver fat follows it as drawn (``exp(1.5 x change)``),
        and the liver's size with its fat.
    """

    years: float = 2.5
    vat: float = 0.25


def visit_seed(seed: int, instance: int) -> int:
    """The seed that fixes a visit's positioning, station geometry, gains, noise and UIDs:
    the cohort seed for instance 2, another one drawn from it for a later visit."""
    if instance == 2:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), 20201, int(instance)])
               .generate_state(1)[0] & 0x7FFFFFFF)


def repeat_visit(subject: PhantomSubject, seed: int,
                 change: FollowUp = FollowUp()) -> PhantomSubject:
    """The same person at the repeat visit: the body changed by ``change`` and positioned
    anew on the table (deterministic in ``seed`` and the eid)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject.eid, 20203]))
    years = change.years
    age = subject.age + years
    vat = float(np.clip(subject.vat_share * (1 + change.vat), 0.02, 0.85))
    liver_ff = float(np.clip(subject.liver_ff * np.exp(1.5 * (vat - subject.vat_share)),
                             0.005, 0.40))
    liver_size = float(np.clip(subject.liver_size * (1 + 0.8 * liver_ff)
                               / (1 + 0.8 * subject.liver_ff), 0.5, 1.8))
    muscle = float(np.clip(subject.muscle * (1 - 0.004 * (age - 45))
                           / (1 - 0.004 * (subject.age - 45)), 0.7, 1.3))
    return replace(subject, age=round(age, 2), vat_share=vat, liver_ff=liver_ff,
                   liver_size=liver_size, muscle=muscle,
                   muscle_ff=float(np.clip(subject.muscle_ff + 0.0011 * years, 0.01, 0.25)),
                   marrow_ff=float(np.clip(subject.marrow_ff + 0.006 * years, 0.2, 0.85)),
                   chin_z=float(rng.normal(50.0, 8.0)))
