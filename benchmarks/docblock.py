"""Replace a benchmark's figures in a Markdown page: the text between
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``, leaving the rest of the page as it is."""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The begin and end comments of block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(page: Path, name: str, text: str) -> None:
    """Put ``text`` between block ``name``'s markers in ``page``.

    Raises
    ------
    SystemExit
        When the page lacks the markers (nothing is written).
    """
    begin, end = markers(name)
    old = page.read_text(encoding="utf-8")
    if begin not in old or end not in old:
        raise SystemExit(f"{page}: no {begin} ... {end} block to replace")
    head, rest = old.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}", encoding="utf-8")
