"""The notes and attachments on a record's timeline (see rapport.tenants.timeline)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from rapport.tenants.notes.queries import record_attachments, record_notes
from rapport.tenants.timeline import Entry

KINDS: dict[str, str] = {"note": "Notes", "attachment": "Attachments"}


def _url(endpoint: str, **values: object) -> str | None:
    from flask import has_request_context, url_for

    if not has_request_context():
        return None
    try:
        return url_for(endpoint, **values)
    except Exception:  # noqa: BLE001 - no workspace in this request: no link
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def entries(session: Session, target_type: str, target_id: uuid.UUID, *, limit: int) -> list[Entry]:
    items = [
        Entry(
            at=note.created_at,
            kind="note",
            title="Note",
            body=note.body,
            actor=note.author_label,
            meta={"note_id": str(note.id)},
        )
        for note in record_notes(session, target_type, target_id, limit=limit)
    ]
    items += [
        Entry(
            at=row.created_at,
            kind="attachment",
            title=f"Attached {row.filename} ({_size(row.size)})",
            actor=row.author_label,
            url=_url("notes.download", attachment_id=row.id),
            meta={"attachment_id": str(row.id), "content_type": row.content_type, "size": row.size},
        )
        for row in record_attachments(session, target_type, target_id, limit=limit)
    ]
    return items
