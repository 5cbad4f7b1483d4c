"""API keys, in the control plane: a key is bound to one tenant and one role."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, db, utcnow


class ApiKey(IdMixin, db.Model):
    """One key; the secret itself is never stored, only its HMAC under the server's pepper."""

    __tablename__ = "api_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    # The public part of the key (``rk_live_<prefix_id>_…``): found by it, then the secret checked.
    prefix_id: Mapped[str] = mapped_column(String(24), unique=True)
    secret_hmac: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(String(45))

    def state(self, now: dt.datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
