"""The workspace's module switches (a module without a row is on when the plan includes it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import TenantBase, utcnow


class ModuleSetting(TenantBase):
    __tablename__ = "module_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
