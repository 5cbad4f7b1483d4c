"""Marshmallow schemas for teams and territories (web and API)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, pre_load, validate

from rapport.tenants.companies.schemas import RecordSchema, optional_text, validate_country


def _words(value: Any) -> Any:
    """A list typed as text ("DE, AT\nCH") becomes a list; blanks are dropped, order kept."""
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    if isinstance(value, list | tuple):
        seen: list[str] = []
        for item in value:
            text = str(item).strip() if item is not None else ""
            if text and text.lower() not in {s.lower() for s in seen}:
                seen.append(text)
        return seen
    return value


class TeamSchema(RecordSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100, error="Use 1 to {max} characters."),
        error_messages={"required": "Name the team.", "null": "Name the team."},
    )
    description = optional_text(2000)


class TeamMemberSchema(RecordSchema):
    user_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose a member.",
            "null": "Choose a member.",
            "invalid_uuid": "Choose a member from the list.",
        },
    )
    is_manager = fields.Boolean(load_default=False)


class TerritorySchema(RecordSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100, error="Use 1 to {max} characters."),
        error_messages={"required": "Name the territory.", "null": "Name the territory."},
    )
    team_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose the team.",
            "null": "Choose the team.",
            "invalid_uuid": "Choose a team from the list.",
        },
    )
    priority = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=1000, error="Use a priority from {min} to {max}."),
        error_messages={"invalid": "Enter a whole number such as 10."},
    )
    countries = fields.List(
        fields.String(validate=validate_country), load_default=list, allow_none=False
    )
    regions = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)
    industries = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)

    @pre_load
    def _lists(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("countries", "regions", "industries"):
            if key in data:
                data[key] = _words(data[key]) if data[key] is not None else []
        if isinstance(data.get("countries"), list):
            data["countries"] = [c.upper() for c in data["countries"] if isinstance(c, str)]
        if data.get("priority") in ("", None):
            data.pop("priority", None)
        return data
