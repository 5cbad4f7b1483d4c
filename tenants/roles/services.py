"""Reading and changing the tenant's roles; every change is audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import db, get_or_not_found
from rapport.platform.errors import Conflict, PermissionDenied, ValidationFailed
from rapport.platform.ids import new_id
from rapport.platform.tenancy.versions import TenantVersioned
from rapport.tenants import records
from rapport.tenants.roles.models import Role
from rapport.tenants.roles.policy import (
    ACTIONS,
    BUILT_IN,
    FIELD_ACCESS,
    FULL_ROLES,
    NOBODY,
    VISIBILITIES,
    Policy,
    default_policy,
    default_rule,
    from_row,
)

_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _load(session: Session) -> Mapping[str, Policy]:
    rows = session.scalars(select(Role)).all()
    return {row.key: from_row(row) for row in rows}


_policies: TenantVersioned[Mapping[str, Policy]] = TenantVersioned("roles", _load)


def policy(session: Session, key: str) -> Policy:
    """The role's policy (a built-in role whose row is missing answers with its default)."""
    found = _policies.get(session).get(key)
    if found is not None:
        return found
    return default_policy(key) or NOBODY


def hidden_anywhere(session: Session) -> dict[str, frozenset[str]]:
    """Per record type, the fields some role of the workspace may not see (the search index
    leaves their text out, so no role finds a record by what it hides)."""
    found: dict[str, set[str]] = {}
    for each in _policies.get(session).values():
        for record_type, rules in each.fields.items():
            names = {name for name, rule in rules.items() if rule == "hidden"}
            found.setdefault(record_type, set()).update(names)
    return {record_type: frozenset(names) for record_type, names in found.items() if names}


def _reindex_if_hiding_changed(session: Session, before: dict[str, frozenset[str]]) -> None:
    """Rebuild the search index after the commit when the fields some role hides changed."""
    from rapport.platform.jobs import outbox
    from rapport.tenants.search.index import reindex_tenant

    _policies.changed(session)
    after = hidden_anywhere(session)
    if after != before:  # each change is a rebuild of its own
        outbox.add(session, reindex_tenant, {}, event_key=f"search.reindex:{new_id()}")


def roles(session: Session) -> list[Role]:
    """Every role: the built-in ones in their usual order, then the admins' own by name."""
    order = {key: i for i, (key, *_rest) in enumerate(BUILT_IN)}
    rows = list(session.scalars(select(Role)))
    return sorted(rows, key=lambda r: (order.get(r.key, len(order)), r.name.lower()))


def choices(session: Session) -> list[tuple[str, str]]:
    """(key, name) of every role, for the role pickers."""
    return [(role.key, role.name) for role in roles(session)]


def exists(session: Session, key: str) -> bool:
    return key in _policies.get(session) or default_policy(key) is not None


def seed(session: Session) -> None:
    """Write the built-in roles that are missing (provisioning, and the migration's backfill)."""
    present = set(session.scalars(select(Role.key)))
    for key, name, description, administers in BUILT_IN:
        if key in present:
            continue
        session.add(
            Role(
                key=key,
                name=name,
                description=description,
                built_in=True,
                administers=administers,
                records={t: default_rule(key, t).as_dict() for t in records.names()},
                fields={},
            )
        )
    session.flush()
    _policies.changed(session)


def get_role(session: Session, role_id: uuid.UUID | str) -> Role:
    return get_or_not_found(session, Role, role_id, "role")


def _clean_records(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, dict[str, Any]] = {}
    for name in records.names():
        spec = data.get(name) or {}
        visibility = spec.get("visibility", "own")
        if visibility not in VISIBILITIES:
            errors[f"{name}.visibility"] = ["Choose own, team or all."]
        rule = {action: bool(spec.get(action)) for action in ACTIONS}
        if any(rule[a] for a in ("create", "update", "delete", "export")) and not rule["read"]:
            errors[f"{name}.read"] = [
                f"A role that may change or export {records.get(name).label.lower()} must be "
                "able to read them."
            ]
        clean[name] = {**rule, "visibility": visibility}
    if errors:
        raise ValidationFailed(errors)
    return clean


