"""Fusing the six stations of a subject into whole-body volumes.

Stages (preprocessing.md sections 2-6):

- :mod:`mimir.fusion.stations`: group slices into stations and make water and fat
  consistent (superimposed stations, matrix mismatches, ordering);
- :mod:`mimir.fusion.placement`: place stations on the 2.232 x 2.232 x 3 mm output grid
  and resample those that do not sit on it;
- :mod:`mimir.fusion.fuse`: trim overlaps, fade, correct intensities and sum.
"""

from mimir.fusion.pipeline import Fused, fuse_stations  # noqa: E402

__all__ = ["Fused", "fuse_stations"]
