"""Ensemble modules: the ``members`` list of ``module.json`` and its checks.

A deep-ensemble module is a published-layout module folder whose ``snapshot.pth.tar``
is its first member, with the other members' snapshots beside it
(``member_2.pth.tar`` .. ``member_K.pth.tar``) and ``module.json`` listing them all::

    "format_version": 2,
    "members": [{"snapshot": "snapshot.pth.tar", "sha256": "...", "seed": 0},
                {"snapshot": "member_2.pth.tar", "sha256": "...", "seed": 1234}, ...]

The metadata, standardisation and calibration files are the module's, shared by every
member (the calibration factors are fitted on the members' combined predictions). A
reader that ignores ``members`` still finds a complete single-network module; an older
MIMIR refuses the module (format version 2) rather than use member 1 alone with the
ensemble's calibration.

Checks, each a :class:`mimir.errors.ModuleFormatError` naming ``module.json``: between
2 and :data:`MAX_MEMBERS` members; member k's file name is exactly the one above (no
other name can be given, so no path can point outside the folder); each has a SHA-256
(64 hex digits) that its file must match; every file exists; all of them together hold
at most :data:`MAX_ENSEMBLE_BYTES`. The snapshots themselves are loaded later, as any
snapshot is: weights only (:mod:`mimir.modules.snapshot`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mimir.errors import ModuleFormatError
from mimir.limits import GiB

#: Most members an ensemble module may have.
MAX_MEMBERS = 32
#: All member snapshots of one module together.
MAX_ENSEMBLE_BYTES = 8 * GiB
#: The module format version that introduced ``members``.
ENSEMBLE_FORMAT_VERSION = 2
FIRST_MEMBER = "snapshot.pth.tar"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def member_file(k: int) -> str:
    """The snapshot file of member ``k`` (1-based)."""
    return FIRST_MEMBER if k == 1 else f"member_{k}.pth.tar"


def is_member_file(name: str) -> bool:
    """Whether a file name is a member snapshot's (``member_<k>.pth.tar``, k >= 2)."""
    m = re.fullmatch(r"member_([1-9][0-9]{0,2})\.pth\.tar", name)
    return m is not None and 2 <= int(m.group(1)) <= MAX_MEMBERS


@dataclass(frozen=True)
class Member:
    """One member of an ensemble module: its snapshot file, SHA-256 and training seed."""

    file: str
    sha256: str
    seed: int | None = None


def read_members(folder: Path, info: dict) -> tuple[Member, ...]:
    """The members listed in a module's ``module.json`` (empty: a single network).

    Parameters
    ----------
    folder : Path
        The module folder.
    info : dict
        Its ``module.json``, already type-checked (``members`` is a list when present).

    Raises
    ------
    ModuleFormatError
        Naming ``module.json`` and what is wrong.
    """
    listed = info.get("members")
    if listed is None:
        return ()
    jp = folder / "module.json"
    version = info.get("format_version", 1)
    if version < ENSEMBLE_FORMAT_VERSION:
        raise ModuleFormatError(f"{jp}: 'members' needs format_version "
                                f"{ENSEMBLE_FORMAT_VERSION}, not {version}")
    if not 2 <= len(listed) <= MAX_MEMBERS:
        raise ModuleFormatError(f"{jp}: 'members' lists {len(listed)}; an ensemble has 2 to "
                                f"{MAX_MEMBERS}")
    members, total = [], 0
    for k, item in enumerate(listed, 1):
        where = f"{jp}: member {k}"
        if not isinstance(item, dict):
            raise ModuleFormatError(f"{where} must be an object")
        unknown = set(item) - {"snapshot", "sha256", "seed"}
        if unknown:
            raise ModuleFormatError(f"{where}: unknown keys {sorted(unknown)}")
        name, sha, seed = item.get("snapshot"), item.get("sha256"), item.get("seed")
        if name != member_file(k):
            raise ModuleFormatError(f"{where}: snapshot must be {member_file(k)!r}, not "
                                    f"{name!r:.60}")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            raise ModuleFormatError(f"{where}: sha256 must be 64 lower-case hex digits")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ModuleFormatError(f"{where}: seed must be a whole number")
        path = folder / name
        if path.is_symlink() or not path.is_file():
            raise ModuleFormatError(f"{path}: missing (listed as member {k} in {jp.name})")
        total += path.stat().st_size
        if total > MAX_ENSEMBLE_BYTES:
            raise ModuleFormatError(f"{jp}: the member snapshots hold more than "
                                    f"{MAX_ENSEMBLE_BYTES} bytes in all; refused")
        members.append(Member(name, sha, seed))
    return tuple(members)


def check_member_sums(folder: Path, members: tuple[Member, ...], sha256) -> None:
    """Every member's file against its SHA-256 (``sha256(path) -> hex``).

    Raises
    ------
    ModuleFormatError
        For the first file that does not match.
    """
    for k, m in enumerate(members, 1):
        if sha256(folder / m.file) != m.sha256:
            raise ModuleFormatError(f"{folder / m.file}: SHA-256 does not match member {k} "
                                    "in module.json (corrupted or replaced)")
