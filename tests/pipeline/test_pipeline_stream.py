"""Without ``keep_volumes`` fusion streams into the first sweep; results are the same."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mimir.pipeline.subject as subject_module
from mimir.pipeline import preprocess_subject
from tests.pipeline.pipeline_helpers import only_zip, zips

VARIANTS = [(31, {"superimposed": 2}), (32, {"mismatch": 5}), (33, {"missing_station": 3}),
            (34, {"knee_cut": True}), (35, {"swap": 4})]


@pytest.mark.slow
def test_streamed_subjects_equal_volume_route(phantom_dir, make_phantoms, monkeypatch):
    streamed = []
    real = subject_module.fuse_and_sum

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        streamed.append(out is not None)
        return out

    monkeypatch.setattr(subject_module, "fuse_and_sum", spy)
    paths = zips(phantom_dir)[:1] + [only_zip(make_phantoms(1, s, **o)) for s, o in VARIANTS]
    for path in paths:
        full = preprocess_subject(path, keep_volumes=True)
        fast = preprocess_subject(path)
        np.testing.assert_array_equal(fast.image, full.image)
        assert json.dumps(fast.facts, sort_keys=True) == json.dumps(full.facts, sort_keys=True)
        assert fast.warnings == full.warnings
        assert fast.volumes is None and full.volumes is not None
    # every subject took the streamed route (one call per subject without volumes)
    assert streamed == [True] * len(paths)
