"""Reading custom field definitions through a bounded per-tenant cache, kept fresh across processes.

Each tenant has a version counter (in Redis when configured, else in this process). A process keeps
``(version, definitions)`` per tenant in a ``BoundedCache``; when the counter moved, it reloads.
The counter is bumped after the commit of a change, so a reload always sees the committed rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.platform.tenancy.versions import TenantVersioned
from rapport.tenants.fields.models import FieldDefinition

#: Marks a session whose transaction changed definitions: it reads them uncached.
CHANGED = "rapport.fields.changed"
CACHE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class Field:
    """A detached, immutable copy of a definition (safe to share between sessions and threads)."""

    id: uuid.UUID
    record_type: str
    api_name: str
    label: str
    help_text: str | None
    type: str
    required: bool
    unique: bool
    filterable: bool
    default: Any
    min_value: Decimal | None
    max_value: Decimal | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    options: tuple[dict[str, Any], ...]
    section: str | None
    position: int
    archived_at: dt.datetime | None
    config: Any = None  # formula, rollup and lookup settings: see FieldDefinition.config

    @property
    def computed(self) -> bool:
        """Formula and roll-up values are calculated, never written."""
        return self.type in ("formula", "rollup")

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def option_values(self, *, include_retired: bool = True) -> list[str]:
        return [o["value"] for o in self.options if include_retired or not o.get("retired")]

    def option_label(self, value: Any) -> str:
        for option in self.options:
            if option["value"] == value:
                return str(option.get("label") or value)
        return str(value)


def _freeze(row: FieldDefinition) -> Field:
    return Field(
        **{f.name: getattr(row, f.name) for f in dataclasses.fields(Field) if f.name != "options"},
        options=tuple(dict(o) for o in row.options or ()),
    )


def _load_all(session: Session) -> tuple[Field, ...]:
    # No autoflush: this runs under the cache's lock, and a flush runs the calculated-field hooks,
    # which read the definitions through the same cache (a re-entrant wait: a deadlock). The
    # services flush definition changes themselves before anything reads them.
    with session.no_autoflush:
        rows = session.scalars(
            select(FieldDefinition).order_by(
                FieldDefinition.record_type, FieldDefinition.position, FieldDefinition.created_at
            )
        )
        return tuple(_freeze(row) for row in rows)


_definitions: TenantVersioned[tuple[Field, ...]] = TenantVersioned("fields", _load_all, CACHE_SIZE)


def current_version(tenant_id: uuid.UUID) -> int:
    """The tenant's definitions version as every process sees it."""
    return _definitions.version(tenant_id)


def bump_version(tenant_id: uuid.UUID) -> None:
    """Tell every process that this tenant's definitions changed."""
    _definitions.bump(tenant_id)


def all_fields(session: Session) -> tuple[Field, ...]:
    """Every definition of the session's tenant (archived included), cached."""
    if session.info.get(CHANGED):
        return _load_all(session)
    return _definitions.get(session)


def fields_for(session: Session, record_type: str, *, archived: bool = False) -> list[Field]:
    """The record type's fields in form order; archived ones only when asked."""
    return [
        f
        for f in all_fields(session)
        if f.record_type == record_type and (archived or not f.archived)
    ]


def sections(fields: list[Field]) -> list[tuple[str | None, list[Field]]]:
    """Fields grouped by section, in the order their first field appears."""
    groups: dict[str | None, list[Field]] = {}
    for f in fields:
        groups.setdefault(f.section or None, []).append(f)
    return list(groups.items())


def get_definition(session: Session, field_id: uuid.UUID | str) -> FieldDefinition:
    """The definition row with this id, or NotFound."""
    return get_or_not_found(session, FieldDefinition, field_id, "field")
