"""Tables of notes and attachments (in each tenant's schema), on any record by type and id."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class Note(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_record_type_record_id", "record_type", "record_id"),)

    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID]
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None]  # control-plane user id
    author_label: Mapped[str | None] = mapped_column(String(200))


class Attachment(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_record_type_record_id", "record_type", "record_id"),)

    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID]
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # what the bytes are, sniffed
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[uuid.UUID | None]
    author_label: Mapped[str | None] = mapped_column(String(200))
