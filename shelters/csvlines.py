"""CSV records with the line each one starts on, and a bad record that costs one line.

``csv.reader`` reports the line a record *ends* on, and one unclosed quotation mark
swallows the rest of the file. Here each record is gathered from physical lines while
its quotes are unbalanced (a field may hold line breaks, as 備考 often does); a record
whose quote never closes, or that comes out with more fields than the header, is
reported on its first line and only that line is skipped: reading resumes on the next
one. Pure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

MAX_LINES = 50  # a quoted field longer than this is taken to be an unclosed quote


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # 1-based line the record starts on
    fields: list[str] | None  # None: unreadable (see ``problem``)
    problem: str = ""  # "quote_open" | "fields_extra" | "csv_bad"
    detail: str = ""
    end: int = 0  # the line a runaway quote would have run to


def _parse(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if len(rows) != 1:
        raise csv.Error(f"{len(rows)} records where one was expected")
    return rows[0]


def records(text: str) -> Iterator[Record]:
    """Every record of ``text``, the header (and any title line above it) first. The
    widest record so far (the header's) tells a runaway quote from a long field."""
    width: int | None = None
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        start = index
        buffer = lines[index]
        index += 1
        while buffer.count('"') % 2 and index < len(lines) and index - start < MAX_LINES:
            buffer += lines[index]
            index += 1
        if not buffer.strip():
            continue
        if buffer.count('"') % 2:
            yield Record(start + 1, None, "quote_open", end=index)
            index = start + 1
            continue
        try:
            fields = _parse(buffer.rstrip("\r\n"))
        except csv.Error as error:
            runaway = index - start > 1  # a quote that closed lines later, in another row
            yield Record(start + 1, None, "quote_open" if runaway else "csv_bad", str(error), end=index)
            index = start + 1
            continue
        if width is not None and len(fields) > width and index - start > 1:
            # a quote that closed many lines later (a stray quote): one bad line, not many
            yield Record(start + 1, None, "quote_open", end=index)
            index = start + 1
            continue
        width = max(width or 0, len(fields))  # the header's (title lines above it are shorter)
        yield Record(start + 1, fields)
