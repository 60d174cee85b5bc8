"""Header fields that change what the pixels mean are checked (issue #26, item 7):
orientation, photometric interpretation, frames, high bit, rescale, and one patient and
study per zip. Each contradiction fails the subject with a named kind and member,
whichever DICOM reader reads it; what the spec allows passes, with a warning where the
procedure's assumption was used."""

from __future__ import annotations

import numpy as np
import pytest

from mimir.errors import SubjectError
from mimir.notes import code_of
from mimir.reading.archive import SubjectArchive
from mimir.reading.dicom import read_slice
from mimir.reading.slices import read_water_fat
from tests.fuzz.recode import set_value, strip_preamble
from tests.reading.test_reading_archive import small_subject, write_zip
from tests.reading.test_reading_checks import slice_file

READERS = {"fast": lambda b: b, "pydicom": strip_preamble}


def _read(buf: bytes, reader: str):
    return read_slice(READERS[reader](buf))


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("field,value,says", [
    ("ImageOrientationPatient", "nan\\0\\0\\0\\1\\0", "not finite"),
    ("ImageOrientationPatient", "0\\0\\0\\0\\0\\0", "not two unit vectors"),
    ("ImageOrientationPatient", "1\\0\\0\\0\\0\\-1", "not axial"),  # coronal
    ("ImageOrientationPatient", "0\\1\\0\\1\\0\\0", "not axial"),  # transposed
    ("ImageOrientationPatient", "-1\\0\\0\\0\\1\\0", "not axial"),  # flipped left-right
    ("ImageOrientationPatient", "1\\0\\0\\0\\-1\\0", "not axial"),  # flipped
    ("ImageOrientationPatient", "1\\0\\0", "has 3 values, not 6"),
    ("ImageOrientationPatient", "a\\b\\c\\d\\e\\f", "not a list of numbers"),
    ("PhotometricInterpretation", "MONOCHROME1", "MONOCHROME2"),
    ("PhotometricInterpretation", "RGB", "MONOCHROME2"),
    ("PhotometricInterpretation", "PALETTE COLOR", "MONOCHROME2"),
    ("NumberOfFrames", "2", "one frame"),
    ("NumberOfFrames", "x", "one frame"),
    ("HighBit", 99, "HighBit is 99"),
    ("HighBit", 15, "BitsStored is 12"),
    ("RescaleSlope", "0", "RescaleSlope is 0"),
    ("RescaleSlope", "-1", "RescaleSlope is -1"),
    ("RescaleSlope", "nan", "not finite"),
    ("RescaleSlope", "inf", "not finite"),
    ("RescaleIntercept", "1e999", "not finite"),
])
def test_contradicting_header_is_corrupt_dicom(field, value, says, reader):
    buf = set_value(set_value(slice_file(), "HighBit", 11), field, value)
    with pytest.raises(SubjectError, match=says) as e:
        _read(buf, reader)
    assert e.value.kind == "corrupt dicom"


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("field,value", [
    ("ImageOrientationPatient", "1\\0\\0\\0\\1\\0"),
    ("ImageOrientationPatient", "0.9999999\\0.0001\\0\\-0.0001\\1\\0.0002"),
    ("PhotometricInterpretation", "MONOCHROME2 "), ("NumberOfFrames", "1"),
    ("HighBit", 11), ("RescaleSlope", "1"), ("RescaleIntercept", "0"),
    ("RescaleSlope", "2.5"), ("RescaleSlope", None), ("PhotometricInterpretation", None),
])
def test_what_the_format_allows_passes(field, value, reader):
    sl = _read(set_value(slice_file(), field, value), reader)
    assert sl.pixels is not None


def _subject(tmp_path, edits: dict, name: str = "7_20201_2_0") -> SubjectArchive:
    """The small subject with ``edits``: member -> {field: value} (None removes it)."""
    members = []
    for m, data in small_subject():
        for field, value in edits.get(m, {}).items():
            data = set_value(data, field, value)
        members.append((m, data))
    return SubjectArchive(write_zip(tmp_path / f"{name}.zip", members))


