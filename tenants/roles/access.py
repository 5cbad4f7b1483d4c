"""Permissions enforced where every read and write of records ends up: the tenant session.

A request binds a :class:`Principal` (the member, or the API key and its creator) to its tenant
session. From then on:

* **reads**: every ORM ``SELECT`` of a record type gets the role's visibility as loader criteria
  (none, own, the user's teams', all), and so does the search index; lists, search, timelines,
  exports, lookups and API responses cannot show what the role may not read, whatever code asked;
* **writes**: before each flush, new, changed and deleted records are checked against the role's
  create / update / delete rights on records it can see, and changed fields against its field
  rules (read only, hidden). Values the system derives (formulas, roll-ups, timestamps) are not
  the user's changes and pass.

A session without a principal (jobs, the CLI, provisioning) is unrestricted, as is work a service
does for the system inside a user's unit of work (:func:`unrestricted`), e.g. recomputing a
roll-up over every deal of a company or checking a value is unique.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, event, false, inspect, or_
from sqlalchemy.orm import Session, with_loader_criteria

from rapport.platform.errors import PermissionDenied
from rapport.platform.tenancy.scope import TenantSession
from rapport.tenants import records
from rapport.tenants.roles.policy import Policy

PRINCIPAL = "rapport.principal"
UNRESTRICTED = "rapport.unrestricted"
# Columns every write may touch without it being the user's change of that field.
_BOOKKEEPING = frozenset({"updated_at", "created_at"})


@dataclass
class Principal:
    """Who is acting in a unit of work, and what their role allows."""

    user_id: uuid.UUID | None
    policy: Policy
    _team: frozenset[uuid.UUID | None] | None = field(default=None, repr=False)
    _options: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def unrestricted(self) -> bool:
        return self.policy.unrestricted

    def team(self, session: Session) -> frozenset[uuid.UUID | None]:
        """The user and every member of a team the user is in."""
        if self._team is None:
            from rapport.tenants.teams.queries import team_member_ids

            if self.user_id is None:
                self._team = frozenset()
            else:
                with unrestricted(session):
                    self._team = frozenset(team_member_ids(session, self.user_id))
        return self._team

    def owners(self, session: Session, record_type: str) -> frozenset[uuid.UUID | None] | None:
        """Whose records of this type the principal sees: None means everybody's.

        Visibility is relative to a person. A principal without one (an API key an operator made
        from the command line, acting for the whole workspace) keeps its role's actions and field
        rules, and sees every owner's records.
        """
        rule = self.policy.rule(record_type)
        if not rule.read:
            return frozenset()
        if rule.visibility == "all" or self.user_id is None:
            return None
        if rule.visibility == "team":
            # A team lead also sees what nobody owns yet, to hand it out.
            return self.team(session) | {None}
        return frozenset({self.user_id}) if self.user_id else frozenset()


def bind(session: Session, user_id: uuid.UUID | None, role: str) -> Principal:
    """Make ``session``'s reads and writes those of a member (or key) with ``role``."""
    from rapport.tenants.roles.services import policy

    principal = Principal(user_id, policy(session, role))
    session.info[PRINCIPAL] = principal
    return principal


@contextmanager
def unrestricted(session: Session) -> Iterator[Session]:
    """System work inside a user's unit of work: no visibility filter, no permission check."""
    session.info[UNRESTRICTED] = session.info.get(UNRESTRICTED, 0) + 1
    try:
        yield session
    finally:
        session.info[UNRESTRICTED] -= 1


def _active(session: Session) -> Principal | None:
    principal = session.info.get(PRINCIPAL)
    if principal is None or principal.unrestricted or session.info.get(UNRESTRICTED):
        return None
    return principal


# -- questions views and resources ask ---------------------------------------------------------
def can(session: Session, record_type: str, action: str) -> bool:
    principal = _active(session)
    return principal is None or principal.policy.can(record_type, action)


