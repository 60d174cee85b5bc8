"""Builders of hostile and altered zips for the pipeline tests (not a test module)."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pydicom

from mimir.limits import Limits
from mimir.phantom.dicomwrite import encode_slice

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
