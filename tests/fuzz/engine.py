"""Seed-driven mutations of phantom zips and the verdict on each.

A *case* is one seed: it picks a base subject (a phantom zip whose image is known), a
mutation family and the mutation's details, all from ``numpy.random.default_rng(seed)``,
so any case can be rerun alone (``python -m tests.fuzz.run --seed S --cases 1``).
The mutated zip is preprocessed and cached through
:func:`mimir.pipeline.batch.process_one` (what every worker runs) with the default
limits, and the outcome is judged:

``equal``
    cached, with an image equal to the base subject's;
``announced``
    cached with a different image *and* a warning recorded: allowed only for families
    that make an irregularity the cohort really has and the procedure accepts (a
    missing slice, a member the manifest lists but the zip lacks);
``failed``
    failed with a named kind of :data:`mimir.errors.KINDS` other than
    ``internal error``, and a message without a traceback.

Anything else, or an outcome the family does not allow, is a *violation*.

Bases are small phantoms (six stations of about 46 x 56 pixels and 11-18 slices:
the protocol's layout, series, manifest and spacings at a fraction of the cost) with
and without irregular variants, and one full-size clean phantom.
"""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimir.errors import KINDS
from mimir.phantom.geometry import PIXEL_SPACING
from mimir.phantom.subject import draw_cohort
from mimir.phantom.variants import Variants
from mimir.phantom.zipwrite import subject_geometry, write_subject_zip
from tests.fuzz.headers import MAKERS as HEADER_MAKERS
from tests.fuzz.recode import get_value, set_value, strip_preamble, text_value, us_value
from tests.fuzz.values import US_POOLS, pixel_data_value, position_value, size_value, spacing_value
from tests.fuzz.zipedit import Edit, Mutation

#: (rows, slices, slice spacing) of the small phantom's stations; 56 columns.
MINI_TABLE = ((46, 16, 3.0), (48, 11, 4.5), (48, 11, 4.5), (48, 11, 4.5), (44, 18, 3.5),
              (42, 16, 4.0))
MINI_COLS = 56
#: Base subjects: name -> (variant options, full size).
BASES = {
    "mini": ({}, False),
    "mini_superimposed3": ({"superimposed": 3}, False),
    "mini_mismatch2": ({"mismatch": 2}, False),
    "mini_no_manifest": ({"no_manifest": True}, False),
    "mini_csv_crlf": ({"manifest_name": "manifest.csv", "crlf": True}, False),
    "full": ({}, True),
}
#: How often each base is drawn (the full-size one costs about 20 small ones).
BASE_WEIGHTS = {"mini": 40, "mini_superimposed3": 12, "mini_mismatch2": 12,
                "mini_no_manifest": 12, "mini_csv_crlf": 12, "full": 6}
SEED = 20201

#: Outcomes each family may have.
EQ, ANN, FAIL = "equal", "announced", "failed"
FAMILIES = {
    "zip_flip": (12, {EQ, ANN, FAIL}),
    "zip_truncate": (4, {EQ, FAIL}),
    "header": (40, {EQ, FAIL}),
    "slice_move": (6, {EQ, ANN, FAIL}),
    "member_truncate": (6, {FAIL}),
    "drop_member": (8, {EQ, ANN, FAIL}),
    "drop_slice": (5, {EQ, ANN, FAIL}),
    "duplicate": (7, {EQ, FAIL}),
    "manifest": (8, {EQ, ANN, FAIL}),
    "fallback": (4, {EQ}),
    # fields that change what the pixels mean (tests/fuzz/headers.py)
    "orientation": (HEADER_MAKERS["orientation"][0], {EQ, FAIL}),
    "photometric": (HEADER_MAKERS["photometric"][0], {EQ, FAIL}),
    "frames": (HEADER_MAKERS["frames"][0], {EQ, FAIL}),
    "high_bit": (HEADER_MAKERS["high_bit"][0], {EQ, FAIL}),
    "rescale": (HEADER_MAKERS["rescale"][0], {EQ, FAIL}),
    "foreign_slice": (HEADER_MAKERS["foreign_slice"][0], {FAIL}),
}


# bases ----------------------------------------------------------------------------------

