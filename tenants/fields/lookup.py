"""Record lookups: a custom field whose value is the id of another record, of its *target* type.

The definition's ``config`` is ``{"target": "<record type name>"}``; a value is the id (uuid text)
of a record of that type in this tenant. Reads go through the tenant session, so the acting
member's role visibility applies: a record they may not see reads as missing, and cannot be
chosen. The target record can be deleted later; the value then names nothing and reads as
"(deleted)" (ids are never reused, so it never names another record).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, select
from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import records
from rapport.tenants.fields.queries import Field

#: A record form offers the target's records in a select up to this many; past it, a text input
#: with suggestions that takes a record's exact name.
MAX_CHOICES = 200
DELETED = "(deleted)"
NOT_VISIBLE = "(not visible to you)"


class NotChosen(Exception):
    """The value names no record of the target type the acting member may see."""


def target_of(field: Field) -> str:
    """The record type a lookup field points at."""
    return str((field.config or {}).get("target") or "")


def singular(field: Field) -> str:
    target = target_of(field)
    return records.get(target).singular if records.exists(target) else "record"


def build_config(
    session: Session, data: Mapping[str, Any], current: Field | None = None
) -> dict[str, Any]:
    """The ``config`` of a lookup field from its input; ValidationFailed keyed ``target``.

    The target changes only while no record holds a value: the values would name records of the
    old type, which no longer validate, display or filter.
    """
    raw = data.get("target")
    target = raw.strip() if isinstance(raw, str) else ""
    if not records.exists(target):
        choices = ", ".join(records.names())
        raise ValidationFailed({"target": [f"Choose the record type to look up ({choices})."]})
    if current is not None and target != target_of(current) and in_use(session, current):
        raise ValidationFailed(
            {
                "target": [
                    "Records already hold values of this field, so its record type cannot "
                    "change. Delete the field and create a new one."
                ]
            }  # fmt: skip
        )
    return {"target": target}


def in_use(session: Session, field: Field) -> bool:
    """Whether any record (visible to the member or not) holds a value of ``field``."""
    from rapport.tenants.fields import indexes  # indexes -> validation -> this module

    model = records.get(field.record_type).model
    expr = indexes.expression(model.custom, field.api_name, session.get_bind().dialect.name)
    stmt = select(model.id).where(expr.is_not(None)).limit(1)
    with session.no_autoflush:
        return session.scalar(stmt.execution_options(rapport_unrestricted=True)) is not None


# -- titles ---------------------------------------------------------------------------------------
def _title_columns(model: Any) -> list[Any]:
    """The columns a record is named by: a name or subject, else a person's names."""
    columns = inspect(model).column_attrs
    for attr in ("name", "subject"):
        if attr in columns:
            return [getattr(model, attr)]
    people = ("first_name", "last_name", "company_name")
    return [getattr(model, attr) for attr in people if attr in columns]


def _order(model: Any) -> list[Any]:
    columns = _title_columns(model)
    if len(columns) == 1:
        return [func.lower(columns[0])]
    return [func.lower(func.coalesce(model.last_name, "")), func.lower(model.first_name)]


def _title(parts: tuple[Any, ...]) -> str:
    if len(parts) == 1:
        return str(parts[0] or "") or "(no name)"
    person = " ".join(str(p) for p in parts[:2] if p)
    return person or (str(parts[2]) if len(parts) > 2 and parts[2] else "") or "(no name)"


def titles(session: Session, target: str, ids: Collection[Any]) -> dict[str, str]:
    """The names of the records among ``ids`` the acting member may see, by id text."""
    wanted = [i for i in (as_id(v) for v in ids) if i is not None]
    if not wanted or not records.exists(target):
        return {}
    model = records.get(target).model
    rows = session.execute(select(model.id, *_title_columns(model)).where(model.id.in_(wanted)))
    return {str(row[0]): _title(tuple(row[1:])) for row in rows}


def labels(session: Session, target: str, ids: Collection[Any]) -> dict[str, str]:
    """A label for every id: the record's name, or why it has none to show."""
    found = titles(session, target, ids)
    missing = {str(i) for i in ids} - set(found)
    if missing and records.exists(target):
        model = records.get(target).model
        hidden = session.scalars(
            select(model.id)
            .where(model.id.in_([i for i in map(as_id, missing) if i is not None]))
            .execution_options(rapport_unrestricted=True)
        )
        # Only the existence of what the member may not see is told, never its name.
        found.update({str(i): NOT_VISIBLE for i in hidden})
    return {str(i): found.get(str(i), DELETED) for i in ids}


def choices(session: Session, target: str, limit: int = MAX_CHOICES) -> list[tuple[str, str]]:
    """(id, name) of up to ``limit`` + 1 records of the target the member may see, by name.

    One more than the limit tells the caller there are too many for a select.
    """
    if not records.exists(target):
        return []
    model = records.get(target).model
    stmt = (
        select(model.id, *_title_columns(model)).order_by(*_order(model), model.id).limit(limit + 1)
    )
    return [(str(row[0]), _title(tuple(row[1:]))) for row in session.execute(stmt)]


def _name_matches(model: Any, text: str) -> ColumnElement[bool]:
    columns = _title_columns(model)
    if len(columns) == 1:
        return func.lower(columns[0]) == text.lower()
    first, last = func.coalesce(model.first_name, ""), func.coalesce(model.last_name, "")
    return func.lower(func.trim(first + " " + last)) == text.lower()


def resolve(session: Session, target: str, text: str) -> str | None:
    """The id of the one visible record of ``target`` named ``text`` (any case); None if none or
    several are."""
    if not records.exists(target) or not text.strip():
        return None
    model = records.get(target).model
    found = session.scalars(
        select(model.id).where(_name_matches(model, text.strip())).limit(2)
    ).all()
    return str(found[0]) if len(found) == 1 else None


# -- values ---------------------------------------------------------------------------------------
def as_id(value: Any) -> uuid.UUID | None:
    """``value`` as a record id, if it is one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def check(session: Session, field: Field, value: Any, *, old: Any = None) -> str:
    """The stored form of a chosen record's id, or NotChosen.

    A value the record already holds is kept as it is, even when it names a record deleted since
    or one the member may not see: saving a form must not force them to clear it.
    """
    record_id = as_id(value) if isinstance(value, str | uuid.UUID) else None
    if record_id is None:
        raise NotChosen
    if old is not None and str(record_id) == str(old):
        return str(record_id)
    target = target_of(field)
    if not records.exists(target):
        raise NotChosen
    model = records.get(target).model
    with session.no_autoflush:
        found = session.scalar(select(model.id).where(model.id == record_id))
    if found is None:
        raise NotChosen
    return str(record_id)
