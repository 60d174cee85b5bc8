"""Shared fixtures of the pipeline tests: phantom zips, hostile zips and images."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mimir.pipeline import preprocess_subject
from tests.pipeline.pipeline_helpers import (
    HOSTILE_LIMITS,
    only_zip,
    write_bomb,
    write_huge_slice,
    write_many_members,
    write_position_disagreement,
    write_traversal_copy,
    zips,
)


@pytest.fixture(scope="session")
def no_manifest_pair(make_phantoms) -> tuple[Path, Path]:
    """(zip without manifest, the same subject with its manifest)."""
    bare = only_zip(make_phantoms(1, 24, no_manifest=True))
    full = only_zip(make_phantoms(1, 24))
    assert bare.name == full.name
    return bare, full


@pytest.fixture(scope="session")
def subject_image():
    """``subject_image(zip) -> preprocess_subject(zip).image``, computed once per zip."""
    done: dict = {}

    def get(path: Path) -> np.ndarray:
        key = str(path)
        if key not in done:
            done[key] = preprocess_subject(path).image
        return done[key]

    return get


@pytest.fixture(scope="session")
def hostile_folder(tmp_path_factory, phantom_dir, make_phantoms, no_manifest_pair):
    """A folder mixing good and hostile subjects; returns (folder, expectations).

    expectations: name -> dict(kind=expected failure kind or None for success,
    member=expected member or None, same_as=zip whose image it must equal).
    """
    folder = tmp_path_factory.mktemp("hostile") / "deep" / "zips"
    folder.mkdir(parents=True)
    exp: dict = {}
    clean = zips(phantom_dir)
    for p in clean[:2]:
        shutil.copyfile(p, folder / p.name)
        exp[p.stem] = {"kind": None, "same_as": p}
    # the traversal member is never extracted: the subject reads as its source
    trav = write_traversal_copy(clean[2], folder / "9100001_20201_2_0.zip")
    exp[trav.stem] = {"kind": None, "same_as": clean[2]}
    bare, full = no_manifest_pair
    shutil.copyfile(bare, folder / bare.name)
    exp[bare.stem] = {"kind": None, "same_as": full, "warning": "no manifest"}
    for opts, seed, kind in (({"truncated": True}, 21, "not a zip"),
                             ({"corrupt_member": True}, 22, "corrupt dicom"),
                             ({"missing_fat": 2}, 23, "inconsistent stations")):
        src = only_zip(make_phantoms(1, seed, **opts))
        shutil.copyfile(src, folder / src.name)
        exp[src.stem] = {"kind": kind}
    corrupt = only_zip(make_phantoms(1, 22, corrupt_member=True))
    with zipfile.ZipFile(corrupt) as zf:
        bad = [n for n in zf.namelist() if n.endswith(".dcm") and zf.getinfo(n).file_size < 1000]
    assert len(bad) == 1
    exp[corrupt.stem]["member"] = bad[0]
    text = folder / "9100002_20201_2_0.zip"
    text.write_text("this is a text file, not a zip\n")
    exp[text.stem] = {"kind": "not a zip"}
    exp["9100003_20201_2_0"] = {"kind": "missing file"}  # never written
    bomb = write_bomb(folder / "9100004_20201_2_0.zip")
    exp[bomb.stem] = {"kind": "limit exceeded", "member": "1.3.12.2.1107.5.2.18.1.dcm"}
    many = write_many_members(folder / "9100005_20201_2_0.zip", HOSTILE_LIMITS.max_members + 1)
    exp[many.stem] = {"kind": "limit exceeded"}
    huge = write_huge_slice(folder / "9100006_20201_2_0.zip", "huge.dcm")
    exp[huge.stem] = {"kind": "limit exceeded", "member": "huge.dcm"}
    pos = write_position_disagreement(clean[0], folder / "9100007_20201_2_0.zip")
    exp[pos.stem] = {"kind": "inconsistent stations", "message": "positions disagree"}
    return folder, exp
