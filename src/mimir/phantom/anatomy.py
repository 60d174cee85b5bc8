"""The phantom body as tissue labels on any grid, and its water and fat signals.

Coordinates are scanner mm: x left-right (patient's left positive), y anterior (-) to
posterior (+), z towards the head. The subject lies supine with the back on the
table at ``TABLE_Y``. Vertical landmarks are fractions of standing height above the
floor, placed so that the chin lies at the subject's ``chin_z``.

The body is built from elliptical cross-sections whose sizes vary smoothly with height
(piecewise-linear knots): head and neck, trunk with a muscular wall, a visceral cavity
(lungs, heart, liver, kidneys, intestine and visceral fat), spine, arms with humeri,
hips with femoral heads, thighs and lower legs with femur and tibia, and a
subcutaneous fat layer everywhere (thinner on the back, which rests on the table).

Every voxel gets one tissue label (:data:`TISSUES`) and one region label
(:data:`REGIONS`). Signals: water = PD (1 - ff), fat = PD ff, with smooth texture in
the visceral fat border, liver fat and muscle fat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimir.phantom.subject import PhantomSubject

#: Tissue labels: name -> (label, proton density, default fat fraction, density kg/L).
TISSUES = {
    "air": (0, 0.0, 0.0, 0.0),
    "sat": (1, 950.0, 0.90, 0.92),       # subcutaneous adipose tissue
    "muscle": (2, 620.0, None, 1.06),    # fat fraction: the subject's muscle_ff
    "vat": (3, 950.0, 0.90, 0.92),       # visceral adipose tissue
    "organ": (4, 480.0, 0.04, 1.04),     # intestine, mediastinum, brain
    "liver": (5, 700.0, None, 1.06),     # fat fraction: the subject's liver_ff
    "lung": (6, 35.0, 0.0, 0.30),
    "heart": (7, 560.0, 0.02, 1.06),
    "kidney": (8, 760.0, 0.02, 1.05),
    "bone": (9, 15.0, 0.10, 1.92),       # cortical bone
    "marrow": (10, 720.0, None, 1.00),   # fat fraction: the subject's marrow_ff
    "csf": (11, 900.0, 0.0, 1.01),
    "table": (12, 25.0, 0.20, 0.0),      # the patient table: not body
}
T = {name: v[0] for name, v in TISSUES.items()}
N_TISSUES = len(TISSUES)
#: Body regions (for measurements): none, trunk (with neck), arm, leg, head.
REGIONS = {"none": 0, "trunk": 1, "arm": 2, "leg": 3, "head": 4}
RG = REGIONS

#: Back of the body (outer skin) rests on the table top at this y (mm).
TABLE_Y = 140.0

# landmarks as fractions of standing height above the floor
LANDMARKS = {
    "vertex": 1.0, "chin": 0.87, "shoulder": 0.818, "lung_top": 0.805, "heart": 0.745,
    "diaphragm": 0.70, "T9": 0.725, "liver": 0.665, "kidney": 0.625, "iliac": 0.59,
    "cavity_bottom": 0.50, "femoral_head": 0.52, "crotch": 0.47, "knee": 0.285,
    "ankle": 0.04,
}

# lean trunk half-width and half-depth (mm, male, frame 1) at height fractions
_TRUNK = np.array([
    # frac,  a,     b
    [0.470, 128.0, 80.0],
    [0.490, 148.0, 90.0],
    [0.520, 158.0, 96.0],
    [0.560, 150.0, 98.0],
    [0.600, 140.0, 100.0],
    [0.660, 138.0, 104.0],
    [0.720, 150.0, 108.0],
    [0.780, 152.0, 104.0],
    [0.812, 138.0, 96.0],
    [0.825, 100.0, 80.0],
    [0.840, 56.0, 60.0],
    [0.870, 52.0, 56.0],
])
# female width factors at the same knots (narrower shoulders and waist, wider hips)
_TRUNK_F = np.array([1.04, 1.07, 1.08, 1.06, 0.95, 0.92, 0.92, 0.90, 0.90, 0.90, 0.92, 0.92])
# subcutaneous fat thickness multipliers (male, female) by height fraction
_SAT = np.array([
    [0.04, 0.2, 0.2], [0.20, 0.4, 0.55], [0.285, 0.45, 0.65], [0.35, 0.6, 0.95],
    [0.45, 0.8, 1.25], [0.50, 0.85, 1.35], [0.58, 1.0, 1.2], [0.65, 1.15, 1.0],
    [0.75, 0.8, 0.85], [0.82, 0.5, 0.5], [0.87, 0.25, 0.25], [1.0, 0.2, 0.2],
])
# lean leg radius (mm) by height fraction
_LEG = np.array([[0.04, 24.0], [0.10, 30.0], [0.18, 42.0], [0.25, 45.0], [0.285, 46.0],
                 [0.30, 48.0], [0.35, 57.0], [0.42, 68.0], [0.47, 76.0], [0.50, 78.0]])
# lean arm radius (mm) by height fraction
_ARM = np.array([[0.48, 24.0], [0.55, 28.0], [0.63, 31.0], [0.70, 36.0], [0.76, 40.0],
                 [0.815, 44.0]])


@dataclass
class Body:
    """Height-dependent shape functions of one subject (all lengths in mm)."""

    s: PhantomSubject

    def __post_init__(self):
        s = self.s
        self.H = s.height_cm * 10.0
        self.chin_h = LANDMARKS["chin"] * self.H
        female = s.sex == 0
        self.trunk_a = 1.06 * _TRUNK[:, 1] * s.frame * (_TRUNK_F if female else 1.0)
        self.trunk_b = 1.06 * _TRUNK[:, 2] * s.frame * (0.95 if female else 1.0)
        self.sat_mult = _SAT[:, 2] if female else _SAT[:, 1]
        self.limb = 1.18 * (s.muscle ** 0.5) * s.frame * (0.9 if female else 1.0)
        self.wall = 14.0 * s.muscle * (0.85 if female else 1.0)

    # coordinates -------------------------------------------------------------------
    def h_of_z(self, z: np.ndarray) -> np.ndarray:
        """Height above the floor of scanner z."""
        return self.chin_h + (np.asarray(z, dtype=np.float64) - self.s.chin_z)

    def f(self, name: str) -> float:
        """Height (mm above floor) of a landmark."""
        return LANDMARKS[name] * self.H

    # profiles ---------------------------------------------------------------------
    def sat(self, h: np.ndarray) -> np.ndarray:
        return self.s.sat_mm * np.interp(h / self.H, _SAT[:, 0], self.sat_mult)

    def trunk(self, h: np.ndarray):
        """Lean trunk ellipse (cx, cy, a, b) and subcutaneous fat thickness."""
        fr = h / self.H
        a = np.interp(fr, _TRUNK[:, 0], self.trunk_a)
        b = np.interp(fr, _TRUNK[:, 0], self.trunk_b)
        sat = self.sat(h)
        cy = TABLE_Y - 0.5 * sat - b
        return np.zeros_like(a), cy, a, b, sat

    def cavity(self, h: np.ndarray):
        """Visceral cavity ellipse inside the trunk wall."""
        _, cy, a, b, _ = self.trunk(h)
        ac = a - self.wall - 6.0
        bc = b - self.wall - 22.0
        return np.zeros_like(a), cy - 10.0, ac, bc

    def leg_radius(self, h: np.ndarray) -> np.ndarray:
        return np.interp(h / self.H, _LEG[:, 0], _LEG[:, 1]) * self.limb

    def leg_centre_x(self) -> float:
        hc = np.array([self.f("crotch")])
        return float((self.leg_radius(hc) + self.sat(hc))[0] * 0.97 + 2.0)

    def arm_radius(self, h: np.ndarray) -> np.ndarray:
        return np.interp(h / self.H, _ARM[:, 0], _ARM[:, 1]) * self.limb

    def texture(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
        """Smooth texture field in [-1, 1] on a (nz, ny, nx) grid (broadcast pieces)."""
        p = self.s.texture
        fx = np.sin(x / (21.0 + 3 * k) + p[k % 8])[None, None, :]
        fy = np.sin(y / (17.0 + 2 * k) + p[(k + 1) % 8])[None, :, None]
        fz = np.sin(z / (26.0 + 4 * k) + p[(k + 2) % 8])[:, None, None]
        fxy = np.sin((x[None, :] + y[:, None]) / 29.0 + p[(k + 3) % 8])[None, :, :]
        return (((fx + fxy) + fy + fz) * 0.25).astype(np.float32)


@dataclass
class Rendered:
    """Tissue labels and regions on a grid of shape (nz, ny, nx)."""

    tissue: np.ndarray
    region: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    h: np.ndarray


class _Painter:
    """Paints ellipses into label arrays, each within its bounding box only."""

    def __init__(self, body: Body, x, y, z):
        self.body = body
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.z = np.asarray(z, dtype=np.float64)
        self.h = body.h_of_z(self.z)
        shape = (len(self.z), len(self.y), len(self.x))
        self.tissue = np.zeros(shape, dtype=np.uint8)
        self.region = np.zeros(shape, dtype=np.uint8)
        dz = np.diff(self.z)
        if len(dz) and not (np.all(dz > 0) or np.all(dz < 0)):
            raise ValueError("z coordinates must be strictly monotonic")

    def slab(self, h_lo: float, h_hi: float) -> slice:
        idx = np.flatnonzero((self.h >= h_lo) & (self.h <= h_hi))
        if idx.size == 0:
            return slice(0, 0)
        return slice(int(idx[0]), int(idx[-1]) + 1)

    def ellipse(self, sl: slice, cx, cy, a, b):
        """Normalised radius squared of an ellipse within its bounding box.

        Returns (block, rn2) where block = (slice z, slice y, slice x) and rn2 has the
        block's shape (inf where a or b <= 0).
        """
        if sl.stop <= sl.start:
            return None, None
        cx, cy, a, b = (np.broadcast_to(np.asarray(v, dtype=np.float64), (sl.stop - sl.start,))
                        for v in (cx, cy, a, b))
        ok = (a > 0) & (b > 0)
        if not np.any(ok):
            return None, None
        xs = self._range(self.x, np.min((cx - a)[ok]), np.max((cx + a)[ok]))
        ys = self._range(self.y, np.min((cy - b)[ok]), np.max((cy + b)[ok]))
        if xs.stop <= xs.start or ys.stop <= ys.start:
            return None, None
        with np.errstate(divide="ignore"):
            ia = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
            ib = np.where(ok, 1.0 / np.where(ok, b, 1.0), 0.0)
        dx = ((self.x[xs][None, :] - cx[:, None]) * ia[:, None]) ** 2
        dy = ((self.y[ys][None, :] - cy[:, None]) * ib[:, None]) ** 2
        rn2 = (dx[:, None, :] + dy[:, :, None]).astype(np.float32)
        rn2[~ok] = np.inf
        return (sl, ys, xs), rn2

    @staticmethod
    def _range(coords: np.ndarray, lo: float, hi: float) -> slice:
        if coords[-1] >= coords[0]:
            i0 = int(np.searchsorted(coords, lo, side="left"))
            i1 = int(np.searchsorted(coords, hi, side="right"))
        else:  # descending
            rc = coords[::-1]
            j0 = int(np.searchsorted(rc, lo, side="left"))
            j1 = int(np.searchsorted(rc, hi, side="right"))
            i0, i1 = len(coords) - j1, len(coords) - j0
        return slice(max(i0, 0), min(i1, len(coords)))

    def paint(self, block, where: np.ndarray, tissue: int, region: int | None = None,
              only: tuple | None = None):
        t = self.tissue[block]
        if only is not None:
            allowed = np.zeros(256, dtype=bool)
            allowed[list(only)] = True
            where = where & allowed[t]
        t[where] = tissue
        if region is not None:
            self.region[block][where] = region


def render(subject: PhantomSubject, x, y, z) -> Rendered:
    """Tissue and region labels of ``subject`` on the grid ``x`` x ``y`` x ``z``.

    Parameters
    ----------
    subject : PhantomSubject
    x, y, z : array_like
        Grid coordinates in scanner mm; ``z`` strictly monotonic.

    Returns
    -------
    Rendered
        Labels of shape (len(z), len(y), len(x)).
    """
    body = Body(subject)
    p = _Painter(body, x, y, z)
    H = body.H
    h = p.h
    s = subject

    # table (not body)
    tb = p.slab(-np.inf, np.inf)
    ys = p._range(p.y, TABLE_Y + 6.0, TABLE_Y + 20.0)
    xs = p._range(p.x, -215.0, 215.0)
    p.tissue[tb, ys, xs] = T["table"]

    # trunk and neck: subcutaneous fat, then lean
    sl = p.slab(body.f("crotch"), body.f("chin") + 12.0)
    hs = h[sl]
    cx, cy, a, b, sat = body.trunk(hs)
    blk, rn2 = p.ellipse(sl, cx, cy - 0.5 * sat, a + sat, b + sat)
    if blk is not None:
        p.paint(blk, rn2 <= 1, T["sat"], RG["trunk"])
    blk, rn2 = p.ellipse(sl, cx, cy, a, b)
    if blk is not None:
        p.paint(blk, rn2 <= 1, T["muscle"], RG["trunk"])

    # head (above the chin), for whole-body measurements
    sl = p.slab(body.f("chin") - 20.0, H)
    if sl.stop > sl.start:
        hs = h[sl]
        hc, hz = 0.935 * H, 0.068 * H
        t = np.clip(1 - ((hs - hc) / hz) ** 2, 0, None)
        _, cyn, _, bn, satn = body.trunk(np.full_like(hs, body.f("chin")))
        cyh = cyn - 15.0
        for grow, tissue in ((4.0, "sat"), (0.0, "organ")):
            blk, rn2 = p.ellipse(sl, 0.0, cyh, (72.0 * s.frame + grow) * np.sqrt(t),
                                 (92.0 * s.frame + grow) * np.sqrt(t))
            if blk is not None:
                p.paint(blk, rn2 <= 1, T[tissue], RG["head"])

    # visceral cavity
    sl = p.slab(body.f("cavity_bottom"), body.f("lung_top"))
    hs = h[sl]
    ccx, ccy, ca, cb = body.cavity(hs)
    taper = np.clip((hs - body.f("cavity_bottom")) / 40.0, 0, 1) * \
        np.clip((body.f("lung_top") - hs) / 40.0, 0, 1)
    ca, cb = ca * np.sqrt(taper), cb * np.sqrt(taper)
    blk, rn2 = p.ellipse(sl, ccx, ccy, ca, cb)
    if blk is not None:
        inside = rn2 <= 1
        p.paint(blk, inside, T["organ"], only=(T["muscle"],))
        # visceral fat below the diaphragm: the outer part of the cavity, textured
        zb, yb, xb = blk
        tex = body.texture(p.x[xb], p.y[yb], p.z[zb], 0)
        below = (hs < body.f("diaphragm"))[:, None, None]
        vat = inside & below & (rn2 + 0.3 * tex > 1 - s.vat_share)
        p.paint(blk, vat, T["vat"], only=(T["organ"],))

    # lungs and heart
    sl = p.slab(body.f("diaphragm") - 10.0, body.f("lung_top"))
    hs = h[sl]
    ccx, ccy, ca, cb = body.cavity(hs)
    lt = np.clip(1 - ((hs - 0.752 * H) / (0.055 * H)) ** 2, 0, None) ** 0.5
    for side in (-1, 1):
        blk, rn2 = p.ellipse(sl, side * 0.5 * ca, ccy + 0.05 * cb, 0.42 * ca * lt, 0.8 * cb * lt)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["lung"], only=(T["organ"],))
    _ellipsoid(p, body, (0.12, -0.25), (0.33, 0.45), body.f("heart"), 0.045 * H, T["heart"],
               only=(T["organ"], T["lung"]))

    # liver and kidneys
    ls = s.liver_size ** (1 / 3)
    _ellipsoid(p, body, (-0.3, -0.05), (0.62 * ls, 0.85 * ls), body.f("liver"), 0.055 * H * ls,
               T["liver"], only=(T["organ"], T["vat"], T["lung"]))
    for side in (-1, 1):
        _ellipsoid(p, body, (side * 0.45, 0.55), (0.17, 0.3), body.f("kidney"), 0.032 * H,
                   T["kidney"], only=(T["organ"], T["vat"]))

    # spine: vertebral bodies (marrow) and canal
    sl = p.slab(body.f("cavity_bottom"), body.f("chin") - 10.0)
    hs = h[sl]
    _, cy, a, b, _ = body.trunk(hs)
    vy = cy + b - body.wall - 20.0 * s.frame
    blk, rn2 = p.ellipse(sl, 0.0, vy, 17.0 * s.frame, 15.0 * s.frame)
    if blk is not None:
        p.paint(blk, rn2 <= 1, T["marrow"])
    blk, rn2 = p.ellipse(sl, 0.0, vy + 23.0 * s.frame, 7.0, 7.0)
    if blk is not None:
        p.paint(blk, rn2 <= 1, T["csf"])

    # arms
    sl = p.slab(0.48 * H, body.f("shoulder"))
    hs = h[sl]
    _, cy, a, b, sat = body.trunk(hs)
    ra = body.arm_radius(hs)
    sa = 0.6 * sat if s.sex else 0.9 * sat
    for side in (-1, 1):
        acx = side * (a + sat + ra + sa + 3.0)
        acy = cy - 0.5 * sat
        blk, rn2 = p.ellipse(sl, acx, acy, ra + sa, ra + sa)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["sat"], RG["arm"])
        blk, rn2 = p.ellipse(sl, acx, acy, ra, ra)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["muscle"], RG["arm"])
        upper = hs > 0.64 * H
        blk, rn2 = p.ellipse(sl, acx, acy, np.where(upper, 10.0 * s.frame, 0), 10.0 * s.frame)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["marrow"], RG["arm"])

    # legs (from the feet up to just above the crotch)
    sl = p.slab(0.0, body.f("crotch") + 25.0)
    hs = h[sl]
    rl = body.leg_radius(hs)
    sl_sat = body.sat(hs)
    xl = body.leg_centre_x()
    lcy = TABLE_Y - 0.5 * sl_sat - rl
    for side in (-1, 1):
        blk, rn2 = p.ellipse(sl, side * xl, lcy - 0.5 * sl_sat, rl + sl_sat, rl + sl_sat)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["sat"], RG["leg"], only=(T["air"], T["table"], T["sat"]))
        blk, rn2 = p.ellipse(sl, side * xl, lcy, rl, rl)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["muscle"], RG["leg"])
        # femur (above the knee) and tibia (below): cortex around marrow
        bx = side * (xl + 0.1 * rl)
        above = hs > body.f("knee")
        r_out = np.where(above, 13.5, 12.0) * s.frame
        blk, rn2 = p.ellipse(sl, bx, lcy + 0.05 * rl, r_out, r_out)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["bone"], RG["leg"])
        blk, rn2 = p.ellipse(sl, bx, lcy + 0.05 * rl, r_out - 5.0, r_out - 5.0)
        if blk is not None:
            p.paint(blk, rn2 <= 1, T["marrow"], RG["leg"])

    # femoral heads
    hh = body.f("femoral_head")
    sl = p.slab(hh - 25.0 * s.frame, hh + 25.0 * s.frame)
    if sl.stop > sl.start:
        hs = h[sl]
        _, cy, a, b, _ = body.trunk(hs)
        rr = np.sqrt(np.clip((25.0 * s.frame) ** 2 - (hs - hh) ** 2, 0, None))
        for side in (-1, 1):
            blk, rn2 = p.ellipse(sl, side * 0.62 * a, cy + 0.15 * b, rr, rr)
            if blk is not None:
                p.paint(blk, rn2 <= 1, T["marrow"])

    return Rendered(tissue=p.tissue, region=p.region, x=p.x, y=p.y, z=p.z, h=p.h)


def _ellipsoid(p: _Painter, body: Body, centre: tuple, axes: tuple, hc: float, hz: float,
               tissue: int, only: tuple):
    """An organ: an ellipsoid placed relative to the cavity (fractions of its axes)."""
    sl = p.slab(hc - hz, hc + hz)
    if sl.stop <= sl.start:
        return
    hs = p.h[sl]
    ccx, ccy, ca, cb = body.cavity(hs)
    t = np.sqrt(np.clip(1 - ((hs - hc) / hz) ** 2, 0, None))
    blk, rn2 = p.ellipse(sl, ccx + centre[0] * ca, ccy + centre[1] * cb, axes[0] * ca * t,
                         axes[1] * cb * t)
    if blk is not None:
        p.paint(blk, rn2 <= 1, tissue, only=only)


def texture_at(subject: PhantomSubject, rendered: Rendered, idx: tuple, k: int) -> np.ndarray:
    """The texture field k at voxel indices ``idx`` = (zi, yi, xi) of a rendered grid.

    Same values as :meth:`Body.texture`, gathered from its per-axis pieces.
    """
    p = subject.texture
    x, y, z = rendered.x, rendered.y, rendered.z
    zi, yi, xi = idx
    fx = np.sin(x / (21.0 + 3 * k) + p[k % 8]).astype(np.float32)
    fy = np.sin(y / (17.0 + 2 * k) + p[(k + 1) % 8]).astype(np.float32)
    fz = np.sin(z / (26.0 + 4 * k) + p[(k + 2) % 8]).astype(np.float32)
    fxy = np.sin((x[None, :] + y[:, None]) / 29.0 + p[(k + 3) % 8]).astype(np.float32)
    return ((fx[xi] + fxy[yi, xi]) + fy[yi] + fz[zi]) * np.float32(0.25)


def tissue_fat_fraction(subject: PhantomSubject, rendered: Rendered) -> np.ndarray:
    """Fat fraction (0-1, float32) of every voxel.

    Muscle fat varies smoothly along z (texture field 2 at the body's centre line);
    liver fat varies in 3D (texture field 1).
    """
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for label, _pd, ff, _rho in TISSUES.values():
        lut[label] = ff if ff is not None else 0.0
    lut[T["marrow"]] = subject.marrow_ff
    ff = lut[rendered.tissue]
    # muscle fat varies along z only: one value per slice, set on the muscle voxels
    p = subject.texture
    tz = 0.5 * (np.sin(rendered.z / 34.0 + p[2]) + np.sin(rendered.z / 71.0 + p[5]))
    per_slice = np.clip(subject.muscle_ff * (1 + 0.25 * tz), 0, 1).astype(np.float32)
    muscle = rendered.tissue == T["muscle"]
    ff[muscle] = per_slice[np.nonzero(muscle)[0]]
    liver_z = np.flatnonzero(np.any(rendered.tissue == T["liver"], axis=(1, 2)))
    if liver_z.size:
        sl = slice(int(liver_z[0]), int(liver_z[-1]) + 1)
        idx = np.nonzero(rendered.tissue[sl] == T["liver"])
        idx = (idx[0] + sl.start, idx[1], idx[2])
        tex = texture_at(subject, rendered, idx, 1)
        ff[idx] = np.clip(subject.liver_ff * (1 + 0.15 * tex), 0, 1)
    return ff


def signals(subject: PhantomSubject, rendered: Rendered) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Noise-free water and fat signals and the fat fraction (float32 arrays)."""
    pd = np.zeros(N_TISSUES, dtype=np.float32)
    for label, dens, _ff, _rho in TISSUES.values():
        pd[label] = dens
    s = pd[rendered.tissue]
    ff = tissue_fat_fraction(subject, rendered)
    fat = s * ff
    s -= fat
    return s, fat, ff
