"""Safe access to the members of a subject's zip.

Nothing is extracted to disk. Every read is bounded by :class:`mimir.limits.Limits`:
the number of members, each member's decompressed size and the subject's total
decompressed bytes are checked before (declared sizes) and while (actual bytes)
reading, so a zip bomb fails its subject with ``limit exceeded`` instead of
exhausting memory. A name held by several members with different contents is
ambiguous: reading it fails the subject (``corrupt dicom``) instead of picking one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

from mimir.errors import SubjectError
from mimir.limits import DEFAULT_LIMITS, Limits
from mimir.reading import inflate
from mimir.safeio import zip_layout_problem

#: a zip local file header (signature, versions, flags, method, time, date, CRC-32,
#: sizes, name and extra field lengths)
_LOCAL = struct.Struct("<4s2B4HL2L2H")
#: general purpose flags of members left to zipfile: encrypted, patched, strong encryption
_UNSUPPORTED_FLAGS = 0x1 | 0x20 | 0x40


def subject_name(path: str | os.PathLike) -> str:
    """Subject name used in all outputs: the file name up to its first ``.``.

    >>> subject_name("/data/1234567_20201_2_0.zip")
    '1234567_20201_2_0'
    """
    return Path(path).name.split(".", 1)[0]


_UKB_NAME = re.compile(r"^(\d+)_20201_(\d+)_(\d+)$")


def eid_instance(name: str) -> tuple[int | None, int | None]:
    """UK Biobank participant id and imaging visit of a subject name.

    >>> eid_instance("1234567_20201_2_0")
    (1234567, 2)
    >>> eid_instance("scan_of_someone")
    (None, None)
    """
    m = _UKB_NAME.match(name)
    if m is None:
        return (int(name), None) if name.isdigit() else (None, None)
    return int(m.group(1)), int(m.group(2))


def id_columns(names) -> dict:
    """``eid`` and ``instance`` columns (nullable integers) for a list of subject names,
    placed after ``name`` in every per-subject table."""
    import pandas as pd  # lazy: pandas loads only where it is used

    pairs = [eid_instance(n) for n in names]
    return {"eid": pd.array([p[0] for p in pairs], dtype="Int64"),
            "instance": pd.array([p[1] for p in pairs], dtype="Int64")}


def _regular_file_size(path: Path, name: str) -> int:
    """The size of ``path``, refusing anything but a readable regular file (a FIFO would
    block a reader forever) with a failure that says what it is."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            link = False
            with contextlib.suppress(OSError):
                link = path.is_symlink()
            why = (f"{path} is a link to a missing file" if link else f"no such file: {path}")
        elif exc.errno == errno.ELOOP:
            why = f"{path} is a loop of symbolic links"
        elif exc.errno == errno.ENAMETOOLONG:
            why = f"the path is too long for the file system: {path}"
        else:
            why = f"cannot read {path}: {exc.strerror or exc}"
        raise SubjectError("missing file", why, subject=name) from None
    if stat.S_ISDIR(st.st_mode):
        raise SubjectError("missing file", f"{path} is a folder, not a zip file",
                           subject=name)
    if not stat.S_ISREG(st.st_mode):
        raise SubjectError("not a zip", f"{path} is not a regular file (a FIFO, socket or "
                           "device)", subject=name)
    return st.st_size


def ambiguous_names(infos: list[zipfile.ZipInfo]) -> dict[str, int]:
    """Names held by more than one member with different contents (CRC or size).

    Returns
    -------
    dict
        Name -> number of members holding it. Exact copies are not ambiguous.
    """
    if len({info.filename for info in infos}) == len(infos):
        return {}  # every name once (the usual case)
    seen: dict[str, set] = {}
    count: dict[str, int] = {}
    for info in infos:
        seen.setdefault(info.filename, set()).add((info.CRC, info.file_size))
        count[info.filename] = count.get(info.filename, 0) + 1
    return {name: count[name] for name, contents in seen.items() if len(contents) > 1}


