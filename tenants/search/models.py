"""Tables of search (in each tenant's schema): one index row per searchable record.

The row is written in the transaction that changes the record (see :mod:`.index`), so a search
never finds a record that was not committed, nor misses one that was. The full-text structures
built over ``tokens`` are database-specific and live outside the metadata (see :mod:`.ddl`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Identity, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import TenantBase, utcnow

# SQLite's full-text table points at index rows by an integer rowid: an INTEGER PRIMARY KEY is
# that rowid there (and stays stable through VACUUM); PostgreSQL gets an identity column.
_DOC_ID = BigInteger().with_variant(Integer(), "sqlite")


class SearchEntry(TenantBase):
    __tablename__ = "search_entries"

    doc_id: Mapped[int] = mapped_column(_DOC_ID, Identity(), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20), index=True)  # "companies", "contacts"…
    record_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    #: The record's owner, for roles that see only their own or their teams' records.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(300))
    subtitle: Mapped[str | None] = mapped_column(String(300))
    #: The title normalised (see ``tokens.match_key``), to put exact and prefix matches first.
    title_key: Mapped[str] = mapped_column(String(200))
    #: Pre-cut tokens separated by single spaces (see ``tokens.document_tokens``).
    tokens: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
