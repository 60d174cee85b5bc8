"""The documentation stands alone: it names no file outside the repository, and the
files it links to exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_docs_name_no_file_outside_the_repository():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for bad in ("../shared", "shared/spec", "shared/seed"):
            assert bad not in text, f"{page.name} names {bad}"


def test_links_between_pages_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_license_and_citation_files():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "license: MIT" in cff and "arXiv:2106.11731" in cff
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
