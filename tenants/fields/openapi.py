"""Custom fields in a tenant's OpenAPI document: typed properties of each record's ``custom``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rapport.tenants import records
from rapport.tenants.fields import lookup
from rapport.tenants.fields.queries import Field, fields_for
from rapport.tenants.fields.validation import storage_field

_DECIMAL = {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"}


def property_of(field: Field) -> dict[str, Any]:
    """The JSON schema of one field's value (a calculated one is read-only)."""
    if field.computed:
        schema = property_of(storage_field(field))
        schema["readOnly"] = True
        what = "formula" if field.type == "formula" else "roll-up"
        schema["description"] = f"Calculated ({what}); never sent in requests. " + (
            schema.get("description") or ""
        )
        return schema
    kind = field.type
    schema: dict[str, Any]
    if kind in ("text", "long_text", "phone"):
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
        if field.pattern:
            schema["pattern"] = field.pattern
    elif kind == "email":
        schema = {"type": "string", "format": "email"}
    elif kind == "url":
        schema = {"type": "string", "format": "uri"}
    elif kind == "integer":
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = int(field.min_value)
        if field.max_value is not None:
            schema["maximum"] = int(field.max_value)
    elif kind in ("decimal", "percent"):
        schema = dict(_DECIMAL)
    elif kind == "currency":
        schema = {
            "type": "object",
            "properties": {
                "amount": dict(_DECIMAL),
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            },
            "required": ["amount", "currency"],
        }  # fmt: skip
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "checkbox":
        schema = {"type": "boolean"}
    elif kind == "single_select":
        schema = {"type": "string", "enum": field.option_values(include_retired=False)}
    elif kind == "multi_select":
        items = {"type": "string", "enum": field.option_values(include_retired=False)}
        schema = {"type": "array", "items": items}
    elif kind == "lookup":
        target = lookup.target_of(field)
        schema = {
            "type": "string",
            "format": "uuid",
            "description": f"The id of a record of {target} (a {lookup.singular(field)}).",
        }
    else:  # user
        schema = {"type": "string", "format": "uuid", "description": "A member's user id."}
    schema["title"] = field.label
    if field.help_text:
        # A lookup keeps naming its target: the id alone does not say what it points at.
        schema["description"] = (
            f"{schema['description']} {field.help_text}" if kind == "lookup" else field.help_text
        )
    schema["nullable"] = True
    return schema


def describe(document: dict[str, Any], session: Session) -> None:
    """Put the tenant's active custom fields into the document's record schemas."""
    schemas = document.get("components", {}).get("schemas", {})
    for kind in records.all_types():
        names = kind.components
        if names is None:
            continue
        active = fields_for(session, kind.name)
        custom = {
            "type": "object",
            "description": "This workspace's custom fields.",
            "properties": {f.api_name: property_of(f) for f in active},
            "additionalProperties": False,
        }
        required = [f.api_name for f in active if f.required and not f.computed]
        for name in names:
            if name in schemas:
                schemas[name].setdefault("properties", {})["custom"] = dict(custom)
        if required and names[1] in schemas:
            schemas[names[1]]["properties"]["custom"] = {**custom, "required": required}
