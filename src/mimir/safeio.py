"""Reading files that came from disk and may have been replaced: regular files only,
bounded sizes, JSON with its depth checked.

Cache entries, an output folder's state and module folders are written by MIMIR (or a
module's author), but anyone with access to the folder may have replaced a file since:
by a symbolic link to ``/dev/zero`` (endless), a FIFO (a reader blocks forever), a huge
file, or JSON nested 400,000 levels deep (Python's parser then raises
``RecursionError``). Every such read goes through this module:

- :func:`open_regular` opens with ``O_NOFOLLOW | O_NONBLOCK`` (a link is not followed,
  opening a FIFO or device does not block) and then requires ``fstat`` to say *regular
  file*. A symbolic link is accepted only where a ``root`` folder is given and the link
  resolves to a regular file inside it.
- :func:`read_regular` reads at most ``max_bytes`` (checked on the open file, and again
  while reading, so a file that grows is refused too).
- :func:`load_json` refuses nesting deeper than ``max_depth`` before parsing.
- :func:`zip_layout_problem` finds a zip whose central directory points its members
  outside the file (a bogus directory offset), which ``zipfile`` opens but cannot read.

Every refusal is an :class:`UntrustedFile` naming the path and what is wrong; callers
turn it into their own error (a corrupt cache entry, a module format error, a usage
error).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from zipfile import ZipFile

_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
#: JSON nesting accepted by :func:`load_json` (MIMIR's own files nest 4 levels at most).
MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class UntrustedFile(Exception):
    """A file that is not what it should be: a link, a FIFO or device, too large,
    unreadable, or JSON nested too deeply. (Not a ``MimirError``: this layer imports
    nothing of MIMIR's; callers turn it into their own error.)"""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _inside(path: Path, root: Path) -> Path | None:
    """``path`` resolved, if it lies inside ``root`` (both resolved); else None."""
    try:
        real = Path(os.path.realpath(path))
        base = Path(os.path.realpath(root))
    except (OSError, ValueError):
        return None
    return real if real == base or base in real.parents else None


def open_regular(path: str | os.PathLike, root: str | os.PathLike | None = None) -> int:
    """Open ``path`` for reading if it is a regular file; return the descriptor.

    Parameters
    ----------
    path : path-like
    root : path-like, optional
        A folder: a symbolic link is then followed when it resolves inside it (without
        ``root`` every link is refused).

    Raises
    ------
    FileNotFoundError
        When nothing is there.
    UntrustedFile
        For a link (out of ``root``), a FIFO, a device, a socket, a folder, or a file
        that cannot be opened.
    """
    path = Path(path)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) and path.is_symlink():
            real = _inside(path, Path(root)) if root is not None else None
            if real is None:
                raise UntrustedFile(f"{path} is a symbolic link" + (
                    f" out of {root}" if root is not None else "") + "; refused (MIMIR "
                    "reads only regular files here)") from None
            return open_regular(real)
        raise UntrustedFile(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedFile(f"{path} is {_kind(st.st_mode)}, not a regular file; "
                                "refused")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def regular_file(path: str | os.PathLike,
                 root: str | os.PathLike | None = None) -> Iterator[BinaryIO]:
    """A binary file object of a regular file (see :func:`open_regular`)."""
    fd = open_regular(path, root)
    with os.fdopen(fd, "rb") as fh:
        yield fh


def read_regular(path: str | os.PathLike, max_bytes: int,
                 root: str | os.PathLike | None = None) -> bytes:
    """The content of a regular file of at most ``max_bytes`` bytes.

    Raises
    ------
    FileNotFoundError
        When nothing is there.
    UntrustedFile
        When it is not a regular file (:func:`open_regular`) or holds more than
        ``max_bytes`` bytes (before reading, or while reading).
    """
    with regular_file(path, root) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise UntrustedFile(f"{path} holds {size} bytes, more than the {max_bytes} "
                                "allowed; refused")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise UntrustedFile(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise UntrustedFile(f"{path} grew beyond {max_bytes} bytes while read; refused")
    return data


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of JSON text (brackets inside strings do not count); counting
    stops once it exceeds ``limit``."""
    depth = top = 0
    for m in _JSON_TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > top:
                top = depth
                if top > limit:
                    break
        elif c in "]}":
            depth -= 1
    return top


def load_json(data: bytes | str, where: str | os.PathLike,
              max_depth: int = MAX_JSON_DEPTH):
    """Parse JSON after checking its nesting depth.

    Raises
    ------
    UntrustedFile
        For text that is not UTF-8, not JSON, or nested deeper than ``max_depth``.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise UntrustedFile(f"{where}: not UTF-8 text ({exc})") from None
    if json_depth(text, max_depth) > max_depth:
        raise UntrustedFile(f"{where}: JSON nested more than {max_depth} levels deep; "
                            "refused")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UntrustedFile(f"{where}: not valid JSON ({exc})") from None


def zip_layout_problem(zf: ZipFile, size: int) -> str | None:
    """Why the members of an opened zip cannot be where its central directory says
    (None when they can).

    ``zipfile`` shifts every member's offset by the difference between where the end
    record says the central directory starts and where it really is (room for data put
    before the zip); a bogus offset in the end record makes that shift absurd and every
    member unreadable ("Invalid argument" from a seek before the file's start).

    Parameters
    ----------
    zf : ZipFile
    size : int
        The zip's size in bytes.
    """
    end = getattr(zf, "start_dir", size)
    for info in zf.infolist():
        if not 0 <= info.header_offset <= end - 30:
            return (f"its central directory places member {info.filename!r} at byte "
                    f"{info.header_offset}, outside the file's {size} bytes (a bogus "
                    "central-directory offset)")
    return None
