"""Declarative bases for the two planes and the control-plane database handle.

The control plane lives in schema ``platform`` (on SQLite: the main database file). Every table of
the tenant plane is declared in schema ``tenant``, a placeholder that the tenant's engine
translates to ``t_<id>``; outside a tenant scope that schema does not exist, so touching a tenant
table without a tenant fails loudly instead of falling back to anything.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

from rapport.platform.ids import new_id

CONTROL_SCHEMA = "platform"
TENANT_SCHEMA = "tenant"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(DateTime):
    """A timezone-aware timestamp on both backends (SQLite drops the offset; put it back)."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def result_processor(self, dialect, coltype):  # type: ignore[no-untyped-def]
        parent = super().result_processor(dialect, coltype)

        def process(value):  # type: ignore[no-untyped-def]
            if parent is not None:
                value = parent(value)
            if value is not None and value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value

        return process


def _registry(schema: str) -> registry:
    return registry(
        metadata=MetaData(schema=schema, naming_convention=NAMING_CONVENTION),
        type_annotation_map={uuid.UUID: Uuid(), dt.datetime: UTCDateTime()},
    )


class ControlBase(DeclarativeBase):
    registry = _registry(CONTROL_SCHEMA)


class TenantBase(DeclarativeBase):
    registry = _registry(TENANT_SCHEMA)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The control-plane session (Flask-SQLAlchemy: scoped to the app context, removed at teardown).
db = SQLAlchemy(model_class=ControlBase)
