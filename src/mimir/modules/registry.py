"""Installed modules under ``$MIMIR_HOME/modules`` (default ``~/.cache/mimir``).

``install`` takes a module as downloaded (a zip per module, or a folder), checks it,
and copies it in. Both are untrusted: members with absolute paths, ``..`` components,
links, special files (FIFOs, devices) or excessive sizes are refused before anything is
written (the snapshot and each ensemble member's may hold up to 2 GiB, every other file up to
:data:`MAX_OTHER_BYTES`), copies read no more than the size checked, and unpacking
happens in a temporary folder inside the registry (``.install-<pid>-...``) that is
renamed into place only once the module validates, its snapshot is safe to load and its
output layer gives two numbers per target. A damaged zip (a bad CRC, a member larger
than it declares, a bogus central directory) is a :class:`ModuleFormatError`. An
install killed before it finished leaves its temporary folder behind; the next install
removes the folders of installs whose process is gone.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from mimir.errors import ModuleFormatError, UsageError
from mimir.limits import MiB
from mimir.modules.format import METADATA, SNAPSHOT, Module, load_module
from mimir.modules.members import is_member_file
from mimir.modules.snapshot import MAX_SNAPSHOT_BYTES, check_head, load_state_dict
from mimir.safeio import UntrustedFile, regular_file, zip_layout_problem

#: What reading a damaged zip can raise (zipfile, zlib and the file underneath).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
              ValueError, NotImplementedError, RuntimeError, struct.error)
#: Prefix of the temporary folders of installs in progress.
INSTALL_PREFIX = ".install-"

MAX_ZIP_MEMBERS = 1000
#: Largest file other than the snapshot (metadata, module.json, notes).
MAX_OTHER_BYTES = 64 * MiB
#: Largest module in all.
MAX_ZIP_BYTES = MAX_SNAPSHOT_BYTES + 256 * MiB


def _file_limit(name: str) -> int:
    base = PurePosixPath(name).name
    return MAX_SNAPSHOT_BYTES if base == SNAPSHOT or is_member_file(base) else MAX_OTHER_BYTES


def _check_size(source: Path, name: str, size: int, total: int) -> int:
    if size > _file_limit(name):
        raise ModuleFormatError(f"{source}: {name!r} holds {size} bytes, more than the "
                                f"{_file_limit(name)} a module file may; refused")
    total += size
    if total > MAX_ZIP_BYTES:
        raise ModuleFormatError(f"{source}: more than {MAX_ZIP_BYTES} bytes in all; refused")
    return total


def mimir_home() -> Path:
    """``$MIMIR_HOME`` or ``~/.cache/mimir``."""
    env = os.environ.get("MIMIR_HOME")
    return Path(env) if env else Path.home() / ".cache" / "mimir"


def modules_dir() -> Path:
    return mimir_home() / "modules"


def installed() -> list[Module]:
    """Installed modules that load (sorted by name)."""
    root = modules_dir()
    out = []
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir() and not p.name.startswith(".") and (p / METADATA).is_file():
                try:
                    out.append(load_module(p))
                except ModuleFormatError:
                    continue
    return out


def resolve(spec: str | os.PathLike) -> Path:
    """A module folder from a path or an installed module's name.

    Raises
    ------
    UsageError
        When ``spec`` is neither.
    """
    p = Path(spec)
    if p.is_dir():
        return p
    cand = modules_dir() / str(spec)
    if str(spec) and "/" not in str(spec) and cand.is_dir():
        return cand
    names = [m.name for m in installed()]
    raise UsageError(f"module {spec!r}: not a folder and not an installed module (installed: "
                     f"{', '.join(names) if names else 'none'}; see `mimir modules install`)")


def _safe_members(zf: zipfile.ZipFile, source: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ModuleFormatError(f"{source}: {len(infos)} members, more than {MAX_ZIP_MEMBERS}")
    total = 0
    for i in infos:
        name = i.filename
        parts = PurePosixPath(name).parts
        unsafe = (name.startswith("/") or "\\" in name or ".." in parts
                  or (bool(parts) and ":" in parts[0]))
        if unsafe:
            raise ModuleFormatError(f"{source}: member {name!r} would be written outside the "
                                    "module folder; refused")
        mode = i.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ModuleFormatError(f"{source}: member {name!r} is a symbolic link; refused")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ModuleFormatError(f"{source}: member {name!r} is not a regular file; "
                                    "refused")
        if not i.is_dir():
            total = _check_size(source, name, i.file_size, total)
    return infos


def _copy_bounded(src: Path, dst: Path, limit: int, source: Path) -> None:
    """Copy at most ``limit`` bytes; a file that grows beyond it while read is refused."""
    with regular_file(src) as fi, open(dst, "wb") as fo:
        left = limit
        while block := fi.read(min(1 << 20, left + 1)):
            left -= len(block)
            if left < 0:
                raise ModuleFormatError(f"{source}: {src.name!r} grew beyond {limit} bytes "
                                        "while being copied; refused")
            fo.write(block)


def _copy_folder(source: Path, dest: Path) -> None:
    """Copy a module folder: regular files and folders only, sizes checked first."""
    entries, total = [], 0
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(source).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise ModuleFormatError(f"{source}: {rel!r} is a symbolic link; refused (copy "
                                        "the file itself into the module folder)")
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise ModuleFormatError(f"{source}: {rel!r} is not a regular file (a FIFO, "
                                        "socket or device); refused")
            total = _check_size(source, rel, st.st_size, total)
            entries.append((p, rel, st.st_size))
            if len(entries) > MAX_ZIP_MEMBERS:
                raise ModuleFormatError(f"{source}: more than {MAX_ZIP_MEMBERS} files")
    for p, rel, size in entries:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_bounded(p, target, size, source)


def _read_block(src, source: Path, name: str) -> bytes:
    try:
        return src.read(1 << 20)
    except ZIP_ERRORS as exc:
        raise ModuleFormatError(f"{source}: member {name!r} is damaged ({exc}); refused") \
            from None


def _unpack(source: Path, dest: Path) -> None:
    try:
        with regular_file(source) as fh:
            if os.fstat(fh.fileno()).st_size > MAX_ZIP_BYTES:
                raise ModuleFormatError(f"{source}: more than {MAX_ZIP_BYTES} bytes; refused")
            try:
                zf = zipfile.ZipFile(fh)
            except ZIP_ERRORS as exc:
                raise ModuleFormatError(f"{source}: not a readable zip ({exc})") from None
            with zf:
                why = zip_layout_problem(zf, os.fstat(fh.fileno()).st_size)
                if why is not None:
                    raise ModuleFormatError(f"{source}: not a readable zip: {why}")
                _extract(zf, source, dest)
    except UntrustedFile as exc:
        raise ModuleFormatError(str(exc)) from None


def _extract(zf: zipfile.ZipFile, source: Path, dest: Path) -> None:
    for info in _safe_members(zf, source):
        target = dest.joinpath(*PurePosixPath(info.filename).parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            src = zf.open(info)
        except ZIP_ERRORS as exc:
            raise ModuleFormatError(f"{source}: member {info.filename!r} cannot be read "
                                    f"({exc}); refused") from None
        with src, open(target, "wb") as dst:
            remaining = info.file_size
            while block := _read_block(src, source, info.filename):
                remaining -= len(block)
                if remaining < 0:
                    raise ModuleFormatError(f"{source}: member {info.filename!r} "
                                            "decompresses to more than it declares")
                dst.write(block)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return pid > 0


def clean_stale_installs(root: Path) -> list[Path]:
    """Remove the temporary folders of installs whose process is gone (killed before
    they finished); return them."""
    gone: list[Path] = []
    if not root.is_dir():
        return gone
    for p in root.iterdir():
        if not p.name.startswith(INSTALL_PREFIX) or p.is_symlink() or not p.is_dir():
            continue
        pid = p.name[len(INSTALL_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and _pid_alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


def _module_root(folder: Path) -> Path:
    """The folder holding metadata.txt: ``folder`` itself or its single subfolder."""
    if (folder / METADATA).is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    if len(subs) == 1 and (subs[0] / METADATA).is_file():
        return subs[0]
    raise ModuleFormatError(f"{folder}: no {METADATA} at the top or in a single subfolder")


def install(source: str | os.PathLike, name: str | None = None,
            overwrite: bool = False) -> Module:
    """Install a module (zip or folder) into ``$MIMIR_HOME/modules``.

    Parameters
    ----------
    source : path-like
        A module zip as downloaded, or a module folder.
    name : str, optional
        Name to install under (default: the module folder's name, or the zip's stem).
    overwrite : bool
        Replace an installed module of the same name.

    Returns
    -------
    Module
        The installed module.
    """
    source = Path(source)
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    root = modules_dir()
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_installs(root)
    with tempfile.TemporaryDirectory(dir=root, prefix=f"{INSTALL_PREFIX}{os.getpid()}-") \
            as tmpdir:
        tmp = Path(tmpdir)
        if source.is_dir():
            staged = tmp / source.name
            staged.mkdir()
            _copy_folder(source, staged)
            default_name = source.name
        else:
            unpack = tmp / "unpacked"
            unpack.mkdir()
            _unpack(source, unpack)
            staged = _module_root(unpack)
            default_name = staged.name if staged != unpack else source.name.split(".")[0]
        module = load_module(staged)
        # refuse unsafe snapshots, and heads that do not fit the targets, at install time
        for snapshot in module.member_paths():
            check_head(load_state_dict(snapshot), module.backbone, module.n_targets, snapshot)
        final = root / (name or default_name)
        if final.exists():
            if not overwrite:
                raise UsageError(f"module {final.name} is already installed at {final}; use "
                                 "--overwrite to replace it")
            shutil.rmtree(final)
        os.replace(staged, final)
    return load_module(final)
