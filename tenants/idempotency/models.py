"""Stored responses of idempotent API requests (in each tenant's schema)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, utcnow


class IdempotentRequest(IdMixin, TenantBase):
    """A POST sent with an ``Idempotency-Key``: its fingerprint and the response it got.

    Written in the transaction of the change it made, so a stored response always describes a
    committed change, and a crash leaves neither.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key"),
        Index("ix_idempotent_requests_created_at", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(255))
    api_key_id: Mapped[uuid.UUID]  # a control-plane key id (no cross-plane FK)
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
