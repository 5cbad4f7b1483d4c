"""Time zones by IANA name: the pure part, for pages (``rapport.web.timezones``) and emails."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any

UTC_NAME = "UTC"


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


def valid(name: str | None) -> bool:
    return bool(name) and name in zone_names()


def zone_of(name: str | None) -> dt.tzinfo:
    """The zone called ``name``; UTC for none or an unknown one."""
    return zoneinfo.ZoneInfo(name) if name and valid(name) else dt.UTC


def in_zone(value: Any, zone: dt.tzinfo) -> Any:
    """An aware (or naive UTC) datetime, or its ISO 8601 text, in ``zone``; anything else as
    it is."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone)


def format_in(
    value: Any, zone: dt.tzinfo, fmt: str = "%Y-%m-%d %H:%M", with_zone: bool = True
) -> str:
    """``value`` formatted in ``zone``, followed by the zone's abbreviation (e.g. ``CST``)."""
    if value is None:
        return ""
    shown = in_zone(value, zone)
    if isinstance(shown, str):
        return shown
    text = shown.strftime(fmt)
    if with_zone and isinstance(shown, dt.datetime):
        text = f"{text} {shown.strftime('%Z') or getattr(zone, 'key', UTC_NAME)}"
    return text
