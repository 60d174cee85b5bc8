"""The closed table of failure kinds, and its copy in docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimir.errors import FAILURES, KINDS, Kind, SubjectError, failure_row

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


def kinds_table() -> str:
    """The Markdown table of FAILURES, as docs/reliability.md holds it."""
    rows = ["| kind | meaning | cause |", "|---|---|---|"]
    rows += [f"| `{f.kind}` | {f.meaning} | "
             f"{'input' if f.input_fault else 'MIMIR, a module or the machine'} |"
             for f in FAILURES.values()]
    return "\n".join(rows)


def test_reliability_md_lists_every_kind_as_the_table_says():
    text = DOC.read_text()
    a, b = "<!-- failure-kinds:start -->", "<!-- failure-kinds:end -->"
    block = text[text.index(a) + len(a):text.index(b)].strip()
    assert block == kinds_table()


def test_kinds_are_closed():
    assert Kind.NON_FINITE_PREDICTION in KINDS
    assert set(KINDS) == {v for k, v in vars(Kind).items() if not k.startswith("_")}
    with pytest.raises(ValueError, match="unknown failure kind"):
        failure_row("x", "no such kind", "m")
    with pytest.raises(ValueError, match="unknown failure kind"):
        SubjectError("no such kind", "m")
