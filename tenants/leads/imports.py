"""Importing leads from a CSV file: each row through ``create_lead``, so rows are validated and
routed exactly like leads typed in by hand, each in its own SAVEPOINT so a bad row is undone alone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants.leads import services
from rapport.tenants.leads.schemas import LEAD_FIELDS

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
#: Columns an import reads; owner and team come from the assignment rules, not the file.
IMPORT_FIELDS = tuple(f for f in LEAD_FIELDS if f not in ("owner_id", "team_id", "status"))
# Headings people use for the same column (lower case, spaces and dashes as underscores).
_ALIASES = {
    "firstname": "first_name", "given_name": "first_name", "lastname": "last_name",
    "surname": "last_name", "family_name": "last_name", "name": "last_name",
    "company": "company_name", "organization": "company_name", "organisation": "company_name",
    "job_title": "title", "position": "title", "e_mail": "email", "email_address": "email",
    "telephone": "phone", "phone_number": "phone", "mobile": "phone", "url": "website",
    "state": "region", "province": "region", "notes": "description", "message": "description",
    "country_code": "country",
}  # fmt: skip


@dataclass
class ImportResult:
    created: int = 0
    assigned: int = 0
    #: (line number in the file, {field: messages}) of the rows that were not imported.
    failed: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def _column(heading: str) -> str | None:
    key = heading.strip().lower().replace(" ", "_").replace("-", "_")
    key = _ALIASES.get(key, key)
    return key if key in IMPORT_FIELDS else None


def read_csv(raw: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The headings and rows of a CSV file (UTF-8, with or without BOM; comma or semicolon)."""
    if len(raw) > MAX_BYTES:
        raise ValidationFailed(
            {"file": [f"Use a file of at most {MAX_BYTES // (1024 * 1024)} MB."]}
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed({"file": ["Save the file as CSV in UTF-8 and try again."]}) from None
    if not text.strip():
        raise ValidationFailed({"file": ["The file is empty."]})
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    headings = list(reader.fieldnames or [])
    rows = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise ValidationFailed({"file": [f"Import at most {MAX_ROWS} rows at a time."]})
        rows.append({k: v for k, v in row.items() if isinstance(k, str)})
    return headings, rows


def import_leads(session: Session, raw: bytes, *, source: str = "import") -> ImportResult:
    """Create a lead from every valid row; report the rows that were not valid."""
    headings, rows = read_csv(raw)
    mapping = {h: _column(h) for h in headings}
    if not any(mapping.values()):
        raise ValidationFailed(
            {"file": ["No column is recognised. Use headings such as last_name, email, company."]}
        )
    result = ImportResult(ignored_columns=[h for h, c in mapping.items() if c is None and h])
    for number, row in enumerate(rows, start=2):  # line 1 holds the headings
        data: dict[str, Any] = {c: (row.get(h) or "") for h, c in mapping.items() if c}
        if not any(v.strip() for v in data.values() if isinstance(v, str)):
            continue  # a blank line
        data.setdefault("source", source)
        if not data["source"]:
            data["source"] = source
        try:
            with session.begin_nested():
                lead = services.create_lead(session, data)
        except ValidationFailed as exc:
            result.failed.append((number, exc.errors))
            continue
        result.created += 1
        result.assigned += lead.owner_id is not None
    return result