def _clean_fields(session: Session, data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    from rapport.tenants.roles.fields import configurable

    errors: dict[str, list[str]] = {}
    clean: dict[str, dict[str, str]] = {}
    for name in records.names():
        allowed = {f.name for f in configurable(session, name)}
        spec = data.get(name) or {}
        kept = {}
        for field, access in spec.items():
            if field not in allowed:
                errors[f"{name}.{field}"] = ["There is no such field."]
            elif access not in FIELD_ACCESS:
                errors[f"{name}.{field}"] = ["Choose editable, read only or hidden."]
            elif access != "edit":
                kept[field] = access
        if kept:
            clean[name] = kept
    if errors:
        raise ValidationFailed(errors)
    return clean


def create_role(session: Session, name: str, *, copy_of: str | None = None) -> Role:
    """A custom role, starting as a copy of another role (read only when none is given)."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the role a name."]
    elif len(name) > 100:
        errors["name"] = ["Keep the name under 100 characters."]
    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "role"
    if not _KEY.match(key):
        key = f"role_{key}"[:40]
    if name and session.scalar(select(Role.id).where(func.lower(Role.name) == name.lower())):
        errors["name"] = ["A role with this name exists."]
    if errors:
        raise ValidationFailed(errors)
    base = key
    n = 2
    while exists(session, key):
        key = f"{base[:36]}_{n}"
        n += 1
    source = policy(session, copy_of or "read_only")
    role = Role(
        key=key,
        name=name,
        built_in=False,
        administers=False,
        records={t: source.rule(t).as_dict() for t in records.names()},
        fields={t: dict(f) for t, f in source.fields.items()},
    )
    session.add(role)
    session.flush()
    audit.record(
        session, "role.created", "role", role.id, {"name": [None, name], "copy_of": [None, copy_of]}
    )
    _policies.changed(session)
    return role


def update_role(
    session: Session,
    role_id: uuid.UUID | str,
    *,
    name: str | None = None,
    description: str | None = None,
    records_spec: Mapping[str, Any] | None = None,
    fields_spec: Mapping[str, Any] | None = None,
) -> Role:
    """Change a role's matrix (and a custom role's name); owner and admin are not editable."""
    role = get_role(session, role_id)
    if role.key in FULL_ROLES:
        raise PermissionDenied(f"The {role.name} role always has every permission.")
    diff: dict[str, list[Any]] = {}
    if name is not None and name.strip() != role.name:
        if role.built_in:
            raise ValidationFailed({"name": ["Built-in roles keep their names."]})
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationFailed({"name": ["Give the role a name under 100 characters."]})
        clash = session.scalar(
            select(Role.id).where(func.lower(Role.name) == name.lower(), Role.id != role.id)
        )
        if clash:
            raise ValidationFailed({"name": ["A role with this name exists."]})
        diff["name"] = [role.name, name]
        role.name = name
    if description is not None and (description.strip() or None) != role.description:
        diff["description"] = [role.description, description.strip() or None]
        role.description = description.strip() or None
    if records_spec is not None:
        clean = _clean_records(records_spec)
        for type_name, rule in clean.items():
            before = (role.records or {}).get(type_name)
            if before != rule:
                diff[f"records.{type_name}"] = [before, rule]
        role.records = clean
    hiding = hidden_anywhere(session)
    if fields_spec is not None:
        clean_fields = _clean_fields(session, fields_spec)
        if clean_fields != (role.fields or {}):
            diff["fields"] = [role.fields, clean_fields]
        role.fields = clean_fields
    if diff:
        session.flush()
        audit.record(session, "role.updated", "role", role.id, diff)
        _reindex_if_hiding_changed(session, hiding)
    return role


def members_with_role(tenant_id: uuid.UUID, key: str) -> int:
    """Memberships and live API keys of the workspace that name the role (control plane)."""
    from rapport.platform.apikeys.models import ApiKey
    from rapport.platform.identity.models import Membership

    people = db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.active.is_(True))
        .where(Membership.role == key)
    )
    keys = db.session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.role == key, ApiKey.revoked_at.is_(None))
    )
    return int(people or 0) + int(keys or 0)


def delete_role(session: Session, role_id: uuid.UUID | str) -> None:
    """Delete a custom role nobody holds any more."""
    role = get_role(session, role_id)
    if role.built_in:
        raise PermissionDenied("Built-in roles cannot be deleted.")
    held = members_with_role(session.info["tenant"].id, role.key)
    if held:
        raise Conflict(
            f"{held} member{'s' if held != 1 else ''} or API key{'s' if held != 1 else ''} "
            "still hold this role; give them another role first."
        )
    from rapport.tenants.webhooks.models import WebhookEndpoint

    hooks = session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.role == role.key)
    )
    if hooks:
        raise Conflict(
            f"{hooks} webhook endpoint{'s' if hooks != 1 else ''} see{'s' if hooks == 1 else ''} "
            "as this role; choose another role for them first."
        )
    hiding = hidden_anywhere(session)
    audit.record(session, "role.deleted", "role", role.id, {"name": [role.name, None]})
    session.delete(role)
    session.flush()
    _reindex_if_hiding_changed(session, hiding)
