"""The small DICOM reader against pydicom on pydicom-written files."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
)

import mimir.reading.dicom as dicom_mod
from mimir.errors import SubjectError
from mimir.limits import Limits
from mimir.reading.dicom import read_slice

ROWS, COLS = 5, 7


def make_dataset(ts: str, *, signed: bool = False, bits: int = 16,
                 sequence: str | None = None) -> Dataset:
    """A small MR slice with the tags MIMIR reads."""
    ds = Dataset()
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = MRImageStorage
    fm.MediaStorageSOPInstanceUID = "1.3.12.2.1107.5.2.18.41000.1"
    fm.TransferSyntaxUID = ts
    ds.file_meta = fm
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    ds.SeriesTime = "101344.127500"
    ds.SeriesDescription = "Dixon_BH_17s_W"
    ds.SeriesInstanceUID = "1.3.12.2.1107.5.2.18.41000.2"
    ds.SeriesNumber = 12
    ds.InstanceNumber = 31
    ds.ImagePositionPatient = ["-250", "-194.196426", "-412.3"]
    ds.PixelSpacing = ["2.23214293", "2.23214293"]
    ds.Rows = ROWS
    ds.Columns = COLS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    rng = np.random.default_rng(7)
    if bits == 8:
        dtype = np.int8 if signed else np.uint8
        arr = rng.integers(-100 if signed else 0, 120, (ROWS, COLS)).astype(dtype)
    else:
        dtype = np.int16 if signed else np.uint16
        arr = rng.integers(-3000 if signed else 0, 4000, (ROWS, COLS)).astype(dtype)
    big = ts == ExplicitVRBigEndian
    ds.PixelData = arr.astype(arr.dtype.newbyteorder(">" if big else "<")).tobytes()
    if sequence is not None:
        # (0008,1032) sorts before SeriesDescription (0008,103E), so the reader must
        # skip the sequence to find the tags after it
        inner = Dataset()
        inner.CodeValue = "NESTED"
        inner.CodingSchemeDesignator = "99X"
        item = Dataset()
        item.CodeValue = "ABC"
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = "code with an odd length"
        item.PurposeOfReferenceCodeSequence = Sequence([inner])
        ds.ProcedureCodeSequence = Sequence([item, Dataset()])
        if sequence == "undefined":
            ds["ProcedureCodeSequence"].is_undefined_length = True
            item["PurposeOfReferenceCodeSequence"].is_undefined_length = True
            for d in (item, inner, ds.ProcedureCodeSequence[1]):
                d.is_undefined_length_sequence_item = True
    return ds


def to_bytes(ds: Dataset, preamble: bool = True) -> bytes:
    buf = io.BytesIO()
    if preamble:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    else:
        ds.preamble = None
        pydicom.dcmwrite(buf, ds, enforce_file_format=False)
    return buf.getvalue()


def assert_same_as_pydicom(buf: bytes, sl) -> None:
    ds = pydicom.dcmread(io.BytesIO(buf), force=True)
    assert sl.series_number == int(ds.SeriesNumber)
    assert sl.description == str(ds.SeriesDescription)
    assert sl.series_time == str(ds.SeriesTime)
    assert sl.series_uid == str(ds.SeriesInstanceUID)
    assert sl.instance_number == int(ds.InstanceNumber)
    assert (sl.rows, sl.cols) == (int(ds.Rows), int(ds.Columns))
    assert sl.position.dtype == np.float32 and sl.spacing.dtype == np.float32
    np.testing.assert_array_equal(
        sl.position, np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float32))
    np.testing.assert_array_equal(
        sl.spacing, np.array([float(v) for v in ds.PixelSpacing], dtype=np.float32))
    assert sl.pixels.dtype == np.uint16
    np.testing.assert_array_equal(sl.pixels, ds.pixel_array)


@pytest.fixture
def no_fallback(monkeypatch):
    """Make any use of the pydicom fallback fail the test (the fast path must read it)."""

    def boom(*args, **kwargs):
        raise AssertionError("the pydicom fallback was used")

    monkeypatch.setattr(dicom_mod, "_pydicom_read", boom)


@pytest.fixture
def fallback_calls(monkeypatch):
    calls = []
    real = dicom_mod._pydicom_read

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(dicom_mod, "_pydicom_read", spy)
    return calls


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_fast_reader_little_endian(ts, no_fallback):
    buf = to_bytes(make_dataset(ts))
    assert buf[128:132] == b"DICM"
    sl = read_slice(buf)
    assert_same_as_pydicom(buf, sl)
    assert (sl.bits_allocated, sl.pixel_bytes) == (16, ROWS * COLS * 2)


@pytest.mark.parametrize("reader", ["fast", "fallback"])
@pytest.mark.parametrize("layout", [{"signed": True}, {"bits": 8}])
def test_pixel_layouts_other_than_20201_are_corrupt_dicom(reader, layout, fallback_calls):
    """Signed or 8-bit pixels are readable DICOM but not field 20201: both readers refuse
    them before decoding (a file that says 8 bits over 16-bit data gave garbage)."""
    ds = make_dataset(ExplicitVRLittleEndian, **layout)
    buf = to_bytes(ds, preamble=reader == "fast")
    with pytest.raises(SubjectError) as ei:
        read_slice(buf)
    assert ei.value.kind == "corrupt dicom"
    tag = "PixelRepresentation" if "signed" in layout else "BitsAllocated"
    assert tag in ei.value.message
    assert len(fallback_calls) == (reader == "fallback")
    # the header alone is still readable (used to find series without a manifest)
    assert read_slice(buf, with_pixels=False).series_number == 12


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("kind", ["undefined", "defined"])
def test_sequence_before_wanted_tags_and_pixels(ts, kind, no_fallback):
    buf = to_bytes(make_dataset(ts, sequence=kind))
    seq_end = b"\xfe\xff\xdd\xe0"  # (FFFE,E0DD) sequence delimiter
    assert (seq_end in buf) == (kind == "undefined")
    sl = read_slice(buf)
    assert_same_as_pydicom(buf, sl)


def test_header_only_read(no_fallback):
    buf = to_bytes(make_dataset(ExplicitVRLittleEndian))
    sl = read_slice(buf, with_pixels=False)
    assert sl.pixels is None
    assert sl.series_number == 12 and sl.description == "Dixon_BH_17s_W"
    # the header alone (pixel data cut off) is enough
    cut = buf[:buf.index(b"\xe0\x7f\x10\x00") + 12]
    sl2 = read_slice(cut, with_pixels=False)
    assert sl2.series_number == 12 and (sl2.rows, sl2.cols) == (ROWS, COLS)


def test_big_endian_falls_back_to_pydicom(fallback_calls):
    buf = to_bytes(make_dataset(ExplicitVRBigEndian))
    sl = read_slice(buf)
    assert len(fallback_calls) == 1
    assert_same_as_pydicom(buf, sl)


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_no_preamble_falls_back_to_pydicom(ts, fallback_calls):
    buf = to_bytes(make_dataset(ts), preamble=False)
    assert buf[128:132] != b"DICM"
    sl = read_slice(buf)
    assert len(fallback_calls) == 1
    assert_same_as_pydicom(buf, sl)


def test_phantom_style_slice_matches_pydicom(no_fallback):
    """The hand-written phantom encoder's files (what the pipeline reads most)."""
    from mimir.phantom.dicomwrite import encode_slice

    px = np.arange(6 * 4, dtype=np.uint16).reshape(6, 4) * 37
    header = [(0x00080031, "TM", "101112.000000"), (0x0008103E, "LO", "Dixon_noBH_F"),
              (0x0020000E, "UI", "1.2.3.4"), (0x00200011, "IS", "3"),
              (0x00200013, "IS", "9"), (0x00200032, "DS", "-250\\-187.5\\33.25"),
              (0x00280002, "US", 1), (0x00280004, "CS", "MONOCHROME2"),
              (0x00280010, "US", 6), (0x00280011, "US", 4),
              (0x00280030, "DS", "2.23214293\\2.23214293"), (0x00280100, "US", 16),
              (0x00280101, "US", 12), (0x00280102, "US", 11), (0x00280103, "US", 0)]
    buf = encode_slice(header, px, "1.2.3.4.5")
    sl = read_slice(buf)
    assert_same_as_pydicom(buf, sl)


