"""Every built-in role × every record type × every action, through the services.

The expected answer comes from the role's policy; the observed one from doing it. A record type
registered later without an entry in ``MINIMAL`` fails the test, so the matrix grows with it.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import select

from rapport.platform.db import db
from rapport.platform.errors import NotFound, PermissionDenied
from rapport.platform.identity.models import Membership, User
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import records
from rapport.tenants.roles import access
from rapport.tenants.roles import services as roles
from rapport.tenants.roles.policy import BUILT_IN_KEYS


def _tag() -> str:
    return secrets.token_hex(3)


#: The least input that creates a valid record of each type.
MINIMAL = {
    "companies": lambda t: {"name": f"Matrix Co {t}"},
    "contacts": lambda t: {"first_name": "Mat", "last_name": f"Rix {t}"},
    "leads": lambda t: {"last_name": f"Lead {t}", "company_name": f"Lead Co {t}"},
    "deals": lambda t: {"name": f"Deal {t}", "currency": "EUR"},
    "activities": lambda t: {"kind": "task", "subject": f"Task {t}", "due_at": "2026-12-01T09:00"},
}


@pytest.fixture(scope="module")
def workspace(app, tenant_b):  # type: ignore[no-untyped-def]
    from tests.conftest import make_tenant

    ws = make_tenant(app, "Matrix")
    users = {}
    with app.app_context():
        for role in BUILT_IN_KEYS:
            user = User(email=f"{role}-{_tag()}@matrix.example.com", name=f"Matrix {role}")
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, tenant_id=ws.ref.id, role=role))
            users[role] = user.id
        db.session.commit()
    return ws, users


def test_every_record_type_is_in_the_matrix(app):
    with app.app_context():
        assert set(records.names()) <= set(MINIMAL), "add the new record type to MINIMAL"


@pytest.mark.parametrize("role", BUILT_IN_KEYS)
def test_each_role_can_do_exactly_what_its_policy_says(app, tenant_b, workspace, role):
    ws, users = workspace
    me = users[role]
    with app.app_context():
        with tenant_session(ws.ref) as s:
            policy = roles.policy(s, role)
        for kind in records.all_types():
            create, update, delete = kind.writer.create, kind.writer.update, kind.writer.delete
            t = _tag()
            data = MINIMAL[kind.name](t)
            # create
            try:
                with tenant_session(ws.ref) as s:
                    access.bind(s, me, role)
                    create(s, data)
                created = True
            except PermissionDenied:
                created = False
            assert created == policy.can(kind.name, "create"), (role, kind.name, "create")
            # A record of the member's own, made by the system, for the other actions.
            with tenant_session(ws.ref) as s:
                record = create(s, {**MINIMAL[kind.name](_tag()), "owner_id": str(me)})
                record_id = record.id
            # read
            with tenant_session(ws.ref) as s:
                access.bind(s, me, role)
                seen = s.scalar(select(kind.model.id).where(kind.model.id == record_id))
            assert (seen is not None) == policy.can(kind.name, "read"), (role, kind.name, "read")
            # update
            try:
                with tenant_session(ws.ref) as s:
                    access.bind(s, me, role)
                    update(s, record_id, MINIMAL[kind.name](f"{t}u"), partial=True)
                updated = True
            except (PermissionDenied, NotFound):
                updated = False
            assert updated == policy.can(kind.name, "update"), (role, kind.name, "update")
            # delete
            try:
                with tenant_session(ws.ref) as s:
                    access.bind(s, me, role)
                    delete(s, record_id)
                deleted = True
            except (PermissionDenied, NotFound):
                deleted = False
            assert deleted == policy.can(kind.name, "delete"), (role, kind.name, "delete")
            with tenant_session(ws.ref) as s:
                still_there = s.get(kind.model, record_id) is not None
            assert still_there != deleted
            # tenant B never sees the matrix workspace's records
            with tenant_session(tenant_b.ref) as s:
                assert s.get(kind.model, record_id) is None


def test_visibility_own_team_all_in_lists(app, workspace):
    """Another member's deal: the rep does not see it, the manager does once they share a team."""
    from rapport.tenants.deals import services as deals
    from rapport.tenants.deals.models import Deal
    from rapport.tenants.teams import services as teams

    ws, users = workspace
    t = _tag()
    with app.app_context():
        with tenant_session(ws.ref) as s:
            deal = deals.create_deal(
                s, {"name": f"Shared {t}", "currency": "EUR", "owner_id": str(users["sales_rep"])}
            )
            deal_id = deal.id

        def sees(role: str) -> bool:
            with tenant_session(ws.ref) as s:
                access.bind(s, users[role], role)
                return s.scalar(select(Deal.id).where(Deal.id == deal_id)) is not None

        assert sees("sales_rep") and sees("read_only") and sees("admin")
        assert not sees("manager") and not sees("service_agent")
        with tenant_session(ws.ref) as s:
            team = teams.create_team(s, {"name": f"Team {t}"})
            teams.add_member(s, team.id, {"user_id": str(users["manager"])})
            teams.add_member(s, team.id, {"user_id": str(users["sales_rep"])})
        assert sees("manager")


def test_an_unknown_role_may_do_nothing(app, workspace):
    ws, _users = workspace
    with app.app_context(), tenant_session(ws.ref) as s:
        access.bind(s, uuid.uuid4(), "no_such_role")
        for kind in records.all_types():
            assert not access.can(s, kind.name, "read")
            assert s.scalars(select(kind.model.id).limit(1)).first() is None
