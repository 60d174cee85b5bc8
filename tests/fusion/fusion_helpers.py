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
