"""Every irregularity of :class:`mimir.phantom.variants.Variants` produces what it claims.

Each variant zip is one subject with seed 0, so it is the same body as the clean
reference (``clean``) and can be compared with it. Options that touch different
stations or different parts of the zip share a zip (they are combinable), which keeps
the module fast.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from mimir.phantom.variants import Variants


def _series_numbers(k: int) -> set[int]:
    return set(range(4 * k - 3, 4 * k + 1))


def _manifest_lines(contents) -> tuple[str, bytes]:
    (name,) = contents.manifest_names
    return name, contents.member(name)


# superimposed ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def superimposed(make_phantoms, read_phantom):
    return read_phantom(make_phantoms(1, 0, superimposed=3))


def test_superimposed_adds_series_25_to_28_at_the_same_position(superimposed):
    assert sorted(superimposed.series) == list(range(1, 29))
    orig = superimposed.station(3)
    for i, c in enumerate(("in", "opp", "F", "W")):
        rep = superimposed.series[25 + i]
        assert rep.description == orig[c].description == f"Dixon_BH_17s_{c}"
        np.testing.assert_array_equal(rep.positions, orig[c].positions)
        assert rep.pixels.shape == orig[c].pixels.shape
        assert rep.uid != orig[c].uid


def test_superimposed_repeat_is_the_latest_acquisition(superimposed):
    repeat_times = {float(superimposed.series[sn].time) for sn in range(25, 29)}
    assert len(repeat_times) == 1
    (t_repeat,) = repeat_times
    assert all(t_repeat > float(superimposed.series[sn].time) for sn in range(1, 25))


def test_superimposed_first_copy_is_corrupted_and_repeat_clean(superimposed, clean):
    rep_w = superimposed.series[28].pixels.astype(np.float64)
    orig_w = superimposed.station(3)["W"].pixels.astype(np.float64)
    clean_w = clean.station(3)["W"].pixels.astype(np.float64)
    scale = rep_w.mean()
    assert np.mean(np.abs(orig_w - rep_w)) > 0.5 * scale
    # the repeat shows the same body as the clean zip's station
    assert np.mean(np.abs(rep_w - clean_w)) < 0.1 * scale
    # the repeat is internally consistent (in = W + F)
    w = rep_w.astype(np.int64)
    f = superimposed.series[27].pixels.astype(np.int64)
    np.testing.assert_array_equal(superimposed.series[25].pixels.astype(np.int64), w + f)


# mismatch, missing station, missing fat (one zip) -----------------------------------------

STRUCTURE = {"mismatch": 2, "missing_station": 4, "missing_fat": 5}


@pytest.fixture(scope="module")
def structure(make_phantoms, read_phantom):
    return read_phantom(make_phantoms(1, 0, **STRUCTURE))


def test_mismatch_fat_has_four_fewer_rows_at_the_same_position(structure, clean):
    st = structure.station(2)
    assert st["F"].rows == st["W"].rows - 4 == 174 - 4
    assert st["F"].pixels.shape == (44, 170, 224)
    assert st["W"].pixels.shape == (44, 174, 224)
    np.testing.assert_array_equal(st["F"].positions, st["W"].positions)
    # the fat rows kept are the clean station's first 170 rows
    assert st["F"].pixels.mean() == pytest.approx(
        clean.station(2)["F"].pixels[:, :170].mean(), rel=0.02)
    # the other stations keep matching sizes
    for k in (1, 3, 6):
        assert structure.station(k)["F"].rows == structure.station(k)["W"].rows


def test_missing_station_has_no_series_of_that_station(structure):
    present = set(structure.series)
    assert not present & _series_numbers(4)
    assert present >= _series_numbers(3) | _series_numbers(6)
    # of the breath-hold stations only 2 and 3 are left
    descriptions = [s.description for s in structure.series.values()]
    assert descriptions.count("Dixon_BH_17s_W") == 2
    # the manifest lists every slice left, and no more
    _, data = _manifest_lines(structure)
    assert data.count(b"\n") - 1 == len(structure.dcm_names) == 4 * (64 + 2 * 44 + 64) + 3 * 72


def test_missing_fat_has_no_fat_series_of_that_station(structure):
    assert set(structure.series) == set(range(1, 25)) - _series_numbers(4) - {19}
    assert set(structure.station(5)) == {"in", "opp", "W"}
    # the neck and knee stations keep theirs
    descriptions = [s.description for s in structure.series.values()]
    assert descriptions.count("Dixon_noBH_F") == 2
    assert all("F" in structure.station(k) for k in (1, 2, 3, 6))


def test_truth_records_the_variants(make_phantoms):
    truth = pd.read_csv(make_phantoms(1, 0, **STRUCTURE) / "truth.csv")
    for k, v in STRUCTURE.items():
        assert truth.loc[0, f"variant_{k}"] == v


# swap ----------------------------------------------------------------------------------


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images."""
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def test_swap_exchanges_water_and_fat_of_one_station(make_phantoms, read_phantom, clean):
    z = read_phantom(make_phantoms(1, 0, swap=3))
    sw, ref = z.station(3), clean.station(3)
    water_vs_fat = _mad(ref["W"].pixels, ref["F"].pixels)
    assert water_vs_fat > 30
    # the series labelled W holds the fat image, and the one labelled F the water
    assert _mad(sw["W"].pixels, ref["F"].pixels) < 0.2 * water_vs_fat
    assert _mad(sw["F"].pixels, ref["W"].pixels) < 0.2 * water_vs_fat
    assert _mad(sw["W"].pixels, ref["W"].pixels) > 0.8 * water_vs_fat
    assert sw["W"].pixels.mean() == pytest.approx(ref["F"].pixels.mean(), rel=0.02)
    # descriptions still claim W and F; the other stations are unchanged
    assert sw["W"].description == "Dixon_BH_17s_W"
    for k in (1, 2, 4, 5, 6):
        a, b = z.station(k), clean.station(k)
        assert _mad(a["W"].pixels, b["W"].pixels) < 0.2 * _mad(b["W"].pixels, b["F"].pixels)


