"""Declarative bases for the two planes and the control-plane database handle.

The control plane lives in schema ``platform`` (on SQLite: the main database file). Every table of
the tenant plane is declared in schema ``tenant``, a placeholder that the tenant's engine
translates to ``t_<id>``; outside a tenant scope that schema does not exist, so touching a tenant
table without a tenant fails loudly instead of falling back to anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry

from rapport.platform.errors import NotFound
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


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on both backends (SQLite stores no offset: put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


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


T = TypeVar("T")


def get_or_not_found(
    session: Session, model: type[T], ident: uuid.UUID | str, what: str, *, for_update: bool = False
) -> T:
    """The row of ``model`` with this id, or NotFound naming ``what`` (a malformed id included).

    ``for_update`` holds the row until the commit (PostgreSQL), so a check and the write that
    follows it see the same version.
    """
    try:
        key = ident if isinstance(ident, uuid.UUID) else uuid.UUID(str(ident))
    except ValueError:
        raise NotFound(f"There is no such {what}.") from None
    row = session.get(model, key, with_for_update=for_update)
    if row is None:
        raise NotFound(f"There is no such {what}.")
    return row


# The control-plane session (Flask-SQLAlchemy: scoped to the app context, removed at teardown).
db = SQLAlchemy(model_class=ControlBase)
