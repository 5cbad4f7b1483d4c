"""The tenant registry, in the control plane."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TimestampMixin, db


class TenantState(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"


class Tenant(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=TenantState.ACTIVE.value)
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    schema_version: Mapped[str | None] = mapped_column(String(64))
    migration_error: Mapped[str | None] = mapped_column(Text)
    migrated_at: Mapped[dt.datetime | None]
    plan: Mapped[str] = mapped_column(String(40), default="trial")
    # Set when the tenant's outbox has undelivered rows, so the sweeper visits only those tenants.
    outbox_pending: Mapped[bool] = mapped_column(default=False)

    @property
    def ref(self) -> TenantRef:
        return TenantRef(id=self.id, slug=self.slug, name=self.name, schema_name=self.schema_name)


class TenantRef:
    """What a tenant scope needs to know about its tenant: immutable, safe to pass to jobs."""

    __slots__ = ("id", "slug", "name", "schema_name")

    def __init__(self, id: uuid.UUID, slug: str, name: str, schema_name: str) -> None:  # noqa: A002
        self.id = id
        self.slug = slug
        self.name = name
        self.schema_name = schema_name

    def __repr__(self) -> str:
        return f"<TenantRef {self.slug} {self.schema_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TenantRef) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def schema_name_for(tenant_id: uuid.UUID) -> str:
    """Name the schema from the immutable id, never from user input."""
    return f"t_{tenant_id.hex}"
