"""Audit entries: append-only, hash-chained, written in the transaction of the change."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import ControlBase, IdMixin, TenantBase, utcnow


class _AuditColumns(IdMixin):
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # user, api_key, system, operator, workflow
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    # Set when a provider operator acts inside a tenant on a user's behalf.
    on_behalf_of: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64), index=True)
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(_AuditColumns, TenantBase):
    """A tenant's audit entry, in the tenant schema."""

    __tablename__ = "audit_entries"


class PlatformAuditEntry(_AuditColumns, ControlBase):
    """A control-plane audit entry: signups, deletions, operator actions."""

    __tablename__ = "platform_audit_entries"
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


# SQLite has no roles; triggers make the append-only rule hold there too. On PostgreSQL the rule
# is a privilege: the tenant role and the app role are granted SELECT and INSERT only.
def _append_only_triggers(table, connection, **_kw) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name != "sqlite":
        return
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    prefix = f'"{schema}".' if schema else ""
    for verb in ("UPDATE", "DELETE"):
        connection.exec_driver_sql(
            f"CREATE TRIGGER {prefix}{table.name}_no_{verb.lower()} BEFORE {verb} ON {table.name} "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


event.listen(AuditEntry.__table__, "after_create", _append_only_triggers)
event.listen(PlatformAuditEntry.__table__, "after_create", _append_only_triggers)
