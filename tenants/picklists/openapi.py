"""Picklists in a tenant's OpenAPI document: the values each picked property takes there."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rapport.tenants.picklists.lists import LISTS
from rapport.tenants.picklists.queries import all_options

#: Component schema -> {property: list key}.
PICKED_PROPERTIES: dict[str, dict[str, str]] = {
    "LeadInput": {"status": "lead_status", "source": "lead_source", "industry": "industry"},
    "Lead": {"status": "lead_status", "source": "lead_source", "industry": "industry"},
    "CompanyInput": {"industry": "industry"},
    "Company": {"industry": "industry"},
    "ActivityInput": {"kind": "activity_type"},
    "Activity": {"kind": "activity_type"},
    "DealMove": {"lost_reason": "loss_reason"},
    "Deal": {"lost_reason": "loss_reason"},
}

REQUEST_SCHEMAS = ("LeadInput", "CompanyInput", "ActivityInput", "DealMove")


def describe(document: dict[str, Any], session: Session) -> None:
    """Give each picked property the enum of the tenant's values and what they mean."""
    schemas = document.get("components", {}).get("schemas", {})
    every = all_options(session)
    for schema_name, properties in PICKED_PROPERTIES.items():
        found = schemas.get(schema_name, {}).get("properties", {})
        for prop, list_key in properties.items():
            if prop not in found:
                continue
            options = every[list_key]
            current = [o for o in options if not o.retired]
            retired = [o.value for o in options if o.retired]
            text = f"One of the workspace's {LISTS[list_key].title.lower()}: " + ", ".join(
                f"{o.value} ({o.label})" for o in current
            )
            if retired:
                text += f". Retired, kept on older records only: {', '.join(retired)}"
            # What a request may send (current options a person may pick); what a response may
            # hold (every value, retired and Rapport's own included).
            request_side = schema_name in REQUEST_SCHEMAS
            spec = LISTS[list_key]
            values = [
                o.value for o in (current if request_side else options)
                if not (request_side and o.value in spec.reserved)
            ]  # fmt: skip
            found[prop]["enum"] = values + ([None] if found[prop].get("nullable") else [])
            found[prop]["description"] = text + "."
