"""Checking the records an activity, note or attachment is about: generic (type name + id)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.tenants import records
from rapport.tenants.activities.models import LINKABLE_TYPES


def record_label(record: Any) -> str:
    """A one-line name for any linkable record."""
    for attr in ("name", "title", "subject"):
        value = getattr(record, attr, None)
        if value:
            return str(value)
    first, last = getattr(record, "first_name", None), getattr(record, "last_name", None)
    name = " ".join(part for part in (first, last) if part)
    return name or getattr(record, "email", None) or str(record.id)


def get_record(session: Session, record_type: str, record_id: uuid.UUID | str) -> Any:
    """The record ``record_type``/``record_id`` of this tenant, or NotFound."""
    if record_type not in LINKABLE_TYPES or not records.exists(record_type):
        raise NotFound("There is no such record.")
    try:
        key = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id))
    except ValueError:
        raise NotFound("There is no such record.") from None
    row = session.get(records.get(record_type).model, key)
    if row is None:
        raise NotFound("There is no such record.")
    return row


def check_record(
    session: Session, record_type: str, record_id: uuid.UUID | str, field: str = "record_id"
) -> uuid.UUID:
    """The id of an existing record, or ValidationFailed naming ``field``."""
    try:
        return get_record(session, record_type, record_id).id
    except NotFound:
        raise ValidationFailed({field: ["Choose a record that exists."]}) from None


def record_url(record_type: str, record_id: uuid.UUID) -> str | None:
    """The record's page in the browser, when one exists (needs a request with a workspace)."""
    from flask import current_app, url_for
    from werkzeug.routing import BuildError

    endpoint = {"companies": "companies.detail", "contacts": "contacts.detail",
                "deals": "deals.detail", "leads": "leads.detail"}.get(record_type)  # fmt: skip
    if endpoint is None or endpoint not in current_app.view_functions:
        return None
    arg = {"companies": "company_id", "contacts": "contact_id", "deals": "deal_id",
           "leads": "lead_id"}[record_type]  # fmt: skip
    try:
        return url_for(endpoint, **{arg: record_id})
    except BuildError:
        return None