class SubjectArchive:
    """A subject's zip opened for bounded reading.

    Parameters
    ----------
    path : path-like
        The zip file.
    limits : Limits
        Resource limits.

    Raises
    ------
    SubjectError
        ``missing file``, ``not a zip`` or ``limit exceeded``.
    """

    def __init__(self, path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS):
        self.path = Path(path)
        self.name = subject_name(self.path)
        self.limits = limits
        self.bytes_read = 0
        size = _regular_file_size(self.path, self.name)
        if size > limits.max_zip_bytes:
            raise SubjectError("limit exceeded",
                               f"zip is {size} bytes, more than the limit of "
                               f"{limits.max_zip_bytes}", subject=self.name)
        try:
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError, struct.error) as exc:
            raise SubjectError("not a zip", f"{self.path.name} cannot be opened as a zip "
                               f"(truncated or not a zip file: {exc})", subject=self.name) from None
        infos = self._zf.infolist()
        why = zip_layout_problem(self._zf, size)
        if why is not None:
            self.close()
            raise SubjectError("not a zip", f"{self.path.name} is a damaged zip: {why}",
                               subject=self.name)
        if len(infos) > limits.max_members:
            self.close()
            raise SubjectError("limit exceeded", f"zip has {len(infos)} members, more than the "
                               f"limit of {limits.max_members}", subject=self.name)
        self._infos = {i.filename: i for i in infos if not i.is_dir()}
        self._ambiguous = ambiguous_names(infos)

    # context manager -------------------------------------------------------------
    def __enter__(self) -> SubjectArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying zip file."""
        zf = getattr(self, "_zf", None)
        if zf is not None:
            zf.close()

    # members ---------------------------------------------------------------------
    @property
    def members(self) -> list[str]:
        """Member names in the zip's own order (folders left out)."""
        return list(self._infos)

    def has(self, member: str) -> bool:
        """Whether the zip holds ``member``."""
        return member in self._infos

    def declared_size(self, member: str) -> int:
        """The decompressed size the zip declares for ``member``."""
        return self._infos[member].file_size

    def read(self, member: str, max_bytes: int | None = None) -> bytes | bytearray:
        """Read a member (or its first ``max_bytes`` bytes), within the limits.

        Raises
        ------
        SubjectError
            ``limit exceeded`` for oversized members or subjects, ``corrupt dicom``
            when the member's compressed data is damaged or its name is ambiguous.
        """
        info = self._infos.get(member)
        if info is None:
            raise SubjectError("corrupt dicom", "member listed but not in the zip",
                               subject=self.name, member=member)
        if member in self._ambiguous:
            raise SubjectError("corrupt dicom", f"the zip holds {self._ambiguous[member]} "
                               "different members of this name", subject=self.name,
                               member=member)
        lim = self.limits
        if info.file_size > lim.max_member_bytes:
            raise SubjectError("limit exceeded", f"member declares {info.file_size} bytes, more "
                               f"than the per-member limit of {lim.max_member_bytes}",
                               subject=self.name, member=member)
        want = info.file_size if max_bytes is None else min(max_bytes, info.file_size)
        if self.bytes_read + want > lim.max_subject_bytes:
            raise SubjectError("limit exceeded", f"more than {lim.max_subject_bytes} decompressed "
                               "bytes in this subject", subject=self.name, member=member)
        try:
            data = self._read_whole(info) if max_bytes is None else None
            if data is None:  # header probes and irregular members: zipfile reads them
                with self._zf.open(info) as fh:
                    data = fh.read(want + 1 if max_bytes is None else want)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError, struct.error) as exc:
            raise SubjectError("corrupt dicom", f"cannot decompress: {exc}",
                               subject=self.name, member=member) from None
        if len(data) > want:
            raise SubjectError("corrupt dicom", "member decompresses to more bytes than it "
                               "declares (a damaged or forged zip)", subject=self.name,
                               member=member)
        self.bytes_read += len(data)
        return data

    def _read_whole(self, info: zipfile.ZipInfo) -> bytes | bytearray | None:
        """A whole stored or deflated member, inflated by :mod:`mimir.reading.inflate`
        (libdeflate where installed) and checked against its size and CRC-32; None for a
        member :mod:`zipfile` must read (encrypted, other methods, an irregular local
        header), so that its errors stay zipfile's."""
        if info.compress_type not in (inflate.STORED, inflate.DEFLATED) or \
                info.flag_bits & _UNSUPPORTED_FLAGS or \
                info.compress_size > info.file_size + (info.file_size >> 3) + 1024:
            return None  # (deflate never needs 9 bits for 8: a bigger claim is streamed)
        fp = self._zf.fp
        if fp is None:  # closed
            return None
        fd = fp.fileno()
        head = os.pread(fd, _LOCAL.size, info.header_offset)
        if len(head) != _LOCAL.size:
            return None
        fields = _LOCAL.unpack(head)
        if fields[0] != b"PK\x03\x04" or fields[3] & _UNSUPPORTED_FLAGS:
            return None
        name_len, extra_len = fields[10], fields[11]
        start = info.header_offset + _LOCAL.size
        name = os.pread(fd, name_len, start)
        encoding = "utf-8" if fields[3] & 0x800 else (getattr(self._zf, "metadata_encoding", None)
                                                     or "cp437")
        if name.decode(encoding, errors="replace") != info.orig_filename:
            return None
        raw = os.pread(fd, info.compress_size, start + name_len + extra_len)
        if len(raw) != info.compress_size:
            raise SubjectError("corrupt dicom", "cannot decompress: the zip ends inside the "
                               "member's data", subject=self.name, member=info.filename)
        try:
            return inflate.inflate(raw, info.file_size, info.compress_type, info.CRC)
        except inflate.InflateError as exc:
            raise SubjectError("corrupt dicom", f"cannot decompress: {exc}",
                               subject=self.name, member=info.filename) from None