def mini_geometry(subject, seed: int):
    """The small phantom's stations: the protocol's series and spacings, small matrices,
    about 12 mm overlaps."""
    st = subject_geometry(subject, seed)
    out, top = [], st[0].z_top
    for s, (rows, n, dz) in zip(st, MINI_TABLE, strict=True):
        out.append(dataclasses.replace(
            s, rows=rows, cols=MINI_COLS, n=n, dz=dz,
            x0=round(-MINI_COLS / 2 * PIXEL_SPACING, 4),
            y0=round(-(rows / 2) * PIXEL_SPACING, 4), z_top=round(top, 4)))
        top = top - n * dz + 12.3
    return out


def base_zip_name(name: str) -> str:
    return f"{name}.zip"


def build_bases(folder: str | Path, names=None) -> Path:
    """Write the base zips and their images (``<name>.npy``) into ``folder`` (kept when
    already there)."""
    from mimir.pipeline.subject import preprocess_subject

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    subject = draw_cohort(1, 0)[0]
    for name in names or BASES:
        opts, full = BASES[name]
        path = folder / base_zip_name(name)
        img = folder / f"{name}.npy"
        notes = folder / f"{name}.warnings.json"
        if path.exists() and img.exists() and notes.exists():
            continue
        stations = None if full else mini_geometry(subject, 0)
        write_subject_zip(path, subject, 0, Variants(**opts), stations=stations)
        res = preprocess_subject(path)
        np.save(img, res.image)
        notes.write_text(json.dumps(res.warnings))
    return folder


@dataclass
class Base:
    """A base subject loaded for mutation."""

    name: str
    raw: bytes
    image: np.ndarray
    members: list  # (name, bytes) in zip order
    manifest: str | None
    wf: list  # water and fat members
    info: dict  # member -> (series number, description, z)
    warnings: list  # what preprocessing the base itself warns about
    by_name: dict = field(default_factory=dict)  # name -> (bytes, ZipInfo)

    @classmethod
    def load(cls, folder: Path, name: str) -> Base:
        """A base written by :func:`build_bases`."""
        folder = Path(folder)
        return cls.from_zip(folder / base_zip_name(name), np.load(folder / f"{name}.npy"),
                            json.loads((folder / f"{name}.warnings.json").read_text()),
                            name=name)

    @classmethod
    def from_zip(cls, path: Path, image: np.ndarray | None = None, warnings_=(),
                 name: str | None = None) -> Base:
        """Any phantom zip (``image``: its image, where known)."""
        path = Path(path)
        raw = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            members = [(i.filename, zf.read(i)) for i in infos]
        manifest = next((n for n, _ in members if "manifest" in n), None)
        info, wf = {}, []
        for n, data in members:
            if n == manifest:
                continue
            desc = text_value(data, "SeriesDescription")
            sn = int(text_value(data, "SeriesNumber"))
            z = float(text_value(data, "ImagePositionPatient").split("\\")[2])
            info[n] = (sn, desc, z)
            if "_W" in desc or "_F" in desc:
                wf.append(n)
        by_name = {i.filename: (d, i) for i, (_, d) in zip(infos, members, strict=True)}
        return cls(name=name or path.stem, raw=raw, image=image, members=members,
                   manifest=manifest, wf=wf, info=info, warnings=list(warnings_),
                   by_name=by_name)

    def series_members(self, sn: int) -> list[str]:
        """Members of series ``sn``, top slice first."""
        ms = [m for m in self.wf if self.info[m][0] == sn]
        return sorted(ms, key=lambda m: -self.info[m][2])

    def wf_series(self) -> list[int]:
        return sorted({self.info[m][0] for m in self.wf})

    def station_series(self, sn: int) -> list[int]:
        """The water and fat series at the position of series ``sn``."""
        z = self.info[self.series_members(sn)[0]][2]
        return [s for s in self.wf_series()
                if abs(self.info[self.series_members(s)[0]][2] - z) < 1e-3]


# families -------------------------------------------------------------------------------

def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def fam_zip_flip(rng, base: Base) -> Mutation:
    data = bytearray(base.raw)
    n = int(rng.choice([1, 2, 4, 8, 32]))
    where = str(rng.choice(["anywhere", "directory"]))
    # the end of central directory record (no comment) gives the directory's offset
    lo = struct.unpack_from("<I", data, len(data) - 6)[0] if where == "directory" else 0
    offs = rng.integers(lo, len(data), n)
    for o in offs:
        data[int(o)] ^= int(rng.integers(1, 256))
    return Mutation("zip_flip", f"{n} byte(s) {where}: offsets {sorted(int(o) for o in offs)[:4]}",
                    bytes(data))


