"""A workflow's conditions: read like list filters, evaluated against one record's values.

Conditions are stored as the admin typed them (``{"field", "op", "value"}``) and read with
:func:`rapport.tenants.filtering.parse`, so a workflow accepts exactly the fields, operators and
values a list filter does, with the same messages. Unlike a filter, a condition is evaluated in
Python against one record's values: the event's snapshot (whose keys are the audit's:
``amount``, ``custom.region``), or the record as it is now (:func:`record_values`), both
normalised to one form per kind before comparing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import filtering
from rapport.tenants.filtering import CUSTOM_PREFIX, Condition, FilterField


def _row_key(index: int, name: str) -> str:
    return f"conditions.{index}.{name or 'field'}"


def parse(session: Session, record_type: str, rows: Sequence[Mapping[str, Any]]) -> list[Condition]:
    """Read stored condition rows; ValidationFailed keyed ``conditions.<row>.<field>``."""
    conditions: list[Condition] = []
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        key, op = str(row.get("field") or "").strip(), str(row.get("op") or "").strip()
        raw = row.get("value")
        raw = "" if raw is None else str(raw)
        try:
            (condition,) = filtering.parse(session, record_type, [(key, op, raw)])
        except ValidationFailed as exc:
            messages = [m for found in exc.errors.values() for m in found]
            errors[_row_key(index, key)] = messages
            continue
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        if filtering.ME in values:
            errors[_row_key(index, key)] = [
                "“me” means nobody in a workflow; choose a member instead."
            ]
            continue
        conditions.append(condition)
    if errors:
        raise ValidationFailed(errors)
    return conditions


def fields_of(
    session: Session, record_type: str, conditions: Iterable[Condition]
) -> dict[str, FilterField]:
    """The fields the conditions read, by key (a field deleted since is left out)."""
    found = {}
    for condition in conditions:
        field = filtering.find_field(session, record_type, condition.field)
        if field is not None:
            found[condition.field] = field
    return found


def record_values(session: Session, record_type: str, record: Any) -> dict[str, Any]:
    """The record's values keyed as snapshots and conditions name them."""
    values = {
        field.key: getattr(record, field.key, None)
        for field in filtering.built_in_fields(record_type)
    }
    for name, value in (record.custom or {}).items():
        values[CUSTOM_PREFIX + name] = value
    return values


def covers(values: Mapping[str, Any], conditions: Iterable[Condition]) -> bool:
    """Whether ``values`` (a snapshot) holds every field the conditions read.

    A snapshot leaves out what a record's audit does not show (``created_at``) and custom
    fields that are empty: absent custom values read as empty, absent columns do not.
    """
    return all(c.field in values or c.field.startswith(CUSTOM_PREFIX) for c in conditions)


def holds(
    session: Session,
    record_type: str,
    conditions: Sequence[Condition],
    values: Mapping[str, Any],
) -> bool:
    """Whether every condition holds for these values (no conditions: always)."""
    fields = fields_of(session, record_type, conditions)
    for condition in conditions:
        field = fields.get(condition.field)
        if field is None or not _holds(field.kind, condition, values.get(condition.field)):
            return False
    return True


# -- comparing -------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _normal(kind: str, value: Any) -> Any:
    """One value as its kind compares it; None for blanks and what cannot be read."""
    if _blank(value):
        return None
    try:
        if kind in ("integer", "decimal"):
            return Decimal(str(value))
        if kind == "date":
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            return dt.date.fromisoformat(str(value)[:10])
        if kind == "datetime":
            if isinstance(value, dt.datetime):
                moment = value
            elif isinstance(value, dt.date):
                return value  # a whole day: compared by day below
            else:
                moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        if kind == "boolean":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "y", "on")
            return bool(value)
        if kind == "uuid":
            return uuid.UUID(str(value))
    except (InvalidOperation, ValueError):
        return None
    return str(value)


def _is_day(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if actual is None or expected is None:
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    if op == "lte":
        return bool(actual <= expected)
    raise AssertionError(op)


def _holds(kind: str, condition: Condition, raw: Any) -> bool:
    op = condition.op
    if op == "is_null":
        blank = _blank(raw) or (isinstance(raw, str) and not raw.strip())
        return blank == bool(condition.value)
    if op == "contains":
        return raw is not None and str(condition.value).casefold() in str(raw).casefold()
    actual = _normal(kind, raw)
    if kind == "boolean" and actual is None:
        actual = False  # an unticked box saved before the field existed reads as "no"
    expected = condition.value if op == "in" else [condition.value]
    results = []
    for item in expected:
        wanted = _normal(kind, item)
        seen = actual
        if kind == "datetime" and _is_day(wanted) and isinstance(seen, dt.datetime):
            seen = seen.astimezone(dt.UTC).date()  # "on 2026-06-30": any time that day (UTC)
        results.append(_compare(seen, "eq" if op == "in" else op, wanted))
    return any(results)
