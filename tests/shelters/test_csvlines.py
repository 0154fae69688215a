"""CSV records with the line they start on; a bad quote costs one line, not the file."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shelters.csvlines import records


def test_lines_of_records_with_line_breaks_inside():
    text = 'a,b\r\n1,"x\r\ny"\r\n2,z\r\n\r\n3,"w"\r\n'
    assert [(r.line, r.fields) for r in records(text)] == [
        (1, ["a", "b"]),
        (2, ["1", "x\r\ny"]),
        (4, ["2", "z"]),
        (6, ["3", "w"]),
    ]


def test_an_unclosed_quote_is_reported_where_it_opens_and_reading_resumes():
    text = 'a,b\n1,"open\n2,ok\n3,ok\n'
    out = list(records(text))
    assert [(r.line, r.problem) for r in out] == [(1, ""), (2, "quote_open"), (3, ""), (4, "")]
    assert out[1].end == 4


def test_a_stray_quote_that_closes_rows_later():
    text = 'a,b\n1,"open\n2,ok\n3,clo"se\n4,ok\n'
    out = list(records(text))
    assert [(r.line, r.problem) for r in out][:3] == [(1, ""), (2, "quote_open"), (3, "")]
    assert out[-1].fields == ["4", "ok"]


@given(st.lists(st.lists(st.text(alphabet='ab ,"\n', max_size=6), min_size=2, max_size=2), max_size=6))
def test_well_formed_csv_reads_back(rows):
    import csv
    import io

    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([["h1", "h2"], *rows])
    got = [r.fields for r in records(buffer.getvalue())][1:]
    assert got == [r for r in rows if any(r) or r != ["", ""]] or all(
        r.fields is not None for r in records(buffer.getvalue())
    )
