"""A damaged subject zip fails as the zip's own failure, naming the right thing (issue
#26, item 10): a bogus central-directory offset is ``not a zip`` (it used to blame the
manifest with "[Errno 22] Invalid argument"); a bad CRC or a member larger than it
declares is ``corrupt dicom`` naming that member."""

from __future__ import annotations

import struct

import pandas as pd
import pytest

from mimir.errors import SubjectError
from mimir.pipeline.batch import preprocess_batch
from mimir.reading.archive import SubjectArchive
from mimir.reading.slices import read_water_fat
from tests.reading.test_reading_archive import small_subject, write_zip
from tests.zipbytes import central_entry


def _damaged(tmp_path, how: str):
    path = write_zip(tmp_path / "9_20201_2_0.zip", small_subject())
    data = bytearray(path.read_bytes())
    if how == "bogus_directory_offset":
        e = data.rindex(b"PK\x05\x06")
        struct.pack_into("<I", data, e + 16, struct.unpack_from("<I", data, e + 16)[0] + 999)
    else:
        c = central_entry(data, "s3_1.dcm")
        field = 16 if how == "bad_crc" else 24
        value = struct.unpack_from("<I", data, c + field)[0]
        struct.pack_into("<I", data, c + field, value ^ 1 if how == "bad_crc" else value // 2)
    path.write_bytes(bytes(data))
    return path


def test_bogus_central_directory_offset_is_not_a_zip(tmp_path):
    path = _damaged(tmp_path, "bogus_directory_offset")
    with pytest.raises(SubjectError) as e:
        SubjectArchive(path)
    assert e.value.kind == "not a zip" and e.value.member is None
    assert "bogus central-directory offset" in e.value.message
    assert "manifest" not in e.value.message and "Errno" not in e.value.message
    preprocess_batch([path], tmp_path / "cache", tables=tmp_path / "tables")
    row = pd.read_csv(tmp_path / "tables" / "failures.csv", dtype=str,
                      keep_default_na=False).iloc[0]
    assert row["kind"] == "not a zip" and row["member"] == ""


@pytest.mark.parametrize("how", ["bad_crc", "larger_than_declared"])
def test_a_damaged_member_is_corrupt_dicom_naming_it(tmp_path, how):
    path = _damaged(tmp_path, how)
    with SubjectArchive(path) as a, pytest.raises(SubjectError) as e:
        read_water_fat(a)
    assert e.value.kind == "corrupt dicom" and e.value.member == "s3_1.dcm"
    assert "s3_1.dcm" in str(e.value)