def test_slice_over_pixel_limit_is_limit_exceeded():
    buf = to_bytes(make_dataset(ExplicitVRLittleEndian))
    with pytest.raises(SubjectError) as ei:
        read_slice(buf, limits=Limits(max_slice_pixels=ROWS * COLS - 1))
    assert ei.value.kind == "limit exceeded"
    # exactly at the limit is fine, and header reads are not limited
    assert read_slice(buf, limits=Limits(max_slice_pixels=ROWS * COLS)).pixels.shape == (ROWS,
                                                                                        COLS)
    assert read_slice(buf, with_pixels=False, limits=Limits(max_slice_pixels=1)).rows == ROWS


def test_huge_rows_columns_with_tiny_pixel_data_is_limit_exceeded():
    ds = make_dataset(ExplicitVRLittleEndian)
    ds.Rows = ds.Columns = 40000
    with pytest.raises(SubjectError) as ei:
        read_slice(to_bytes(ds))
    assert ei.value.kind == "limit exceeded"


def test_big_endian_over_pixel_limit_is_limit_exceeded():
    buf = to_bytes(make_dataset(ExplicitVRBigEndian))
    with pytest.raises(SubjectError) as ei:
        read_slice(buf, limits=Limits(max_slice_pixels=4))
    assert ei.value.kind == "limit exceeded"


@pytest.mark.parametrize("junk", [
    b"",
    b"not a dicom file at all",
    b"\x00" * 128 + b"DICM" + bytes(range(256)) * 3,
])
def test_unreadable_bytes_are_corrupt_dicom(junk):
    with pytest.raises(SubjectError) as ei:
        read_slice(junk)
    assert ei.value.kind == "corrupt dicom"


def test_truncated_pixel_data_is_corrupt_dicom():
    buf = to_bytes(make_dataset(ExplicitVRLittleEndian))
    with pytest.raises(SubjectError) as ei:
        read_slice(buf[:-10])
    assert ei.value.kind == "corrupt dicom"