def fam_zip_truncate(rng, base: Base) -> Mutation:
    if rng.random() < 0.2:
        junk = rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
        return Mutation("zip_truncate", f"{len(junk)} junk bytes appended", base.raw + junk)
    cut = int(rng.integers(0, len(base.raw)))
    return Mutation("zip_truncate", f"cut at {cut} of {len(base.raw)}", base.raw[:cut])


def fam_header(rng, base: Base) -> Mutation:
    ed = Edit(base)
    field_ = str(rng.choice(["ImagePositionPatient", "ImagePositionPatient", "PixelSpacing",
                             "PixelSpacing", "Rows", "Columns", "SamplesPerPixel",
                             "BitsAllocated", "BitsStored", "PixelRepresentation",
                             "PixelData"]))
    scope = str(rng.choice(["slice", "slice", "series", "station"]))
    sn = base.info[_pick(rng, base.wf)][0]
    if scope == "slice":
        targets = [_pick(rng, base.series_members(sn))]
    elif scope == "series":
        targets = base.series_members(sn)
    else:
        targets = [m for s in base.station_series(sn) for m in base.series_members(s)]
    ms = base.series_members(sn)
    dz = abs(base.info[ms[0]][2] - base.info[ms[1]][2])
    detail = ""
    fallback = rng.random() < 0.25
    seed = int(rng.integers(1 << 30))
    if field_ not in ("ImagePositionPatient", "PixelData"):
        delete = rng.random() < 0.08
        if field_ == "PixelSpacing":
            value = None if delete else spacing_value(rng, scope)
        elif field_ in ("Rows", "Columns"):
            value = None if delete else size_value(rng, us_value(ed.get(targets[0]), field_))
        else:
            value = None if delete else int(rng.choice(US_POOLS[field_]))
        detail = "deleted" if delete else repr(value)
    z_top = max(base.info[m][2] for m in targets)
    for m in targets:
        buf = ed.get(m)
        if field_ == "ImagePositionPatient":
            pos = [float(v) for v in text_value(buf, field_).split("\\")]
            # the same draw for every slice in scope: one hostile value applied alike
            text, what = position_value(np.random.default_rng(seed), pos, scope, dz, z_top)
            detail = what
            buf = set_value(buf, field_, text)
        elif field_ == "PixelData":
            raw, detail = pixel_data_value(np.random.default_rng(seed), get_value(buf, field_))
            buf = set_value(buf, field_, raw)
        else:
            buf = set_value(buf, field_, value)
        if fallback:
            buf = strip_preamble(buf)
        ed.put(m, buf)
    return Mutation("header", f"{field_} {detail} on {scope} of series {sn} ({len(targets)} "
                    f"member(s)){' via pydicom' if fallback else ''}", ed.zip())


def fam_slice_move(rng, base: Base) -> Mutation:
    ed = Edit(base)
    sn = base.info[_pick(rng, base.wf)][0]
    ms = base.series_members(sn)
    dz = abs(base.info[ms[0]][2] - base.info[ms[1]][2])
    which = str(rng.choice(["top", "bottom", "middle"]))
    m = {"top": ms[0], "bottom": ms[-1]}.get(which) or _pick(rng, ms[1:-1])
    k = int(rng.choice([1, 2, 3]))
    sign = {"top": 1, "bottom": -1}.get(which) or int(rng.choice([-1, 1]))
    buf = ed.get(m)
    x, y, z = text_value(buf, "ImagePositionPatient").split("\\")
    ed.put(m, set_value(buf, "ImagePositionPatient", f"{x}\\{y}\\{float(z) + sign * k * dz:.4f}"))
    return Mutation("slice_move", f"{which} slice of series {sn} moved {sign * k} spacing(s)",
                    ed.zip())


def fam_member_truncate(rng, base: Base) -> Mutation:
    ed = Edit(base)
    m = _pick(rng, base.wf)
    buf = ed.get(m)
    cut = int(rng.integers(0, len(buf)))
    ed.put(m, buf[:cut])
    return Mutation("member_truncate", f"{m} cut at {cut} of {len(buf)}", ed.zip())


