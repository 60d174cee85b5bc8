"""Manifest parsing (preprocessing.md 1.1, ukb-20201-format.md "The zip")."""

from __future__ import annotations

import pytest

from mimir.reading.manifest import (
    DESCRIPTION_MARKER,
    ManifestEntry,
    ManifestError,
    find_manifest,
    parse_manifest,
    split_lines,
)

HEADER = "filename,patientid,studyid,aet,date,series discription"
DATE = "Aug 30, 2015 10:11:12 AM"  # the unquoted comma shifts later columns by one


def row(name: str, desc: str) -> str:
    return f"{name},1234567,1.2.3,UKBB_AERA,{DATE},{desc}"


ROWS = [
    row("a.dcm", "Dixon_noBH_in"),
    row("b.dcm", "Dixon_noBH_opp"),
    row("c.dcm", "Dixon_noBH_F"),
    row("d.dcm", "Dixon_noBH_W"),
    row("e.dcm", "Dixon_BH_17s_W"),
    row("f.dcm", "Dixon_BH_17s_in"),
    row("g.dcm", "Dixon_BH_17s_F"),
]
EXPECTED = [
    ManifestEntry("c.dcm", "Dixon_noBH_F"),
    ManifestEntry("d.dcm", "Dixon_noBH_W"),
    ManifestEntry("e.dcm", "Dixon_BH_17s_W"),
    ManifestEntry("g.dcm", "Dixon_BH_17s_F"),
]


def test_date_comma_shift_uses_description_column_of_data_rows():
    text = "\n".join([HEADER] + ROWS) + "\n"
    entries = parse_manifest(text)
    assert entries == EXPECTED
    # the header's own 'series discription' column (index 5) holds the time of day
    # in the data rows: using it would keep nothing
    assert all(e.description.startswith("Dixon") for e in entries)


def test_crlf_line_ends_give_the_same_entries():
    lf = "\n".join([HEADER] + ROWS) + "\n"
    crlf = "\r\n".join([HEADER] + ROWS) + "\r\n"
    assert parse_manifest(crlf) == parse_manifest(lf) == EXPECTED
    assert not any("\r" in e.filename or "\r" in e.description for e in parse_manifest(crlf))


def test_split_lines_drops_blank_lines_and_carriage_returns():
    assert split_lines("a,b\r\n\r\nc,d\r\n\n") == ["a,b", "c,d"]


def test_unshifted_manifest_also_works():
    rows = [f"{n},1,2,3,{d}" for n, d in (("x.dcm", "Dixon_noBH_F"), ("y.dcm", "Dixon_noBH_W"),
                                          ("z.dcm", "Dixon_noBH_opp"))]
    assert parse_manifest("\n".join([HEADER] + rows)) == [
        ManifestEntry("x.dcm", "Dixon_noBH_F"), ManifestEntry("y.dcm", "Dixon_noBH_W")]


def test_description_column_is_taken_from_first_line_holding_the_marker():
    # first data row with the marker is shifted (column 6); a later row that is not
    # shifted has its description in column 5 and is then read at column 6 (empty
    # or another field) -- the spec takes one column for all rows.
    rows = [row("c.dcm", "Dixon_noBH_F"), "u.dcm,1,2,3,4,Dixon_noBH_W,extra",
            row("d.dcm", "Dixon_noBH_W")]
    entries = parse_manifest("\n".join([HEADER] + rows))
    assert [e.filename for e in entries] == ["c.dcm", "d.dcm"]


def test_marker_in_header_line_counts():
    header = "filename,Dixon_noBH_F_column"
    rows = ["p.dcm,Dixon_BH_17s_W", "q.dcm,Dixon_noBH_in", "r.dcm,Dixon_noBH_F"]
    entries = parse_manifest("\n".join([header] + rows))
    assert [e.filename for e in entries] == ["p.dcm", "r.dcm"]


def test_filename_column_is_first_header_field_containing_filename():
    header = "idx,filename,other_filename,date,desc"
    rows = [f"0,f{i}.dcm,WRONG,Aug 30, 2015 1 AM,Dixon_noBH_{c}"
            for i, c in enumerate(("F", "W", "in"))]
    entries = parse_manifest("\n".join([header] + rows))
    assert [e.filename for e in entries] == ["f0.dcm", "f1.dcm"]


def test_short_rows_are_skipped_and_manifest_order_is_kept():
    rows = [row("z.dcm", "Dixon_noBH_W"), "short.dcm,1", row("a.dcm", "Dixon_noBH_F")]
    entries = parse_manifest("\n".join([HEADER] + rows) + "\n")
    assert [e.filename for e in entries] == ["z.dcm", "a.dcm"]


def test_filename_is_stripped():
    entries = parse_manifest(HEADER + "\n" + row("  s.dcm ", "Dixon_noBH_F"))
    assert entries == [ManifestEntry("s.dcm", "Dixon_noBH_F")]


def test_missing_filename_column_raises():
    header = "file,patientid,studyid,aet,date,series discription"
    with pytest.raises(ManifestError, match="filename"):
        parse_manifest("\n".join([header] + ROWS))


def test_no_marker_anywhere_raises():
    rows = [row("a.dcm", "Dixon_BH_17s_W"), row("b.dcm", "Dixon_BH_17s_F")]
    with pytest.raises(ManifestError, match=DESCRIPTION_MARKER):
        parse_manifest("\n".join([HEADER] + rows))


@pytest.mark.parametrize("text", ["", "\n\n", "\r\n"])
def test_empty_manifest_raises(text):
    with pytest.raises(ManifestError):
        parse_manifest(text)


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)


def test_find_manifest_takes_first_member_containing_manifest():
    assert find_manifest(["a.dcm", "manifest.cvs", "manifest.csv"]) == "manifest.cvs"
    assert find_manifest(["x.dcm", "my_manifest.csv"]) == "my_manifest.csv"
    assert find_manifest(["a.dcm", "MANIFEST.csv"]) is None
    assert find_manifest([]) is None
