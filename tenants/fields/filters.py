"""Filtering records on custom fields, through the same expression their indexes cover."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import records
from rapport.tenants.fields import indexes
from rapport.tenants.fields.queries import Field, fields_for
from rapport.tenants.fields.validation import Invalid, coerce, storage_field


def record_model(record_type: str) -> Any:
    """The model class of a customizable record type."""
    return records.get(record_type).model


def _comparable(field: Field, value: Any, dialect: str) -> Any:
    """A stored value as the index expression yields it (PostgreSQL: text; SQLite: JSON scalars)."""
    if dialect == "postgresql":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def filter_clause(session: Session, record_type: str, api_name: str, raw: str) -> Any:
    """A WHERE clause for ``custom.<api_name> = raw`` on a filterable field."""
    field = next((f for f in fields_for(session, record_type) if f.api_name == api_name), None)
    key = f"custom.{api_name}"
    if field is None or not (field.filterable or field.unique):
        raise ValidationFailed({key: ["This field cannot be filtered on."]})
    dialect = session.get_bind().dialect.name
    expr = indexes.expression(record_model(record_type).custom, api_name, dialect)
    try:
        if field.type in ("single_select",):
            if raw not in field.option_values():
                raise Invalid("Choose one of the options.")
            value: Any = raw
        elif field.type == "lookup":
            try:
                value = str(uuid.UUID(raw.strip()))
            except ValueError:
                raise Invalid("Enter the id of a record.") from None
        else:
            value = coerce(storage_field(field), raw, tenant_id=session.info["tenant"].id)
    except Invalid as exc:
        raise ValidationFailed({key: [str(exc)]}) from None
    return expr == _comparable(field, value, dialect)
