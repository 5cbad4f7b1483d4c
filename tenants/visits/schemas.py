"""Marshmallow schemas for visit plans (web and API)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate

from rapport.platform.timezones import UTC_NAME, valid
from rapport.tenants.companies.schemas import RecordSchema
from rapport.tenants.visits.models import CYCLE_UNITS, WEEKDAYS

PLAN_FIELDS = (
    "name", "owner_id", "every", "unit", "weekdays", "starts_on", "horizon_days", "visit_time",
    "timezone", "duration_minutes", "active",
)  # fmt: skip
MAX_HORIZON_DAYS = 180


def _known_zone(name: str) -> None:
    if not valid(name):
        raise ValidationError("Choose a time zone from the list.")


class VisitPlanSchema(RecordSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(max=200, error="Use at most {max} characters."),
        error_messages={"required": "Name the plan.", "null": "Name the plan."},
    )
    owner_id = fields.UUID(
        required=True,
        error_messages=dict.fromkeys(("required", "null", "invalid"), "Choose the rep who visits."),
    )
    every = fields.Integer(
        load_default=1,
        validate=validate.Range(1, 52, error="Use a number from {min} to {max}."),
        error_messages={"invalid": "Use a whole number."},
    )
    unit = fields.String(
        load_default="weeks", validate=validate.OneOf(CYCLE_UNITS, error="Choose days or weeks.")
    )
    weekdays = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS, error="Not a weekday.")), load_default=list
    )
    starts_on = fields.Date(
        required=True,
        error_messages={"required": "Give the first day.", "null": "Give the first day.",
                        "invalid": "Enter a date such as 2026-05-04."},
    )  # fmt: skip
    horizon_days = fields.Integer(
        load_default=28,
        validate=validate.Range(1, MAX_HORIZON_DAYS, error="Plan {min} to {max} days ahead."),
        error_messages={"invalid": "Use a whole number."},
    )
    visit_time = fields.Time(
        load_default=None,
        allow_none=True,
        error_messages={"invalid": "Enter a time such as 09:30."},
    )
    timezone = fields.String(load_default=UTC_NAME, validate=_known_zone)
    duration_minutes = fields.Integer(
        load_default=60, validate=validate.Range(5, 24 * 60, error="Use {min} to {max} minutes.")
    )
    active = fields.Boolean(load_default=True, truthy={"on", "1", "true", "yes", True})

    @pre_load
    def _weekdays(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("weekdays"), str):
            data = {**data, "weekdays": [d for d in data["weekdays"].split(",") if d.strip()]}
        return data


def weekday_codes(value: list[str]) -> str:
    """The stored form: chosen weekdays in calendar order, comma-separated."""
    chosen = set(value)
    if not chosen <= set(WEEKDAYS):
        raise ValidationError("Not a weekday.")
    return ",".join(d for d in WEEKDAYS if d in chosen)
