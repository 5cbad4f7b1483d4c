"""Global identities and their memberships in tenants (control plane)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TimestampMixin, db, utcnow

ROLES = ("owner", "admin", "manager", "sales_rep", "service_agent", "read_only")


class User(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email_verified_at: Mapped[dt.datetime | None]
    is_operator: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str | None] = mapped_column(String(64))  # an IANA name; None shows UTC
    disabled_at: Mapped[dt.datetime | None]


class Membership(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(40), default="sales_rep")
    active: Mapped[bool] = mapped_column(default=True)


class Invitation(IdMixin, TimestampMixin, db.Model):
    """An invitation to join a workspace, bound to one email address.

    The link carries a signed token naming this row (see ``tokens.py``); the row holds no secret,
    so a copy of the database cannot mint working links.
    """

    __tablename__ = "invitations"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)  # stored lower-cased
    role: Mapped[str] = mapped_column(String(40))
    # A digest of the link's token: the link is refused unless it matches this exact row.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None]

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class EmailToken(IdMixin, db.Model):
    """A single-use token sent by email: verify an address, or reset a password."""

    __tablename__ = "email_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))  # verify_email, reset_password
    email: Mapped[str] = mapped_column(String(320))  # the address the link was sent to
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
