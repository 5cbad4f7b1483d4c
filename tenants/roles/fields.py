"""The fields a role's field rules can name: a record's own editable fields and its custom fields.

Fields the system keeps (ids, timestamps, positions, conversion links, check-in coordinates) are
not offered: a rule on them could only break the features that maintain them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from rapport.tenants import records

SYSTEM = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "custom",
        "domain",
        "position",
        "closed_at",
        "converted_at",
        "converted_company_id",
        "converted_contact_id",
        "converted_deal_id",
        "reminded_at",
        "completed_at",
        "checked_in_at",
        "latitude",
        "longitude",
        "accuracy",
        "visit_plan_id",
        "visit_customer_id",
        "visit_date",
    }
)
_LABELS = {"owner_id": "Owner", "company_id": "Company", "parent_id": "Parent company"}


@dataclasses.dataclass(frozen=True)
class ConfigurableField:
    name: str
    label: str
    custom: bool


def label_of(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    base = name[:-3] if name.endswith("_id") else name
    return base.replace("_", " ").capitalize()


def built_in(record_type: str) -> list[str]:
    model = records.get(record_type).model
    return [c.key for c in inspect(model).column_attrs if c.key not in SYSTEM]


def configurable(session: Session, record_type: str) -> list[ConfigurableField]:
    from rapport.tenants.fields.queries import fields_for

    own = [ConfigurableField(name, label_of(name), False) for name in built_in(record_type)]
    custom = [
        ConfigurableField(f.api_name, f.label, True) for f in fields_for(session, record_type)
    ]
    return own + custom


def strip_hidden(data: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """``data`` (a record's representation, or an event's snapshot) without the hidden fields:
    custom ones too, whether nested under ``custom`` or flat as ``custom.<name>`` (snapshots), and
    the hidden fields' entries of a ``changes`` diff."""
    if not hidden:
        return data
    gone = hidden | {f"custom.{name}" for name in hidden}
    kept = {k: v for k, v in data.items() if k not in gone}
    for nested in ("custom", "changes"):
        if isinstance(kept.get(nested), dict):
            kept[nested] = {k: v for k, v in kept[nested].items() if k not in gone}
    return kept
