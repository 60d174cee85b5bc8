"""Whole subjects with the compiled kernels and with numpy alone: the same image, facts
and warnings, and the same fused volumes and mask bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mimir import native
from mimir.pipeline import preprocess_subject
from tests.pipeline.pipeline_helpers import only_zip, zips

#: the irregularities of test_pipeline_stream (same seeds: the phantoms are made once)
VARIANTS = [(31, {"superimposed": 2}), (32, {"mismatch": 5}), (33, {"missing_station": 3}),
            (34, {"knee_cut": True}), (35, {"swap": 4})]


@pytest.mark.slow
def test_numpy_alone_gives_the_same_subjects(phantom_dir, make_phantoms):
    assert native.kernels() is not None, native.status()
    paths = zips(phantom_dir)[:2] + [only_zip(make_phantoms(1, s, **o)) for s, o in VARIANTS]
    for path in paths:
        fast = preprocess_subject(path)
        fast_vol = preprocess_subject(path, keep_volumes=True)
        native.set_enabled(False)
        try:
            slow = preprocess_subject(path)
            slow_vol = preprocess_subject(path, keep_volumes=True)
        finally:
            native.set_enabled(True)
        for a, b in ((fast, slow), (fast_vol, slow_vol)):
            np.testing.assert_array_equal(a.image, b.image, err_msg=path.name)
            assert json.dumps(a.facts, sort_keys=True) == json.dumps(b.facts, sort_keys=True)
            assert a.warnings == b.warnings
        for key in ("water", "fat", "ff", "mask"):
            got, expected = fast_vol.volumes[key], slow_vol.volumes[key]
            assert got.dtype == expected.dtype, key
            # bit for bit (no NaN in fused volumes of DICOM pixels)
            assert got.tobytes() == expected.tobytes(), f"{path.name}: {key}"