def require(session: Session, record_type: str, action: str) -> None:
    """Refuse (403) an action the role does not have on the record type."""
    if not can(session, record_type, action):
        label = records.get(record_type).label.lower() if records.exists(record_type) else ""
        raise PermissionDenied(f"Your role may not {_VERBS.get(action, action)} {label}.".strip())


_VERBS = {
    "create": "create",
    "read": "see",
    "update": "change",
    "delete": "delete",
    "export": "export",
}


def hidden(session: Session, record_type: str) -> frozenset[str]:
    """Fields of the record type the role may not see."""
    principal = _active(session)
    return frozenset() if principal is None else principal.policy.hidden(record_type)


def read_only(session: Session, record_type: str) -> frozenset[str]:
    """Fields of the record type the role may see but not change (hidden ones included)."""
    principal = _active(session)
    return frozenset() if principal is None else principal.policy.not_editable(record_type)


def may(session: Session, record: Any, action: str) -> bool:
    """Whether the role may ``update`` or ``delete`` this record (to offer the buttons)."""
    kind = records.for_model(type(record))
    principal = _active(session)
    if kind is None or principal is None:
        return True
    if not principal.policy.can(kind.name, action):
        return False
    owners = principal.owners(session, kind.name)
    return owners is None or getattr(record, "owner_id", None) in owners


def require_may(session: Session, record: Any, action: str) -> None:
    """Refuse (403) a change to what belongs to ``record`` (its account team, notes, files)
    unless the role may ``action`` the record itself."""
    if not may(session, record, action):
        kind = records.for_model(type(record))
        label = kind.singular if kind else "record"
        raise PermissionDenied(f"Your role may not {_VERBS.get(action, action)} this {label}.")


def administers(session: Session) -> bool:
    """Whether the principal may shape the workspace (settings, members, keys, webhooks)."""
    principal = session.info.get(PRINCIPAL)
    return principal is None or principal.policy.administers


# -- reads -------------------------------------------------------------------------------------
def _restrict_reads(state: Any) -> None:
    if not state.is_select or state.execution_options.get("rapport_unrestricted"):
        return
    session = state.session
    principal = _active(session)
    if principal is None:
        return
    if principal._options is None:  # the same for every statement of the unit of work
        principal._options = _read_options(session, principal)
    if principal._options:
        state.statement = state.statement.options(*principal._options)


def _read_options(session: Session, principal: Principal) -> tuple[Any, ...]:
    options = []
    limited: dict[str, frozenset[uuid.UUID | None]] = {}
    for kind in records.all_types():
        owners = principal.owners(session, kind.name)
        if owners is None:
            continue
        limited[kind.name] = owners
        options.append(_criteria(kind.model, owners))
    if not limited:
        return ()
    from rapport.tenants.search.models import SearchEntry

    options.append(_search_criteria(SearchEntry, limited))
    return tuple(options)


def _criteria(model: Any, owners: frozenset[uuid.UUID | None]) -> Any:
    # One lambda per shape of SQL: a lambda's statement is cached by where it is written.
    ids = sorted(o for o in owners if o is not None)
    if None in owners:
        return with_loader_criteria(
            model,
            lambda cls: or_(cls.owner_id.in_(ids), cls.owner_id.is_(None)),
            include_aliases=True,
        )
    if not ids:
        return with_loader_criteria(model, lambda cls: false(), include_aliases=True)
    return with_loader_criteria(model, lambda cls: cls.owner_id.in_(ids), include_aliases=True)


def _search_criteria(model: Any, limited: dict[str, frozenset[uuid.UUID | None]]) -> Any:
    # A plain expression, not a lambda: its shape varies with the role, and a lambda's cached
    # SQL would be shared by every shape.
    names = sorted(limited)
    allowed = [
        and_(
            model.record_type == name,
            or_(model.owner_id.in_(sorted(i for i in ids if i)), model.owner_id.is_(None))
            if None in ids
            else model.owner_id.in_(sorted(ids)),
        )
        for name, ids in sorted(limited.items())
        if ids
    ]
    return with_loader_criteria(model, or_(model.record_type.not_in(names), *allowed))


