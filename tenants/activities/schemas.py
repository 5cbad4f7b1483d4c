"""Marshmallow schemas for activities: the one place their input is validated (web and API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rapport.tenants.activities.models import LINKABLE_TYPES
from rapport.tenants.companies.schemas import RecordSchema, optional_text

#: The fields a person edits, in form order; the audit diff covers exactly these.
ACTIVITY_FIELDS = (
    "kind", "subject", "description", "due_at", "ends_at", "all_day", "remind_at", "owner_id",
)  # fmt: skip
#: "Remind me" choices of the web form: minutes before the start.
REMIND_CHOICES = ((0, "At the start"), (15, "15 minutes before"), (60, "1 hour before"),
                  (1440, "1 day before"))  # fmt: skip


def utc_datetime(**kwargs: Any) -> fields.AwareDateTime:
    """A date and time; one without an offset is UTC (what the browser's pickers send)."""
    return fields.AwareDateTime(
        default_timezone=dt.UTC,
        load_default=None,
        allow_none=True,
        error_messages={"invalid": "Enter a date and time such as 2026-05-04 14:30."},
        **kwargs,
    )


class LinkSchema(RecordSchema):
    record_type = fields.String(
        required=True,
        validate=validate.OneOf(LINKABLE_TYPES, error="Link a company, contact, deal or lead."),
    )
    record_id = fields.UUID(required=True, error_messages={"invalid": "Not a record id."})


class ActivitySchema(RecordSchema):
    """An activity as written by a person or an integration."""

    # Checked against the tenant's activity types by the activity service (tenant data).
    kind = fields.String(load_default="task")
    subject = fields.String(
        required=True,
        validate=validate.Length(max=200, error="Use at most {max} characters."),
        error_messages={"required": "Say what it is about.", "null": "Say what it is about."},
    )
    description = optional_text(10_000)
    due_at = utc_datetime()
    ends_at = utc_datetime()
    all_day = fields.Boolean(load_default=False, truthy={"on", "1", "true", "yes", True})
    remind_at = utc_datetime()
    #: Web form shortcut: minutes before ``due_at``; wins over ``remind_at`` when given.
    remind_before = fields.Integer(
        load_default=None, allow_none=True, load_only=True, validate=validate.Range(0, 60 * 24 * 30)
    )
    owner_id = fields.UUID(
        load_default=None, allow_none=True, error_messages={"invalid": "Choose an owner."}
    )

    @validates_schema(skip_on_field_errors=False)
    def _check_times(self, data: dict[str, Any], **_: Any) -> None:
        due, ends = data.get("due_at"), data.get("ends_at")
        if ends and not due:
            raise ValidationError("Give the start too.", "due_at")
        if due and ends and ends < due:
            raise ValidationError("The end must come after the start.", "ends_at")
        if data.get("remind_before") is not None and not due:
            raise ValidationError("A reminder before the start needs a start.", "due_at")

    @post_load
    def _remind(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        minutes = data.pop("remind_before", None)
        if minutes is not None and data.get("due_at"):
            data["remind_at"] = data["due_at"] - dt.timedelta(minutes=minutes)
        return data


class CompleteSchema(RecordSchema):
    outcome = optional_text(10_000)


class CheckInSchema(RecordSchema):
    """A visit check-in; the position is what the browser's geolocation gave, if anything."""

    outcome = optional_text(10_000)
    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    longitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))
    accuracy = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 1e7))
    complete = fields.Boolean(load_default=True, truthy={"on", "1", "true", "yes", True})

    @validates_schema
    def _pair(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ValidationError("Give both the latitude and the longitude, or neither.", "_form")
