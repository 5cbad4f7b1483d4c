"""CSV export of a list view: exactly its rows (all of them), columns and order, streamed.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and a tab or
carriage return before one) as a formula, so such a cell is written with a leading apostrophe:
a record's text must never become code on the computer of whoever opens the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500


def safe_cell(value: Any) -> str:
    """A value as a CSV cell a spreadsheet shows as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The header and each row as CSV text (with a BOM so spreadsheets read UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(v) for v in row])
        yield buffer.getvalue()