ALL = [f"s{sn}_{j}.dcm" for sn in (1, 2, 3) for j in (0, 1)]


def _fails(tmp_path, edits) -> SubjectError:
    with _subject(tmp_path, edits) as a, pytest.raises(SubjectError) as e:
        read_water_fat(a)
    return e.value


def _codes(tmp_path, edits) -> tuple[list[str], np.ndarray]:
    with _subject(tmp_path, edits) as a:
        r = read_water_fat(a)
    return [code_of(w) for w in r.warnings], np.stack([s.pixels for s in r.slices])


def test_a_foreign_patients_slice_fails_naming_it(tmp_path):
    edits = {m: {"PatientID": "1000001", "StudyInstanceUID": "1.2.3"} for m in ALL}
    edits["s3_1.dcm"] = {"PatientID": "2000002", "StudyInstanceUID": "1.2.3"}
    e = _fails(tmp_path, edits)
    assert e.kind == "inconsistent stations" and e.member == "s3_1.dcm"
    assert "PatientID" in e.message and "'2000002'" in e.message


def test_a_slice_of_another_study_fails(tmp_path):
    edits = {m: {"PatientID": "1000001", "StudyInstanceUID": "1.2.3"} for m in ALL}
    edits["s2_0.dcm"] = {"PatientID": "1000001", "StudyInstanceUID": "1.2.4"}
    e = _fails(tmp_path, edits)
    assert e.kind == "inconsistent stations" and e.member == "s2_0.dcm"
    assert "StudyInstanceUID" in e.message


def test_one_patient_passes_and_missing_ids_are_not_a_contradiction(tmp_path):
    edits = {m: {"PatientID": "1000001", "StudyInstanceUID": "1.2.3"} for m in ALL}
    assert _codes(tmp_path, edits)[0] == []
    assert _codes(tmp_path, {})[0] == []


def test_orientation_must_be_one_per_series(tmp_path):
    e = _fails(tmp_path, {"s3_1.dcm": {"ImageOrientationPatient": None}})
    assert e.kind == "inconsistent stations" and e.member == "s3_1.dcm"
    e = _fails(tmp_path, {"s3_1.dcm": {"ImageOrientationPatient": "1\\0\\0\\0\\1\\0.0005"}})
    assert e.kind == "inconsistent stations" and "differs" in e.message


def test_missing_orientation_is_read_as_axial_with_a_warning(tmp_path):
    clean_codes, clean = _codes(tmp_path, {})
    codes, px = _codes(tmp_path, {m: {"ImageOrientationPatient": None} for m in ALL})
    assert clean_codes == [] and codes == ["orientation_missing"]
    assert np.array_equal(px, clean)


def test_rescale_is_not_applied_but_announced_and_must_be_one(tmp_path):
    _, clean = _codes(tmp_path, {})
    codes, px = _codes(tmp_path, {m: {"RescaleSlope": "2", "RescaleIntercept": "-5"}
                                  for m in ALL})
    assert codes == ["rescale_ignored"] and np.array_equal(px, clean)
    e = _fails(tmp_path, {"s2_1.dcm": {"RescaleSlope": "2"}})
    assert e.kind == "inconsistent stations" and e.member == "s2_1.dcm"
    assert "different rescales" in e.message


def test_an_orientation_is_parsed_once_and_a_bad_one_fails_every_time():
    """Slices of a series share one orientation text: it is parsed once; a text that
    fails is not remembered, so every slice holding it fails."""
    from mimir.reading.headers import orientation_values

    orientation_values.cache_clear()
    good = "1\\0\\0\\0\\1\\0"
    assert orientation_values(good) == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert orientation_values(good) == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert orientation_values.cache_info().hits == 1
    for _ in range(3):
        with pytest.raises(SubjectError, match="not axial"):
            orientation_values("0\\1\\0\\1\\0\\0")
    assert orientation_values.cache_info().currsize == 1
