"""Writing a phantom subject as a UK Biobank field-20201 zip.

The zip is flat: one DICOM file per slice named by its SOP instance UID plus ``.dcm``,
24 series (6 stations x in/opp/F/W, in = W + F and opp = |W - F| per pixel), and a
manifest named ``manifest.cvs`` whose unquoted date comma shifts the data rows by one
column. As in the real manifests, the header names a column after ``series discription``
(``uncompressed size``, each DICOM file's size in bytes), so it is at least as wide as
the shifted data rows up to their description: a parser that takes the description's
index from a data row and applies it to the header row too (the original MIMIR's) reads
these manifests. Deterministic: the same subject, seed and variants give byte-identical zips
(fixed member times, UIDs derived from the subject).
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from mimir.phantom.anatomy import LANDMARKS, render, signals
from mimir.phantom.dicomwrite import encode_slice
from mimir.phantom.geometry import (
    CONTRASTS,
    PIXEL_SPACING,
    PIXEL_SPACING_TEXT,
    StationGeometry,
    scan_geometry,
)
from mimir.phantom.scanner import (
    acquire,
    bias_field,
    edge_factor,
    noise,
    station_gains,
    to_uint16,
)
from mimir.phantom.subject import PhantomSubject
from mimir.phantom.variants import CLEAN, Variants

UID_ROOT = "1.3.12.2.1107.5.2.18"
STUDY_DATE = "20150830"
SESSION_START_S = 10 * 3600 + 11 * 60 + 12
MANIFEST_HEADER = "filename,patientid,studyid,aet,date,series discription,uncompressed size"
MANIFEST_DATE = "Aug 30, 2015 10:11:12 AM"
ZIP_TIME = (2015, 8, 30, 10, 11, 12)
#: With the knee_cut variant the knee lies this far below the lowest slice (mm).
KNEE_BELOW_FOV_MM = 120.0


def zip_name(eid: int, instance: int = 2) -> str:
    """``<eid>_20201_<instance>_0.zip``."""
    return f"{eid}_20201_{instance}_0.zip"


def _series_time(seconds: float) -> str:
    us = int(round((SESSION_START_S + seconds) * 1e6))
    secs, frac = divmod(us, 1_000_000)
    hh, rem = divmod(secs, 3600)
    mm, ss = divmod(rem, 60)
    return f"{hh:02d}{mm:02d}{ss:02d}.{frac:06d}"


def _ds(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class _Uids:
    def __init__(self, subject: PhantomSubject, seed: int):
        self.serial = 41000 + (seed % 1000)
        self.base = f"{UID_ROOT}.{self.serial}.{STUDY_DATE}{subject.eid % 10**7:07d}"

    def study(self) -> str:
        return f"{self.base}1"

    def frame(self) -> str:
        return f"{self.base}2"

    def series(self, sn: int) -> str:
        return f"{self.base}3{sn:02d}"

    def sop(self, sn: int, j: int) -> str:
        return f"{self.base}4{sn:02d}{j:03d}"


def _corrupt(w: np.ndarray, f: np.ndarray, rng: np.random.Generator):
    """A visibly corrupted acquisition: ghosting along rows plus heavy noise."""
    out = []
    for a in (w, f):
        ghost = 0.6 * np.roll(a, a.shape[1] // 3, axis=1)
        b = a + ghost + noise(a.shape, rng) * 80.0
        out.append(np.abs(b))
    return out[0], out[1]


def station_images(subject: PhantomSubject, st: StationGeometry, gain: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Water and fat uint16 images of one station, shape (n, rows, cols), top first."""
    x = st.x0 + PIXEL_SPACING * np.arange(st.cols)
    y = st.y0 + PIXEL_SPACING * np.arange(st.rows)
    z = st.slice_z()
    r = render(subject, x, y, z)
    w, f, _ = signals(subject, r)
    j = np.arange(st.n)
    factor = edge_factor(np.minimum(j, st.n - 1 - j))
    w, f = acquire(w, f, gain, bias_field(x, y), factor, rng)
    return w, f


