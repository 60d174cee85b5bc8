"""Inputs for tests: a list file naming zips, some of which may not exist.

A path named on the command line must exist (a usage error otherwise); a zip listed in
a list file that does not exist fails as that subject ("missing file"). Tests that need
such a failure list the absent zip in a file.
"""

from __future__ import annotations

from pathlib import Path


def listed(*zips: Path, where: Path | None = None) -> Path:
    """A list file naming ``zips`` (one per line), written beside the first of them or in
    ``where``."""
    folder = Path(where) if where is not None else Path(zips[0]).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"list-{Path(zips[0]).stem}.txt"
    path.write_text("".join(f"{z}\n" for z in zips), encoding="utf-8")
    return path