# manifest variants and a corrupt member (one zip) ---------------------------------------

MANIFEST = {"manifest_name": "manifest.csv", "crlf": True, "corrupt_member": True}


def test_manifest_csv_with_crlf(make_phantoms, read_phantom):
    z = read_phantom(make_phantoms(1, 0, **MANIFEST))
    name, data = _manifest_lines(z)
    assert name == "manifest.csv"
    assert "manifest.cvs" not in z.names
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == data.count(b"\n") == len(z.dcm_names) + 1
    header = data.split(b"\r\n")[0].split(b",")
    assert header[0] == b"filename" and b"series discription" in header


def test_corrupt_member_is_one_unreadable_water_slice(make_phantoms, read_phantom, read_member,
                                                       clean):
    z = read_phantom(make_phantoms(1, 0, **MANIFEST))
    assert len(z.unreadable) == 1
    (bad,) = z.unreadable
    assert bad.endswith(".dcm")
    assert read_member(z.member(bad)) is None
    # it was a water slice (the manifest says so) and the rest is intact
    _, data = _manifest_lines(z)
    row = next(line for line in data.decode().splitlines() if line.startswith(bad))
    assert row.split(",")[-2].endswith("_W")  # the description, before the size column
    assert read_member(clean.member(bad)) is not None
    assert sorted(z.dcm_names) == sorted(clean.dcm_names)
    assert sum(len(s.names) for s in z.series.values()) == len(clean.dcm_names) - 1


def test_clean_zip_has_no_unreadable_member(clean):
    assert clean.unreadable == []


def test_no_manifest(make_phantoms, read_phantom, clean):
    z = read_phantom(make_phantoms(1, 0, no_manifest=True))
    assert clean.manifest_names == ["manifest.cvs"]
    assert z.manifest_names == []
    assert not any("manifest" in n.lower() for n in z.names)
    # the slices are all still there
    assert sorted(z.names) == sorted(clean.dcm_names)


def test_truncated_zip_cannot_be_opened(make_phantoms, zip_of, clean):
    path = zip_of(make_phantoms(1, 0, truncated=True))
    assert path.stat().st_size == pytest.approx(0.6 * clean.path.stat().st_size, abs=2)
    with open(path, "rb") as fh, open(clean.path, "rb") as ref:
        assert fh.read() == ref.read(path.stat().st_size)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path)
    zipfile.ZipFile(clean.path).close()  # the full-length zip opens


# knee cut ------------------------------------------------------------------------------


def test_knee_cut_loses_thigh_muscle(make_phantoms, clean_dir):
    cut = pd.read_csv(make_phantoms(1, 0, knee_cut=True) / "truth.csv")
    ref = pd.read_csv(clean_dir / "truth.csv")
    assert cut["eid"].tolist() == ref["eid"].tolist()
    assert cut.loc[0, "thigh_muscle_volume_L"] < 0.9 * ref.loc[0, "thigh_muscle_volume_L"]
    # the body itself is the same: whole-body weight does not depend on the field of view
    assert cut.loc[0, "weight_kg"] == pytest.approx(ref.loc[0, "weight_kg"], rel=1e-3)
    assert bool(cut.loc[0, "variant_knee_cut"])


def test_knee_cut_moves_the_body_not_the_stations(make_phantoms, read_phantom, clean):
    z = read_phantom(make_phantoms(1, 0, knee_cut=True))
    for k in range(1, 7):
        np.testing.assert_array_equal(z.station(k)["W"].positions,
                                      clean.station(k)["W"].positions)
    # the neck station now sees the body lower down: its images change
    assert abs(z.station(1)["W"].pixels.mean() - clean.station(1)["W"].pixels.mean()) > 1.0


# options -------------------------------------------------------------------------------


def test_variants_validate_and_describe():
    assert Variants().describe() == {}
    assert Variants(swap=2, crlf=True).describe() == {"swap": 2, "crlf": True}
    with pytest.raises(ValueError):
        Variants(swap=7)
    with pytest.raises(ValueError):
        Variants(missing_station=0)
    with pytest.raises(ValueError):
        Variants(manifest_name="manifest.txt")
