"""Reading notes and attachments of one record."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.tenants.notes.models import Attachment, Note


def record_notes(
    session: Session, record_type: str, record_id: uuid.UUID, limit: int = 100
) -> list[Note]:
    return list(
        session.scalars(
            select(Note)
            .where(Note.record_type == record_type, Note.record_id == record_id)
            .order_by(Note.created_at.desc(), Note.id.desc())
            .limit(limit)
        )
    )


def record_attachments(
    session: Session, record_type: str, record_id: uuid.UUID, limit: int = 100
) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.record_type == record_type, Attachment.record_id == record_id)
            .order_by(Attachment.created_at.desc(), Attachment.id.desc())
            .limit(limit)
        )
    )
