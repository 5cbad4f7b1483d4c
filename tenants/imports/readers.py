"""Reading an uploaded file into headings and rows: CSV (sniffed) or Excel (.xlsx, first sheet).

Cells keep their type where the file has one: an Excel date stays a ``date``, a number an ``int``
or ``float``; CSV cells are text. Every problem with the file as a whole is a
``ValidationFailed`` on the ``file`` field, worded for the person who chose it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from rapport.platform.errors import ValidationFailed

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 200
_DELIMITERS = ",;\t"
_ZIP = b"PK\x03\x04"


@dataclass
class Table:
    headings: list[str]
    #: (row number as a spreadsheet shows it, cells in heading order); blank rows left out.
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed({"file": [message]})


def read(raw: bytes, file_name: str) -> Table:
    """The headings and rows of an uploaded CSV or Excel file."""
    if len(raw) > MAX_BYTES:
        raise _refuse(f"Use a file of at most {MAX_BYTES // (1024 * 1024)} MB.")
    if not raw.strip():
        raise _refuse("The file is empty.")
    name = file_name.lower()
    if name.endswith((".xls", ".numbers", ".ods")) and not raw.startswith(_ZIP):
        raise _refuse("Save the file as Excel workbook (.xlsx) or CSV, then upload it again.")
    if raw.startswith(_ZIP) or name.endswith(".xlsx"):
        return _table(_xlsx_rows(raw))
    return _table(_csv_rows(raw))


# -- CSV ---------------------------------------------------------------------------------------
def _csv_rows(raw: bytes) -> list[list[Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse("Save the file as CSV in UTF-8, then upload it again.") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[list[Any]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:
                break
    except csv.Error as exc:
        raise _refuse(f"Line {reader.line_num} cannot be read as CSV ({exc}).") from None
    return rows


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: what the file uses (Excel writes ";" in many locales)."""
    sample = text[: 64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(_DELIMITERS, key=first.count)


# -- Excel -------------------------------------------------------------------------------------
def _xlsx_rows(raw: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _refuse("This is not an Excel workbook (.xlsx) that can be read.") from None
    try:
        if not book.worksheets:
            raise _refuse("The workbook has no sheet.")
        rows: list[list[Any]] = []
        for cells in book.worksheets[0].iter_rows():
            rows.append([_cell(c) for c in cells])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _cell(cell: Any) -> Any:
    value = getattr(cell, "value", None)
    if isinstance(value, dt.datetime) and _date_only(getattr(cell, "number_format", "")):
        return value.date()
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def _date_only(number_format: str) -> bool:
    """A date format shows no hours or seconds ("m" alone is ambiguous: month or minute)."""
    code = (number_format or "").lower()
    return "h" not in code and "s" not in code


# -- both --------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _table(rows: list[list[Any]]) -> Table:
    # Leading blank lines are common above a heading row; skip them.
    start = next((i for i, row in enumerate(rows) if not all(_blank(v) for v in row)), None)
    if start is None:
        raise _refuse("The file is empty.")
    raw_headings = rows[start]
    width = max((i + 1 for i, v in enumerate(raw_headings) if not _blank(v)), default=0)
    if width > MAX_COLUMNS:
        raise _refuse(f"Use at most {MAX_COLUMNS} columns.")
    headings = [
        str(v).strip() if not _blank(v) else f"Column {i + 1}"
        for i, v in enumerate(raw_headings[:width])
    ]
    if all(isinstance(v, int | float | dt.date) for v in raw_headings[:width] if not _blank(v)):
        raise _refuse("Put the column headings (such as Name, Email) on the first line.")
    seen: dict[str, str] = {}
    for heading in headings:
        key = heading.casefold()
        if key in seen:
            raise _refuse(f"Two columns are headed “{heading}”. Give each column its own heading.")
        seen[key] = heading
    table = Table(headings)
    for index, row in enumerate(rows[start + 1 :], start=start + 2):
        cells = [_clean(v) for v in row[:width]] + [None] * (width - len(row))
        if all(_blank(v) for v in cells):
            continue
        if len(table.rows) >= MAX_ROWS:
            raise _refuse(f"Import at most {MAX_ROWS:,} rows at a time; split the file.")
        table.rows.append((index, cells))
    if not table.rows:
        raise _refuse("The file has headings but no rows to import.")
    return table


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value
