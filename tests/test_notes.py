"""Warnings as codes: producers attach codes, codes survive worker processes and cache
sidecars, QC decides on codes (not on wording), and qc.csv lists each subject's codes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mimir
from mimir.cache.store import Cache, CacheEntry
from mimir.notes import CODES, Note, as_notes, code_of
from mimir.pipeline import preprocess_subject
from mimir.qc.flags import subject_flags

#: phantom variant -> the code its warning must carry
PRODUCERS = {
    "superimposed": ({"superimposed": 2}, "superimposed_station"),
    "mismatch": ({"mismatch": 5}, "water_fat_size_mismatch"),
    "no_manifest": ({"no_manifest": True}, "no_manifest"),
}


@pytest.mark.parametrize("variant", sorted(PRODUCERS))
def test_producers_attach_their_code(make_phantoms, variant):
    options, code = PRODUCERS[variant]
    zip_path = next(make_phantoms(1, seed=31, **options).glob("*.zip"))
    res = preprocess_subject(zip_path)
    assert res.warnings, variant
    assert all(isinstance(w, Note) and w.code in CODES for w in res.warnings)
    assert code in {w.code for w in res.warnings}


def test_note_is_text_with_a_code_and_survives_pickle():
    n = Note("slices_missing", "water 3: 1 slice(s) missing between z = 9 and 3 mm")
    assert n == "water 3: 1 slice(s) missing between z = 9 and 3 mm"
    back = pickle.loads(pickle.dumps(n))
    assert isinstance(back, Note) and back.code == "slices_missing" and back == n
    with pytest.raises(ValueError, match="unknown warning code"):
        Note("no_such_code", "text")


def test_legacy_text_gets_its_code():
    assert code_of("superimposed station: water 2 dropped for the later water 2") == \
        "superimposed_station"
    assert code_of("cache entry rebuilt: the image changed") == "cache_rebuilt"
    assert code_of("something nobody planned for") == "other"
    # a stored code wins over the text; an unknown stored code falls back to the text
    notes = as_notes(["reworded sentence", "stations 1 and 2 do not meet (overlap 0 slices)"],
                     ["stations_do_not_meet", "bogus"])
    assert [n.code for n in notes] == ["stations_do_not_meet", "stations_do_not_meet"]


def test_qc_decides_on_codes_not_wording(phantom_dir):
    facts = preprocess_subject(sorted(phantom_dir.glob("*.zip"))[0]).facts
    explained = [Note("superimposed_station", "worded in any way at all")]
    assert not subject_flags(facts, explained)["preprocessing_warning"]
    other = [Note("slices_missing", "contains the words superimposed station")]
    assert subject_flags(facts, other)["preprocessing_warning"]
    # text written before codes existed is still classified
    assert not subject_flags(facts, ["water 1 (3,3) and fat (3,4) sizes differ"])[
        "preprocessing_warning"]


def test_sidecar_round_trip_keeps_codes(tmp_path):
    cache = Cache(tmp_path)
    img = np.zeros((3, 256, 256), np.uint8)
    entry = CacheEntry(name="1000001_20201_2_0", warnings=[
        Note("stations_do_not_meet", "a reworded sentence"), "plain text"])
    cache.write(img, entry)
    side = json.loads(cache.meta_path(entry.name).read_text())
    assert side["warning_codes"] == ["stations_do_not_meet", "other"]
    back = cache.read_entry(entry.name)
    assert [w.code for w in back.warnings] == ["stations_do_not_meet", "other"]
    # a sidecar written before codes existed: codes from the text
    del side["warning_codes"]
    side["warnings"] = ["manifest lists a.dcm, which is not in the zip"]
    cache.meta_path(entry.name).write_text(json.dumps(side))
    assert cache.read_entry(entry.name).warnings[0].code == "manifest_member_missing"
    side["warning_codes"] = "not a list"
    cache.meta_path(entry.name).write_text(json.dumps(side))
    with pytest.raises(ValueError, match="warning_codes"):
        cache.read_entry(entry.name)


def test_qc_table_lists_warning_codes(make_phantoms, tmp_path):
    folder = make_phantoms(1, seed=31, superimposed=2)
    mimir.preprocess(folder, cache=tmp_path / "cache", workers=1, out=tmp_path / "tables")
    qc = pd.read_csv(tmp_path / "tables" / "qc.csv", dtype=str, keep_default_na=False)
    assert "superimposed_station" in qc["warning_codes"].iloc[0].split(";")


def test_every_code_is_documented():
    text = (Path(__file__).parents[1] / "docs" / "qc.md").read_text()
    missing = [c for c in CODES if f"`{c}`" not in text]
    assert not missing, missing