def write_subject_zip(path: str | os.PathLike, subject: PhantomSubject, seed: int,
                      variants: Variants = CLEAN,
                      stations: list[StationGeometry] | None = None) -> Path:
    """Write one subject's zip.

    Parameters
    ----------
    path : path-like
        Output zip path (its parent must exist). Written atomically.
    subject : PhantomSubject
    seed : int
        Seed of the cohort; with the subject's eid it fixes geometry, noise and UIDs.
    variants : Variants
        Irregularities to build in.
    stations : list of StationGeometry, optional
        Geometry to use (default: drawn from the seed and eid).

    Returns
    -------
    Path
    """
    path = Path(path)
    if stations is None:
        stations = subject_geometry(subject, seed)
    if variants.knee_cut:
        subject = knee_cut_subject(subject, stations)
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject.eid, 1]))
    gains = station_gains(seed, subject.eid)
    uids = _Uids(subject, seed)
    members: list[tuple[str, bytes]] = []
    manifest_rows: list[str] = []
    common = [
        (0x00080008, "CS", "ORIGINAL\\PRIMARY\\M\\DIS2D"),
        (0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.4"),
        (0x00080020, "DA", STUDY_DATE),
        (0x00080021, "DA", STUDY_DATE),
        (0x00080060, "CS", "MR"),
        (0x00080070, "LO", "SIEMENS"),
        (0x00081090, "LO", "MAGNETOM Aera"),
        (0x00100020, "LO", str(subject.eid)),
        (0x00100040, "CS", "M" if subject.sex else "F"),
        (0x00101010, "AS", f"{int(subject.age):03d}Y"),
        (0x00101020, "DS", _ds(subject.height_cm / 100)),
        (0x00180087, "DS", "1.5"),
        (0x0020000D, "UI", uids.study()),
        (0x00200052, "UI", uids.frame()),
        (0x00200037, "DS", "1\\0\\0\\0\\1\\0"),
        (0x00280002, "US", 1),
        (0x00280004, "CS", "MONOCHROME2"),
        (0x00280030, "DS", f"{PIXEL_SPACING_TEXT}\\{PIXEL_SPACING_TEXT}"),
        (0x00280100, "US", 16),
        (0x00280101, "US", 12),
        (0x00280102, "US", 11),
        (0x00280103, "US", 0),
    ]

    def add_series(st: StationGeometry, contrast: str, sn: int, img: np.ndarray,
                   time_s: float):
        desc = st.description(contrast)
        series_hdr = common + [
            (0x00080031, "TM", _series_time(time_s)),
            (0x0008103E, "LO", desc),
            (0x00180050, "DS", _ds(st.dz)),
            (0x0020000E, "UI", uids.series(sn)),
            (0x00200011, "IS", str(sn)),
            (0x00280010, "US", img.shape[1]),
            (0x00280011, "US", img.shape[2]),
        ]
        for j in range(img.shape[0]):
            z = st.z_top - st.dz * j
            hdr = series_hdr + [
                (0x00200013, "IS", str(j + 1)),
                (0x00200032, "DS", f"{_ds(st.x0)}\\{_ds(st.y0)}\\{_ds(z)}"),
                (0x00201041, "DS", _ds(z)),
            ]
            uid = uids.sop(sn, j)
            name = f"{uid}.dcm"
            data = encode_slice(hdr, img[j], uid)
            members.append((name, data))
            manifest_rows.append(f"{name},{subject.eid},{uids.study()},UKBB_AERA,"
                                 f"{MANIFEST_DATE},{desc},{len(data)}")

    repeat = None
    for st in stations:
        if variants.missing_station == st.index:
            continue
        w, f = station_images(subject, st, float(gains[st.index - 1]), rng)
        clean = (w, f)
        if variants.superimposed == st.index:
            w, f = _corrupt(w, f, rng)
            repeat = (st, clean)
        if variants.swap == st.index:
            w, f = f, w
        wi, fi = to_uint16(w), to_uint16(f)
        if variants.mismatch == st.index:
            fi = fi[:, :-4, :]
        _write_station(add_series, st, wi, fi, st.series_numbers(), st.time_s,
                       skip_fat=variants.missing_fat == st.index)
    if repeat is not None:
        st, (w, f) = repeat
        sns = {c: 25 + i for i, c in enumerate(CONTRASTS)}
        _write_station(add_series, st, to_uint16(w), to_uint16(f), sns,
                       stations[-1].time_s + 60.0, skip_fat=False)
    if variants.corrupt_member:
        idx = next(i for i, (n, _) in enumerate(members)
                   if manifest_rows[i].split(",")[-2].endswith("_W"))
        junk = np.random.default_rng(subject.eid).integers(0, 256, 600, dtype=np.uint8)
        members[idx] = (members[idx][0], b"\x00" * 128 + b"DICM" + junk.tobytes())
    if not variants.no_manifest:
        nl = "\r\n" if variants.crlf else "\n"
        text = nl.join([MANIFEST_HEADER] + manifest_rows) + nl
        members.append((variants.manifest_name, text.encode("ascii")))
    data = _zip_bytes(members)
    if variants.truncated:
        data = data[:int(len(data) * 0.6)]
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _write_station(add_series, st, wi, fi, sns, time_s, skip_fat):
    both = np.stack([wi[:, :fi.shape[1], :].astype(np.int32), fi.astype(np.int32)])
    in_ = np.clip(both[0] + both[1], 0, 65535).astype(np.uint16)
    opp = np.abs(both[0] - both[1]).astype(np.uint16)
    add_series(st, "in", sns["in"], in_, time_s)
    add_series(st, "opp", sns["opp"], opp, time_s)
    if not skip_fat:
        add_series(st, "F", sns["F"], fi, time_s)
    add_series(st, "W", sns["W"], wi, time_s)


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data, compresslevel=1)
    return buf.getvalue()


def knee_cut_subject(subject: PhantomSubject,
                     stations: list[StationGeometry]) -> PhantomSubject:
    """The subject positioned so its knees lie ``KNEE_BELOW_FOV_MM`` below the last slice
    (the ``knee_cut`` variant: incomplete coverage). Subjects whose knees already lie that
    low are left as they are."""
    fov_bottom = min(s.z_top - (s.n - 1) * s.dz for s in stations)
    drop = (LANDMARKS["chin"] - LANDMARKS["knee"]) * subject.height_cm * 10.0
    chin_z = fov_bottom - KNEE_BELOW_FOV_MM + drop
    return dataclasses.replace(subject, chin_z=min(subject.chin_z, chin_z))


def subject_geometry(subject: PhantomSubject, seed: int) -> list[StationGeometry]:
    """The subject's station geometry (deterministic in seed and eid)."""
    return scan_geometry(np.random.default_rng(np.random.SeedSequence([seed, subject.eid, 0])))