def fam_drop_member(rng, base: Base) -> Mutation:
    ed = Edit(base)
    names = [n for n, _ in base.members]
    k = int(rng.choice([1, 2, 5]))
    gone = [names[int(i)] for i in rng.choice(len(names), k, replace=False)]
    for m in gone:
        ed.drop(m)
    if base.manifest in gone:
        ed.manifest_text = None
    return Mutation("drop_member", f"dropped {gone[:3]}", ed.zip())


def fam_drop_slice(rng, base: Base) -> Mutation:
    ed = Edit(base)
    sn = base.info[_pick(rng, base.wf)][0]
    ms = base.series_members(sn)
    m = _pick(rng, ms[1:-1])
    ed.drop(m)
    ed.drop_row(m)
    return Mutation("drop_slice", f"middle slice {m} of series {sn} and its row dropped",
                    ed.zip())


def fam_duplicate(rng, base: Base) -> Mutation:
    ed = Edit(base)
    m = _pick(rng, base.wf)
    what = str(rng.choice(["row", "same_name_same_bytes", "same_name_other_bytes",
                           "copy_listed", "copy_unlisted"]))
    if ed.manifest_text is None and what in ("row", "copy_listed"):
        what = "copy_unlisted"
    if what == "row" and ed.manifest_text is not None:
        row = next(x for x in ed.manifest_text.splitlines(keepends=True)
                   if x.startswith(m + ","))
        ed.manifest_text += row
    elif what == "same_name_same_bytes":
        ed.members.append((m, ed.get(m)))
    elif what == "same_name_other_bytes":
        other = _pick(rng, [x for x in base.wf if x != m])
        ed.members.append((m, ed.get(other)))
    else:
        new = "1.3.12.2.1107.5.2.18.99999.copy.dcm"
        ed.members.insert(0, (new, ed.get(m)))
        if what == "copy_listed" and ed.manifest_text is not None:
            row = next(x for x in ed.manifest_text.splitlines(keepends=True)
                       if x.startswith(m + ","))
            ed.manifest_text += new + row[len(m):]
    return Mutation("duplicate", f"{what} of {m}", ed.zip())


def fam_manifest(rng, base: Base) -> Mutation:
    ed = Edit(base)
    if ed.manifest_text is None:
        junk = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
        ed.members.append(("manifest.cvs", junk))
        return Mutation("manifest", "binary manifest added", ed.zip())
    text = ed.manifest_text
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(nl)
    header, rows = lines[0], [x for x in lines[1:] if x]
    what = str(rng.choice(["random", "empty", "header_only", "no_filename", "no_marker",
                           "shuffle", "ghost_rows", "cut", "crlf", "swap_wf", "junk_line",
                           "drop_rows", "second_manifest"]))
    if what == "random":
        text = rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes() \
            .decode("latin-1")
    elif what == "empty":
        text = ""
    elif what == "header_only":
        text = header + nl
    elif what == "no_filename":
        text = text.replace("filename", "file", 1)
    elif what == "no_marker":
        text = text.replace("Dixon_noBH_F", "Dixon_noBH_X")
    elif what == "shuffle":
        rows = [rows[int(i)] for i in rng.permutation(len(rows))]
        text = nl.join([header] + rows) + nl
    elif what == "ghost_rows":
        ghost = [f"9.9.{i}.dcm" + r[r.index(","):] for i, r in enumerate(rows[:20])]
        text = nl.join([header] + rows + ghost) + nl
    elif what == "cut":
        text = text[:int(rng.integers(0, len(text)))]
    elif what == "crlf":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    elif what == "swap_wf":
        text = text.replace("_W,", "_Q,").replace("_F,", "_W,").replace("_Q,", "_F,")
    elif what == "junk_line":
        rows.insert(int(rng.integers(0, len(rows))), "\x00\xff\xfe,,,,,,,,\x01")
        text = nl.join([header] + rows) + nl
    elif what == "drop_rows":
        keep = rng.random(len(rows)) > 0.05
        text = nl.join([header] + [r for r, k in zip(rows, keep, strict=True) if k]) + nl
    else:
        ed.members.insert(0, ("manifest.bak", b"filename\nnothing.dcm\n"))
    ed.manifest_text = text
    return Mutation("manifest", what, ed.zip())