# -- writes ------------------------------------------------------------------------------------
def _user_changes(obj: Any, kind: records.RecordType, session: Session) -> set[str]:
    """The fields of ``obj`` the user changed (derived custom values left out)."""
    from rapport.tenants.fields.queries import fields_for

    state = inspect(obj)
    changed: set[str] = set()
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        if attr.key == "custom":
            before = (history.deleted or [None])[0] or {}
            after = (history.added or [None])[0] or {}
            computed = {f.api_name for f in fields_for(session, kind.name) if f.type in _DERIVED}
            for key in set(before) | set(after):
                if key not in computed and before.get(key) != after.get(key):
                    changed.add(key)
        elif attr.key not in _BOOKKEEPING:
            changed.add(attr.key)
    return changed


_DERIVED = frozenset({"formula", "rollup"})


def _original_owner(obj: Any) -> Any:
    history = inspect(obj).attrs.owner_id.history
    if history.deleted:
        return history.deleted[0]
    return obj.owner_id


def _check_flush(session: Session, _context: Any, _instances: Any) -> None:
    principal = _active(session)
    if principal is None:
        return
    policy = principal.policy
    for obj in list(session.new):
        kind = records.for_model(type(obj))
        if kind is None:
            continue
        if not policy.can(kind.name, "create"):
            require(session, kind.name, "create")
        # What a person (or their key) creates unassigned is theirs, so they still see it.
        unassigned = getattr(obj, "owner_id", False) is None and principal.user_id is not None
        if unassigned and principal.owners(session, kind.name) is not None:
            obj.owner_id = principal.user_id
        custom = getattr(obj, "custom", None) or {}
        locked = policy.not_editable(kind.name) & set(custom)
        if locked:
            defaults = _defaults(session, kind.name)
            refused = sorted(k for k in locked if custom.get(k) != defaults.get(k))
            if refused:
                raise PermissionDenied(_locked_message(session, kind.name, refused))
    for obj in list(session.dirty):
        kind = records.for_model(type(obj))
        if kind is None or not session.is_modified(obj):
            continue
        changed = _user_changes(obj, kind, session)
        if not changed:
            continue
        _require_on(session, principal, kind, obj, "update")
        refused = sorted(changed & policy.not_editable(kind.name))
        if refused:
            raise PermissionDenied(_locked_message(session, kind.name, refused))
    for obj in list(session.deleted):
        kind = records.for_model(type(obj))
        if kind is not None:
            _require_on(session, principal, kind, obj, "delete")


def _require_on(
    session: Session, principal: Principal, kind: records.RecordType, obj: Any, action: str
) -> None:
    require(session, kind.name, action)
    owners = principal.owners(session, kind.name)
    if owners is not None and _original_owner(obj) not in owners:
        scope = _SCOPE[principal.policy.rule(kind.name).visibility]
        raise PermissionDenied(f"Your role may {_VERBS[action]} only {scope} {kind.label.lower()}.")


_SCOPE = {"own": "your own", "team": "your teams'", "all": "all"}


def _defaults(session: Session, record_type: str) -> dict[str, Any]:
    from rapport.tenants.fields.queries import fields_for

    return {f.api_name: f.default for f in fields_for(session, record_type)}


def _locked_message(session: Session, record_type: str, names: list[str]) -> str:
    from rapport.tenants.roles.fields import configurable

    labels = {f.name: f.label for f in configurable(session, record_type)}
    shown = ", ".join(labels.get(n, n) for n in names)
    return f"Your role may not change {shown}."


def install() -> None:
    if not event.contains(TenantSession, "do_orm_execute", _restrict_reads):
        event.listen(TenantSession, "do_orm_execute", _restrict_reads)
        event.listen(TenantSession, "before_flush", _check_flush)
