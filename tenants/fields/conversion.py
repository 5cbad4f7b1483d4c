"""Changing a field's type: the safe conversions, a preview of every value, then the change.

Each stored value is turned into text as people read it and validated again as the new type by
the one validator (``coerce``), so a converted value obeys every rule a typed-in one would. A
value that does not pass is listed as "won't convert" in the preview; confirming clears those
values (the preview says how many). The definition and every value change in one transaction,
with one audit entry naming the counts.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import ValidationFailed
from rapport.tenants import records
from rapport.tenants.fields.queries import Field, _freeze, get_definition
from rapport.tenants.fields.validation import Invalid, coerce

#: from type -> the types its values can become. Text -> single select makes the distinct values
#: the options; single -> multi keeps the options. A record lookup converts to nothing and
#: nothing converts to one (``preview`` says so).
CONVERSIONS: dict[str, tuple[str, ...]] = {
    "text": ("long_text", "single_select", "email", "phone", "url"),
    "long_text": ("text",),
    "integer": ("decimal", "percent", "text"),
    "decimal": ("integer", "percent", "text"),
    "percent": ("decimal", "text"),
    "currency": ("decimal", "text"),
    "single_select": ("multi_select", "text"),
    "multi_select": ("single_select", "text"),
    "date": ("datetime", "text"),
    "datetime": ("date", "text"),
    "email": ("text",),
    "phone": ("text",),
    "url": ("text",),
    "checkbox": ("text",),
}
_OPTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,59}$")
MAX_OPTIONS = 200


@dataclasses.dataclass(frozen=True)
class Row:
    record_id: uuid.UUID
    title: str
    before: Any
    after: Any  # None when it won't convert
    ok: bool
    problem: str | None


@dataclasses.dataclass(frozen=True)
class Preview:
    field: Field
    new_type: str
    target: Field
    rows: tuple[Row, ...]

    @property
    def failures(self) -> int:
        return sum(1 for r in self.rows if not r.ok)


def _as_text(field: Field, value: Any) -> Any:
    """A stored value as input for the new type (lists stay lists for the selects)."""
    if field.type == "currency" and isinstance(value, Mapping):
        return str(value.get("amount"))
    if field.type == "checkbox":
        return "Yes" if value else "No"
    if field.type == "multi_select" and isinstance(value, list):
        return value
    if field.type == "datetime" and isinstance(value, str):
        return value  # ISO text: date() of it below
    return value if isinstance(value, str) else str(value)


def _convert(field: Field, target: Field, value: Any) -> Any:
    raw = _as_text(field, value)
    if field.type == "multi_select" and target.type == "single_select":
        if len(raw) > 1:
            raise Invalid("Holds more than one option.")
        raw = raw[0] if raw else None
    elif field.type == "multi_select" and target.type == "text":
        raw = ", ".join(field.option_label(v) for v in raw)
    elif field.type == "single_select" and target.type == "text":
        raw = field.option_label(raw)
    elif field.type == "datetime" and target.type == "date":
        raw = raw[:10]
    if raw is None:
        return None
    return coerce(
        target, raw, old=value if target.type in ("single_select", "multi_select") else None
    )


def _title(record: Any) -> str:
    for attr in ("name", "title", "subject"):
        value = getattr(record, attr, None)
        if value:
            return str(value)
    parts = [getattr(record, a, None) for a in ("first_name", "last_name")]
    return " ".join(p for p in parts if p) or str(record.id)


def _target(field: Field, new_type: str, records_custom: list[Any]) -> Field:
    changes: dict[str, Any] = {"type": new_type, "pattern": None}
    if new_type not in ("integer", "decimal", "percent"):
        changes.update(min_value=None, max_value=None)
    if new_type not in ("text", "long_text"):
        changes.update(min_length=None, max_length=None)
    if field.type == "text" and new_type == "single_select":
        values = sorted({v for v in records_custom if isinstance(v, str) and _OPTION.match(v)})
        changes["options"] = tuple(
            {"value": v, "label": v, "colour": None, "retired": False}
            for v in values[:MAX_OPTIONS]
        )  # fmt: skip
    return dataclasses.replace(field, **changes)


def preview(session: Session, field_id: uuid.UUID | str, new_type: str) -> Preview:
    """Every record's value of the field, before and as the new type (nothing is changed)."""
    row = get_definition(session, field_id)
    field = _freeze(row)
    if "lookup" in (field.type, new_type):
        # A record's id means nothing as another type, and no other value names a record.
        message = (
            "A record lookup cannot change type; create a new field instead."
            if field.type == "lookup"
            else "No field can become a record lookup; create a new lookup field instead."
        )
        raise ValidationFailed({"type": [message]})
    if new_type not in CONVERSIONS.get(field.type, ()):
        allowed = ", ".join(CONVERSIONS.get(field.type, ())) or "none"
        raise ValidationFailed({"type": [f"A {field.type} field can become: {allowed}."]})
    from rapport.tenants.fields.computed import custom_kind
    from rapport.tenants.fields.config import dependents

    readers = dependents(session, row)
    if readers and custom_kind(field) != custom_kind(dataclasses.replace(field, type=new_type)):
        raise ValidationFailed(
            {
                "type": [
                    f"These calculated fields read this field as a {custom_kind(field)}: "
                    f"{', '.join(readers)}. Change them first."
                ]
            }  # fmt: skip
        )
    model = records.get(field.record_type).model
    found = [
        r
        for r in session.scalars(select(model))
        if (r.custom or {}).get(field.api_name) is not None
    ]
    target = _target(field, new_type, [(r.custom or {}).get(field.api_name) for r in found])
    rows = []
    for record in found:
        value = record.custom[field.api_name]
        try:
            after, ok, problem = _convert(field, target, value), True, None
        except Invalid as exc:
            after, ok, problem = None, False, str(exc)
        rows.append(Row(record.id, _title(record), value, after, ok, problem))
    return Preview(field, new_type, target, tuple(rows))


def change_type(session: Session, field_id: uuid.UUID | str, new_type: str) -> Preview:
    """Convert the field and its values in this transaction; values that won't convert are
    cleared. Returns the preview it applied."""
    from rapport.tenants.fields.services import _changed, snapshot

    result = preview(session, field_id, new_type)
    row = get_definition(session, field_id)
    before = snapshot(row)
    model = records.get(row.record_type).model
    row.type = new_type
    for name in ("min_value", "max_value", "min_length", "max_length", "pattern"):
        setattr(row, name, getattr(result.target, name))
    row.options = [dict(o) for o in result.target.options]
    if new_type not in ("text", "integer", "decimal", "percent", "date", "datetime",
                        "checkbox", "single_select", "email", "phone", "url", "user"):  # fmt: skip
        row.unique = row.filterable = False
    row.default = None
    by_id = {r.record_id: r for r in result.rows}
    for record in session.scalars(select(model).where(model.id.in_(list(by_id)))):
        item = by_id[record.id]
        custom = dict(record.custom or {})
        if item.after is None:
            custom.pop(row.api_name, None)
        else:
            custom[row.api_name] = item.after
        record.custom = custom
    session.flush()
    _changed(session, row)
    changes = audit.diff(before, snapshot(row))
    changes["converted"] = [None, len(result.rows) - result.failures]
    changes["cleared"] = [None, result.failures]
    audit.record(session, "field.type_changed", "field", row.id, changes)
    return result
