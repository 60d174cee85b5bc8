"""Synthetic station sets for the fusion tests (not a test module)."""

from __future__ import annotations

import numpy as np

from mimir.fusion.stations import Station, StationSet


def make_set(rng, slices, dz, top_z, rows=(20, 20), cols=18, x_shift=None) -> StationSet:
    """Water and fat stations, top first: ``slices[i]`` slices ``dz[i]`` mm apart, the
    top slice at ``top_z[i]``, ``rows[i]`` rows (in-plane spacing as UK Biobank's)."""
    sets = {"W": [], "F": []}
    ps = np.float32(2.232142925262451)
    for i, (n, d, z) in enumerate(zip(slices, dz, top_z, strict=True)):
        r = rows[i % len(rows)]
        x = -250.0 + (x_shift[i] if x_shift else 0.0)
        for kind in ("W", "F"):
            vox = rng.integers(0, 3000, (n, r, cols)).astype(np.float32)
            sets[kind].append(Station(
                series_number=4 * i + (1 if kind == "W" else 2), name=f"Dixon_noBH_{kind}",
                time="100000.00", position=np.array([x, -190.0, z], dtype=np.float32),
                voxels=vox, spacing=np.array([ps, ps, d], dtype=np.float32)))
    return StationSet(water=sets["W"], fat=sets["F"])


def ukb_like_set(rng, rows: tuple[int, int], x_step: float) -> StationSet:
    """Six stations as in UK Biobank: neck 3 mm, then 4.5, 4.5, 4.5, 3.5 and 4 mm slices,
    overlapping by 10-16 slices, with random row counts in ``rows`` and lateral shifts of
    up to 3 ``x_step``."""
    slices = [32, 22, 22, 22, 36, 32]
    dz = [3.0, 4.5, 4.5, 4.5, 3.5, 4.0]
    top = [600.0]
    for i in range(1, 6):
        top.append(top[-1] - (slices[i - 1] - 1) * dz[i - 1] + rng.uniform(20, 40))
    n_rows = tuple(int(v) for v in rng.integers(rows[0], rows[1], 6))
    shift = [0.0, *rng.integers(-3, 4, 5) * x_step]
    return make_set(rng, slices, dz, top, rows=n_rows, x_shift=shift)
