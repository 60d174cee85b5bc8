"""Shared fixtures of the pipeline tests: phantom zips, hostile zips and images."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mimir.limits import Limits
from mimir.phantom.dicomwrite import encode_slice
from mimir.pipeline import preprocess_subject

MANIFEST_HEADER = "filename,patientid,studyid,aet,date,series discription"

#: Limits for the hostile batch: generous enough for phantom subjects (about 1,330
#: members of about 80 kB, a manifest of about 200 kB, slices of 174 x 224 pixels).
HOSTILE_LIMITS = Limits(max_member_bytes=1 << 20, max_members=1500,
                        max_slice_pixels=512 * 512)


def only_zip(folder: Path) -> Path:
    (p,) = sorted(folder.glob("*.zip"))
    return p


def zips(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.zip"))


def _patch_position_x(buf: bytes, dx: float) -> bytes:
    """Shift ImagePositionPatient x of an explicit-VR little-endian slice by ``dx`` mm."""
    tag = b"\x20\x00\x32\x00DS"
    k = buf.index(tag)
    (length,) = struct.unpack_from("<H", buf, k + 6)
    value = buf[k + 8:k + 8 + length].decode().strip(" \x00")
    x, y, z = value.split("\\")
    new = f"{float(x) + dx:.4f}\\{y}\\{z}".encode()
    if len(new) % 2:
        new += b" "
    return buf[:k + 6] + struct.pack("<H", len(new)) + new + buf[k + 8 + length:]


def write_position_disagreement(src: Path, dst: Path, series: int = 3, dx: float = 12.0) -> Path:
    """Copy of ``src`` whose fat series ``series`` sits ``dx`` mm away from its water."""
    shifted = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".dcm"):
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
                if int(ds.SeriesNumber) == series:
                    data = _patch_position_x(data, dx)
                    shifted += 1
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED,
                          compresslevel=1)
    assert shifted > 10
    return dst


def write_traversal_copy(src: Path, dst: Path) -> Path:
    """Copy of ``src`` with an extra member named ``../../evil.dcm``."""
    shutil.copyfile(src, dst)
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr("../../evil.dcm", b"\x00" * 128 + b"DICM" + b"evil" * 100)
    return dst


def write_bomb(dst: Path, size: int = 16 << 20) -> Path:
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("1.3.12.2.1107.5.2.18.1.dcm", b"\x00" * size)
    assert dst.stat().st_size < 200_000
    return dst


def write_many_members(dst: Path, n: int) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for i in range(n):
            zf.writestr(f"1.3.12.2.1107.5.2.18.{i}.dcm", b"")
    return dst


def small_slice(sn: int, desc: str, rows: int, cols: int, z: float = 0.0) -> bytes:
    header = [(0x00080031, "TM", "101112.000000"), (0x0008103E, "LO", desc),
              (0x0020000E, "UI", f"1.2.{sn}"), (0x00200011, "IS", str(sn)),
              (0x00200032, "DS", f"-250\\-190\\{z}"), (0x00280002, "US", 1),
              (0x00280010, "US", rows), (0x00280011, "US", cols),
              (0x00280030, "DS", "2.23214293\\2.23214293"), (0x00280100, "US", 16),
              (0x00280103, "US", 0)]
    return encode_slice(header, np.ones((4, 4), dtype=np.uint16), f"1.2.{sn}.{int(z)}")


def write_huge_slice(dst: Path, member: str) -> Path:
    """A zip whose manifest lists a water slice claiming 30000 x 30000 pixels."""
    members = [(member, small_slice(4, "Dixon_noBH_W", 30000, 30000)),
               ("fat.dcm", small_slice(3, "Dixon_noBH_F", 4, 4))]
    rows = [f"{member},1,2,AET,Aug 30, 2015 10:11:12 AM,Dixon_noBH_W",
            "fat.dcm,1,2,AET,Aug 30, 2015 10:11:12 AM,Dixon_noBH_F"]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        zf.writestr("manifest.cvs", "\n".join([MANIFEST_HEADER] + rows) + "\n")
    return dst


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
