"""The zlib fallback (no libdeflate) gives the same images, bit for bit."""

from __future__ import annotations

import json

import numpy as np

import mimir.reading.inflate as inflate
from mimir.pipeline import preprocess_subject
from tests.pipeline.pipeline_helpers import zips


def test_zlib_fallback_gives_identical_images(phantom_dir, subject_image, monkeypatch):
    path = zips(phantom_dir)[0]
    assert inflate.backend() == "libdeflate"
    fast = preprocess_subject(path)
    np.testing.assert_array_equal(fast.image, subject_image(path))
    # as on a machine without the deflate package
    monkeypatch.setattr(inflate, "_libdeflate", None)
    monkeypatch.setattr(inflate, "_active", "zlib")
    assert inflate.available() == ("zlib",)
    calls = []
    real = inflate._zlib_inflate
    monkeypatch.setitem(inflate._INFLATE, "zlib",
                        lambda raw, size: calls.append(size) or real(raw, size))
    slow = preprocess_subject(path)
    assert len(calls) > 100  # every water and fat slice went through zlib
    np.testing.assert_array_equal(slow.image, fast.image)
    assert json.dumps(slow.facts, sort_keys=True) == json.dumps(fast.facts, sort_keys=True)
    assert slow.warnings == fast.warnings


def test_pixels_of_an_uncopied_buffer_are_read_only(phantom_dir):
    """libdeflate's bytearray is used as it is (no copy to bytes), and the slice's
    pixels, a view of it, cannot be changed by mistake, as with zipfile's bytes."""
    from mimir.reading.archive import SubjectArchive
    from mimir.reading.dicom import read_slice

    with SubjectArchive(zips(phantom_dir)[0]) as archive:
        member = next(m for m in archive.members if m.endswith(".dcm"))
        buf = archive.read(member)
    assert isinstance(buf, bytearray)
    sl = read_slice(buf)
    assert sl.pixels is not None and not sl.pixels.flags.writeable
    assert np.shares_memory(sl.pixels, np.frombuffer(buf, dtype=np.uint8))
    with np.testing.assert_raises(ValueError):
        sl.pixels[0, 0] = 1
