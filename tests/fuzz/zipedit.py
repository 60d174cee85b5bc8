"""Building the mutated zips of fuzz cases: members copied as they are or re-deflated,
and an editable copy of a base subject's members and manifest."""

from __future__ import annotations

import copy
import io
import struct
import warnings
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fuzz.engine import Base

def _copy_raw(zw: zipfile.ZipFile, raw: bytes, info: zipfile.ZipInfo) -> None:
    """Append a member of another zip (``raw``) to ``zw`` as it is, compressed data and
    all (no recompression)."""
    start = info.header_offset
    n, m = struct.unpack_from("<HH", raw, start + 26)
    end = start + 30 + n + m + info.compress_size
    new = copy.copy(info)
    new.header_offset = zw.fp.tell()
    zw.fp.write(raw[start:end])
    zw.filelist.append(new)
    zw.NameToInfo[new.filename] = new
    zw.start_dir = zw.fp.tell()


def zip_bytes(members: list, base: Base) -> bytes:
    """A zip of ``members`` (duplicates allowed). Members that are the base's own
    (the same bytes object under the same name) are copied compressed; others are
    deflated."""
    buf = io.BytesIO()
    orig = base.by_name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w") as zw:
            for name, data in members:
                if name in orig and data is orig[name][0]:
                    _copy_raw(zw, base.raw, orig[name][1])
                    continue
                info = zipfile.ZipInfo(name, date_time=(2015, 8, 30, 10, 11, 12))
                info.compress_type = zipfile.ZIP_DEFLATED
                zw.writestr(info, data, compresslevel=1)
    return buf.getvalue()


@dataclass
class Mutation:
    family: str
    detail: str
    data: bytes = b""


class Edit:
    """A mutable copy of a base's members and manifest text."""

    def __init__(self, base: Base):
        self.base = base
        self.members = list(base.members)
        self.manifest_text = None
        if base.manifest is not None:
            self.manifest_text = dict(base.members)[base.manifest].decode("latin-1")

    def get(self, name: str) -> bytes:
        return next(d for n, d in self.members if n == name)

    def put(self, name: str, data: bytes) -> None:
        self.members = [(n, data if n == name else d) for n, d in self.members]

    def drop(self, name: str) -> None:
        self.members = [(n, d) for n, d in self.members if n != name]

    def drop_row(self, name: str) -> None:
        if self.manifest_text is not None:
            lines = self.manifest_text.splitlines(keepends=True)
            self.manifest_text = "".join(x for x in lines if not x.startswith(name + ","))

    def zip(self) -> bytes:
        members = self.members
        if self.manifest_text is not None and self.base.manifest is not None:
            text = self.manifest_text.encode("latin-1")
            if text != self.base.by_name[self.base.manifest][0]:
                members = [(n, text if n == self.base.manifest else d) for n, d in members]
        return zip_bytes(members, self.base)
