"""A worker's peak memory stays under 3 GB for every input.

Measured in a fresh process per input (its VmHWM), as a worker runs it:
the one-slice ImagePositionPatient of -1e9 that asked for 16.5 GB, and the largest
inputs the default limits accept (a fused grid and a station resampling each near
``max_fused_voxels``), which are preprocessed.
"""

from __future__ import annotations

import pytest

from mimir.limits import DEFAULT_LIMITS
from tests.fuzz.engine import Edit
from tests.fuzz.recode import set_value
from tests.fuzz.run import MEMORY_BOUND
from tests.fuzz.synth import StationSpec, protocol_stations, write_synthetic_subject


def grid_at_limits() -> list[StationSpec]:
    """The protocol's stations spread 165 mm apart along z and 22 mm along x: a fused
    grid of about 273 x 174 x 644 voxels (1.93 m long), 91 % of max_fused_voxels."""
    return protocol_stations(gap_mm=165.0, x_step_mm=22.0)


def coarse_thin() -> list[StationSpec]:
    """Three stations of 139 x 139 pixels of 5 mm (695 mm) and 320 slices of 1 mm: each
    is resampled to 311 x 311 x 107 voxels through arrays of 311 x 311 x 320 voxels
    (92 % of max_fused_voxels); 37 million water and fat pixels are decoded."""
    return [StationSpec(rows=139, cols=139, n=320, dz=1.0, z_top=60.0 - 321.0 * k,
                        spacing=5.0, x0=-350.0, y0=-350.0) for k in range(3)]


@pytest.mark.slow
def test_one_slice_at_minus_1e9_fails_small(full_base, tmp_path, peak_rss):
    ms = full_base.series_members(12)
    member = ms[len(ms) // 2]
    ed = Edit(full_base)
    ed.put(member, set_value(ed.get(member), "ImagePositionPatient", "-1e9\\-1e9\\-1e9"))
    path = tmp_path / "minus1e9_20201_2_0.zip"
    path.write_bytes(ed.zip())
    rec, peak = peak_rss(path)
    assert (rec["status"], rec["kind"], rec["member"]) == ("failed", "corrupt dicom", member)
    assert peak < 1e9  # it used to grow to 16.5 GB


@pytest.mark.slow
@pytest.mark.parametrize("stations", [grid_at_limits, coarse_thin])
def test_largest_accepted_inputs_stay_under_bound(stations, tmp_path, peak_rss):
    path = write_synthetic_subject(tmp_path / f"{stations.__name__}_20201_2_0.zip",
                                   stations())
    rec, peak = peak_rss(path)
    assert rec["status"] == "done", rec
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.0f} MiB"
    # the same input under a quarter of the voxel limit fails before allocating
    quarter = DEFAULT_LIMITS.max_fused_voxels // 4
    rec2, peak2 = peak_rss(path, {"max_fused_voxels": quarter})
    assert (rec2["status"], rec2["kind"]) == ("failed", "implausible geometry"), rec2
    assert "--max-fused-voxels" in rec2["message"]
    assert peak2 < 0.75 * peak, (peak2, peak, rec2)
