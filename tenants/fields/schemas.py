"""Input of field definitions (admin screens and code): one marshmallow schema."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from rapport.tenants import records
from rapport.tenants.companies.schemas import RecordSchema, optional_text
from rapport.tenants.fields.indexes import API_NAME
from rapport.tenants.fields.validation import INDEXABLE, SELECTS, TYPES

_OPTION_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,59}$")


def parse_options(value: Any) -> list[dict[str, Any]]:
    """Options from a list of dicts, or from text lines ``value | label | colour | retired``."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items = []
        for line in value.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if not parts[0]:
                continue
            parts += [""] * (4 - len(parts))
            items.append(
                {
                    "value": parts[0],
                    "label": parts[1] or parts[0],
                    "colour": parts[2] or None,
                    "retired": parts[3].lower() in ("retired", "yes", "true", "1"),
                }
            )
        value = items
    if not isinstance(value, list):
        raise ValidationError("Give the options as a list.")
    seen, out = set(), []
    for item in value:
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ValidationError("Each option needs a value.")
        option_value = item["value"].strip()
        if not _OPTION_VALUE.match(option_value):
            raise ValidationError(
                f"Option values use letters, digits, spaces, . _ - (not “{option_value}”)."
            )
        if option_value in seen:
            raise ValidationError(f"The option “{option_value}” appears twice.")
        seen.add(option_value)
        colour = item.get("colour") or None
        if colour is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", str(colour)):
            raise ValidationError("Colours are written like #3366cc.")
        label = str(item.get("label") or option_value).strip()[:100]
        out.append({"value": option_value, "label": label, "colour": colour,
                    "retired": bool(item.get("retired"))})  # fmt: skip
    return out


class FieldSchema(RecordSchema):
    """A custom field definition as an admin writes it."""

    record_type = fields.String(required=True)

    @validates("record_type")
    def _known_type(self, value: str, **_kwargs: Any) -> None:
        if not records.exists(value):
            choices = ", ".join(records.names())
            raise ValidationError(f"Choose one of: {choices}.")

    api_name = fields.String(
        required=True,
        validate=validate.Regexp(
            API_NAME,
            error="Use 2 to 40 lower-case letters, digits or _, starting with a letter.",
        ),
        error_messages={"required": "Enter an API name.", "null": "Enter an API name."},
    )
    label = fields.String(
        required=True,
        validate=validate.Length(max=100, error="Use at most {max} characters."),
        error_messages={"required": "Enter a label.", "null": "Enter a label."},
    )
    help_text = optional_text(300)
    type = fields.String(
        required=True, validate=validate.OneOf(TYPES, error="Choose a field type from the list.")
    )
    required = fields.Boolean(
        load_default=False,
        truthy={"on", "1", "true", True},
        falsy={"", "0", "false", "off", None, False},
    )
    unique = fields.Boolean(
        load_default=False,
        truthy={"on", "1", "true", True},
        falsy={"", "0", "false", "off", None, False},
    )
    filterable = fields.Boolean(
        load_default=False,
        truthy={"on", "1", "true", True},
        falsy={"", "0", "false", "off", None, False},
    )
    default = fields.Raw(load_default=None, allow_none=True)
    min_value = fields.Decimal(
        load_default=None, allow_none=True, error_messages={"invalid": "Enter a number."}
    )
    max_value = fields.Decimal(
        load_default=None, allow_none=True, error_messages={"invalid": "Enter a number."}
    )
    min_length = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(0, 10_000)
    )
    max_length = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, 10_000)
    )
    pattern = optional_text(200)
    options = fields.Raw(load_default=list, allow_none=True)
    section = optional_text(100)

    @pre_load
    def _booleans(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("required", "unique", "filterable"):
                if data.get(key) is None and key in data:
                    data[key] = False
        return data

    @validates_schema
    def _rules(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        kind = data.get("type")
        record_type = data.get("record_type")
        if (
            records.exists(record_type or "")
            and data.get("api_name") in records.get(record_type).built_in
        ):
            errors["api_name"] = ["This name belongs to a built-in field; choose another."]
        if "options" in data:
            try:
                data["options"] = parse_options(data["options"])
            except ValidationError as exc:
                errors["options"] = [str(m) for m in exc.messages]
            else:
                if kind in SELECTS and not data["options"]:
                    errors["options"] = ["A select needs at least one option."]
        if data.get("pattern"):
            try:
                re.compile(data["pattern"])
            except re.error:
                errors["pattern"] = ["This is not a valid regular expression."]
        if (
            kind is not None
            and (data.get("unique") or data.get("filterable"))
            and kind not in INDEXABLE
        ):
            errors["unique" if data.get("unique") else "filterable"] = [
                "Fields of this type cannot be unique or filtered on."
            ]
        if kind in ("formula", "rollup"):
            for key in ("required", "unique"):
                if data.get(key):
                    errors[key] = ["A calculated field cannot be required or unique."]
            if data.get("default") not in (None, ""):
                errors["default"] = ["A calculated field has no default value."]
        if kind == "lookup" and data.get("default") not in (None, ""):
            errors["default"] = ["A record lookup has no default value."]
        lo, hi = data.get("min_value"), data.get("max_value")
        if lo is not None and hi is not None and lo > hi:
            errors["max_value"] = ["The maximum must not be below the minimum."]
        if errors:
            raise ValidationError(errors)
