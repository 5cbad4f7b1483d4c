"""What a role allows: per record type the actions and the visibility, per field the access.

A :class:`Policy` is an immutable reading of one ``roles`` row, shared between requests through
the tenant's versioned cache. The built-in roles' defaults are written here once; they seed new
workspaces and answer for a built-in role whose row is missing. A record type registered later
(quotes, cases, …) gets each built-in role's default for its module without a data change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rapport.tenants import records

ACTIONS = ("create", "read", "update", "delete", "export")
ACTION_LABELS = {
    "create": "Create",
    "read": "Read",
    "update": "Edit",
    "delete": "Delete",
    "export": "Export",
}
VISIBILITIES = ("own", "team", "all")
VISIBILITY_LABELS = {"own": "Own records", "team": "Their team's", "all": "All records"}
FIELD_ACCESS = ("edit", "read_only", "hidden")
FIELD_ACCESS_LABELS = {"edit": "Editable", "read_only": "Read only", "hidden": "Hidden"}

OWNER, ADMIN = "owner", "admin"
#: Roles that always have every permission: nobody can lock the workspace's owners out.
FULL_ROLES = frozenset({OWNER, ADMIN})


@dataclasses.dataclass(frozen=True)
class RecordRule:
    create: bool = False
    read: bool = False
    update: bool = False
    delete: bool = False
    export: bool = False
    visibility: str = "own"

    def allows(self, action: str) -> bool:
        return bool(getattr(self, action))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RecordRule:
        data = data or {}
        visibility = data.get("visibility")
        return cls(
            **{action: bool(data.get(action)) for action in ACTIONS},
            visibility=visibility if visibility in VISIBILITIES else "own",
        )


ALL = RecordRule(True, True, True, True, True, "all")
NOTHING = RecordRule()


@dataclasses.dataclass(frozen=True)
class Policy:
    key: str
    name: str
    administers: bool
    records: Mapping[str, RecordRule]
    fields: Mapping[str, Mapping[str, str]]
    built_in: bool = False

    @property
    def unrestricted(self) -> bool:
        """Sees and may do everything: no check or filter needs to run."""
        return self.key in FULL_ROLES

    def rule(self, record_type: str) -> RecordRule:
        if self.unrestricted:
            return ALL
        found = self.records.get(record_type)
        if found is not None:
            return found
        if self.built_in:  # a record type newer than the row: the built-in default
            return default_rule(self.key, record_type)
        return NOTHING

    def can(self, record_type: str, action: str) -> bool:
        return self.rule(record_type).allows(action)

    def field_access(self, record_type: str, field: str) -> str:
        if self.unrestricted:
            return "edit"
        return self.fields.get(record_type, {}).get(field, "edit")

    def hidden(self, record_type: str) -> frozenset[str]:
        if self.unrestricted:
            return frozenset()
        rules = self.fields.get(record_type, {})
        return frozenset(name for name, access in rules.items() if access == "hidden")

    def not_editable(self, record_type: str) -> frozenset[str]:
        if self.unrestricted:
            return frozenset()
        return frozenset(self.fields.get(record_type, {}))


# -- the built-in roles -----------------------------------------------------------------------
BUILT_IN = (
    (OWNER, "Owner", "Everything, including billing and the other owners.", True),
    (ADMIN, "Admin", "Everything except making or removing owners.", True),
    (
        "manager",
        "Manager",
        "Every action on every record type, over the records of their teams' members.",
        False,
    ),
    (
        "sales_rep",
        "Sales rep",
        "Works their own leads, deals and activities; sees every company and contact.",
        False,
    ),
    (
        "service_agent",
        "Service agent",
        "Reads the customer base and works their own activities.",
        False,
    ),
    ("read_only", "Read only", "Reads every record; changes nothing.", False),
)
BUILT_IN_KEYS = tuple(key for key, *_ in BUILT_IN)
# Shared records (the customer base) that a rep sees whole while working only their own.
_SHARED = frozenset({"companies", "contacts"})


def default_rule(role: str, record_type: str) -> RecordRule:
    """The built-in role's permissions on a record type (of any module)."""
    if role in FULL_ROLES:
        return ALL
    if role == "manager":
        return RecordRule(True, True, True, True, True, "team")
    module = records.get(record_type).module if records.exists(record_type) else ""
    if role == "sales_rep":
        if module not in ("core", "sales", "leads", "activities"):
            return RecordRule(read=True, visibility="all")
        shared = record_type in _SHARED
        return RecordRule(True, True, True, True, False, "all" if shared else "own")
    if role == "service_agent":
        if module in ("service", "activities"):
            return RecordRule(True, True, True, False, False, "own")
        if record_type in _SHARED:
            return RecordRule(read=True, visibility="all")
        return NOTHING
    if role == "read_only":
        return RecordRule(read=True, visibility="all")
    return NOTHING


def default_policy(key: str) -> Policy | None:
    for role, name, _description, administers in BUILT_IN:
        if role == key:
            rules = {name_: default_rule(key, name_) for name_ in records.names()}
            return Policy(key, name, administers, MappingProxyType(rules), {}, built_in=True)
    return None


def from_row(row: Any) -> Policy:
    rules = {name: RecordRule.from_dict(data) for name, data in (row.records or {}).items()}
    fields = {
        name: MappingProxyType(
            {f: a for f, a in (spec or {}).items() if a in ("read_only", "hidden")}
        )
        for name, spec in (row.fields or {}).items()
    }
    return Policy(
        row.key,
        row.name,
        bool(row.administers) or row.key in FULL_ROLES,
        MappingProxyType(rules),
        MappingProxyType(fields),
        built_in=bool(row.built_in),
    )


#: A role nobody defined (a deleted role still named by a key): nothing at all.
NOBODY = Policy("", "No role", False, MappingProxyType({}), MappingProxyType({}))
