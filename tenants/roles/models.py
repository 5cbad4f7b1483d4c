"""The tenant's roles: built-in ones seeded at provisioning and the admins' own.

A membership (and an API key) names its role by ``key``. A role's ``records`` maps each record
type to its actions and visibility, ``fields`` maps record type → field → ``read_only`` or
``hidden`` (a field not named is editable). Both are JSON so a new record type needs no DDL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class Role(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "roles"

    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    built_in: Mapped[bool] = mapped_column(default=False)
    # May change the workspace's shape and people: settings, members, keys, webhooks, billing.
    administers: Mapped[bool] = mapped_column(default=False)
    records: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
