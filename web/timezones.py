"""Times in the viewer's own time zone: every page shows them there, every form reads them there.

Rapport stores and computes in UTC. A member picks their zone on their account page (the
browser's is offered); until then it is UTC. ``localtime`` (a template filter) converts an aware
UTC value and names the zone; ``to_input`` and ``from_input`` translate ``datetime-local`` form
fields, which carry no zone, to and from UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, has_request_context

from rapport.platform.timezones import UTC_NAME, format_in, in_zone, zone_of


def zone() -> dt.tzinfo:
    """The signed-in viewer's zone (UTC when they chose none, or outside a request)."""
    if not has_request_context():
        return dt.UTC
    found = g.get("_viewer_zone")
    if found is None:
        from rapport.web.auth import current_user

        user = current_user()
        found = zone_of(getattr(user, "timezone", None) if user is not None else None)
        g._viewer_zone = found
    return found


def zone_name() -> str:
    return getattr(zone(), "key", UTC_NAME)


def local(value: Any) -> Any:
    """An aware (or naive UTC) datetime in the viewer's zone; anything else as it is."""
    return in_zone(value, zone())


def localtime(value: Any, fmt: str = "%Y-%m-%d %H:%M", with_zone: bool = True) -> str:
    """``value`` formatted in the viewer's zone, followed by the zone's abbreviation."""
    return format_in(value, zone(), fmt, with_zone)


def to_input(value: dt.datetime | None) -> str:
    """A ``datetime-local`` input's value: the time in the viewer's zone, without the zone."""
    return local(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def from_input(raw: str | None) -> str:
    """A ``datetime-local`` field as the viewer meant it: ISO 8601 with their zone's offset.

    Text that is not a plain local date and time (empty, already zoned, or invalid) is passed on
    unchanged, for the service's validation to answer.
    """
    text = (raw or "").strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        return text
    return parsed.replace(tzinfo=zone()).isoformat()


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in the viewer's zone, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(0), zone())


def today() -> dt.date:
    return dt.datetime.now(zone()).date()