def fam_fallback(rng, base: Base) -> Mutation:
    ed = Edit(base)
    k = int(rng.choice([1, 10, len(base.wf)]))
    chosen = [base.wf[int(i)] for i in rng.choice(len(base.wf), k, replace=False)]
    for m in chosen:
        ed.put(m, strip_preamble(ed.get(m)))
    return Mutation("fallback", f"{k} member(s) without preamble (read by pydicom)", ed.zip())


MAKERS = {"zip_flip": fam_zip_flip, "zip_truncate": fam_zip_truncate, "header": fam_header,
          "slice_move": fam_slice_move, "member_truncate": fam_member_truncate,
          "drop_member": fam_drop_member, "drop_slice": fam_drop_slice,
          "duplicate": fam_duplicate, "manifest": fam_manifest, "fallback": fam_fallback,
          **{name: maker for name, (_, maker) in HEADER_MAKERS.items()}}


def draw_case(seed: int) -> tuple[str, str]:
    """The base and family of case ``seed``."""
    rng = np.random.default_rng([SEED, seed])
    names = list(BASE_WEIGHTS)
    w = np.array([BASE_WEIGHTS[n] for n in names], dtype=float)
    base = names[int(rng.choice(len(names), p=w / w.sum()))]
    fams = list(FAMILIES)
    fw = np.array([FAMILIES[f][0] for f in fams], dtype=float)
    return base, fams[int(rng.choice(len(fams), p=fw / fw.sum()))]


def make_case(seed: int, bases: dict) -> tuple[Base, Mutation]:
    """Build case ``seed``'s mutated zip (bytes) from its base."""
    base_name, family = draw_case(seed)
    rng = np.random.default_rng([SEED, seed, 1])
    base = bases[base_name]
    return base, MAKERS[family](rng, base)


# running and judging --------------------------------------------------------------------

@dataclass
class Outcome:
    seed: int
    base: str
    family: str
    detail: str
    outcome: str  # equal | announced | failed | different | internal
    kind: str = ""
    member: str = ""
    message: str = ""
    violation: str = ""
    seconds: float = 0.0
    warnings: list = field(default_factory=list)


def judge(rec, image: np.ndarray | None, base: Base, family: str) -> tuple[str, str]:
    """(outcome, violation) of a record from :func:`mimir.pipeline.batch.process_one`."""
    allowed = FAMILIES[family][1]
    if rec.status == "done":
        if image is not None and np.array_equal(image, base.image):
            outcome = EQ
        elif set(rec.warnings) - set(base.warnings):
            outcome = ANN
        else:
            return "different", "cached with a different image and no warning"
    else:
        outcome = FAIL
        if rec.kind not in KINDS or rec.kind == "internal error":
            return "internal", f"kind {rec.kind!r}: {rec.message}"
        if "Traceback" in rec.message:
            return outcome, "traceback in the failure message"
        if rec.member and rec.member not in rec.message:
            return outcome, "the failure names a member its message does not"
    if outcome not in allowed:
        return outcome, f"{outcome} is not an allowed outcome of {family}"
    return outcome, ""


def run_case(seed: int, bases: dict, workdir: Path, limits=None) -> Outcome:
    """Build, preprocess and judge case ``seed`` (in this process)."""
    from mimir.limits import DEFAULT_LIMITS
    from mimir.pipeline.batch import process_one

    workdir = Path(workdir)
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    base, mut = make_case(seed, bases)
    path = workdir / f"fuzz{seed}_20201_2_0.zip"
    path.write_bytes(mut.data)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = process_one(str(path), str(cache), None, limits or DEFAULT_LIMITS)
    seconds = time.perf_counter() - t0
    npy = cache / f"{path.stem}.npy"
    image = np.load(npy) if npy.exists() else None
    outcome, violation = judge(rec, image, base, mut.family)
    for p in (path, npy, cache / f"{path.stem}.json"):
        p.unlink(missing_ok=True)
    return Outcome(seed=seed, base=base.name, family=mut.family, detail=mut.detail,
                   outcome=outcome, kind=rec.kind, member=rec.member,
                   message=rec.message[:300], violation=violation, seconds=seconds,
                   warnings=list(rec.warnings)[:3])


def load_bases(folder: Path) -> dict:
    return {name: Base.load(folder, name) for name in BASES}
