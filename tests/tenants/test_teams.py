"""Teams and territories: membership queries, territory matching by priority, round-robin."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.teams import queries, services
from rapport.tenants.teams.models import Team
from rapport.tenants.teams.queries import Place


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def users(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))


def test_membership_queries_and_isolation(app, tenants):
    a, b = tenants
    alice, bob, carol = users(3)
    with app.app_context():
        with tenant_session(a.ref) as s:
            team = services.create_team(s, {"name": unique("Inside sales")})
            services.add_member(s, team.id, {"user_id": str(alice), "is_manager": True})
            services.add_member(s, team.id, {"user_id": str(bob)})
            other = services.create_team(s, {"name": unique("Field")})
            services.add_member(s, other.id, {"user_id": str(carol)})
            team_id = team.id
        with tenant_session(a.ref) as s:
            assert queries.team_member_ids(s, alice) == {alice, bob}
            assert queries.team_member_ids(s, carol) == {carol}
            assert [t.id for t in queries.teams_of(s, bob)] == [team_id]
            with pytest.raises(Conflict):
                services.add_member(s, team_id, {"user_id": str(bob)})
            entry = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.target_id == str(team_id), AuditEntry.action == "team.created"
                )
            ).one()
            assert entry.changes["name"][1].startswith("Inside sales")
        with tenant_session(b.ref) as s:
            assert s.get(Team, team_id) is None
            assert queries.team_member_ids(s, alice) == {alice}
            with pytest.raises(NotFound):
                services.add_member(s, team_id, {"user_id": str(alice)})


def test_only_workspace_members_join_and_names_are_unique(app, tenant_a):
    outsider, member = users(2)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        name = unique("Dup")
        team = services.create_team(s, {"name": name})
        with pytest.raises(ValidationFailed) as exc:
            services.create_team(s, {"name": name.upper()})
        assert "name" in exc.value.errors
        with pytest.raises(ValidationFailed) as exc:
            services.add_member(s, team.id, {"user_id": str(outsider)}, allowed={member})
        assert exc.value.errors["user_id"] == ["Choose a member of this workspace."]


def test_territory_rules_match_by_priority(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        dach, banks = (
            services.create_team(s, {"name": unique("DACH")}),
            services.create_team(s, {"name": unique("Banks")}),
        )
        tag = secrets.token_hex(3)
        services.create_territory(
            s,
            {"name": unique("DACH"), "team_id": str(dach.id), "priority": 500,
             "countries": "de, AT\nch", "regions": ""},
        )  # fmt: skip
        services.create_territory(
            s,
            {"name": unique("Banks in Bavaria"), "team_id": str(banks.id), "priority": 900,
             "countries": ["DE"], "regions": [f"Bavaria {tag}"], "industries": [f"Banking {tag}"]},
        )  # fmt: skip
        found = queries.territory_for(s, Place("DE", f"bavaria {tag}", f"banking {tag}"))
        assert found is not None and found.team_id == banks.id
        found = queries.territory_for(s, Place("AT", None, f"Banking {tag}"))
        assert found is not None and found.team_id == dach.id
        with pytest.raises(ValidationFailed) as exc:
            services.create_territory(
                s, {"name": unique("Nowhere"), "team_id": str(dach.id), "countries": "XX"}
            )
        assert "countries" in exc.value.errors


def test_round_robin_takes_turns_and_survives_membership_changes(app, tenant_a):
    alice, bob, carol = users(3)
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            team = services.create_team(s, {"name": unique("RR")})
            for user in (alice, bob, carol):
                services.add_member(s, team.id, {"user_id": str(user)})
            team_id = team.id
        turns = []
        for _ in range(4):
            # Each turn in its own transaction: the cursor is kept in the team row.
            with tenant_session(tenant_a.ref) as s:
                turns.append(services.next_member(s, team_id))
        assert turns == [alice, bob, carol, alice]
        with tenant_session(tenant_a.ref) as s:
            bob_row = next(m for m in queries.members(s, team_id) if m.user_id == bob)
            services.remove_member(s, team_id, bob_row.id)
        with tenant_session(tenant_a.ref) as s:
            # Bob left after Alice's turn: Carol is next, nobody is skipped or served twice.
            assert services.next_member(s, team_id) == carol
            assert services.next_member(s, team_id) == alice


def test_new_companies_without_an_owner_are_routed_by_territory(app, tenants, new_tenant):
    from rapport.tenants.companies import services as companies
    from rapport.tenants.companies.models import Company
    from tests.conftest import add_member

    ws, b = new_tenant("Routing"), tenants[1]
    first, second = sorted((add_member(app, ws).user_id, add_member(app, ws).user_id))
    with app.app_context():
        with tenant_session(ws.ref) as s:
            team = services.create_team(s, {"name": "Nordics"})
            for user in (first, second):
                services.add_member(s, team.id, {"user_id": str(user)})
            services.create_territory(
                s, {"name": "Nordics", "team_id": str(team.id), "countries": ["SE", "NO"]}
            )
            owners = [
                companies.create_company(s, {"name": f"Nordic {i}", "country": "SE"}).owner_id
                for i in range(3)
            ]
            elsewhere = companies.create_company(s, {"name": "Lisbon", "country": "PT"})
            chosen = companies.create_company(
                s, {"name": "Chosen", "country": "NO", "owner_id": str(second)}
            )
            assert owners == [first, second, first]  # in turn
            assert elsewhere.owner_id is None  # no territory matches
            assert chosen.owner_id == second  # an explicit owner stays
            company_id = elsewhere.id
            notes = s.scalars(
                select(AuditEntry.note)
                .where(AuditEntry.action == "company.created")
                .order_by(AuditEntry.seq)
            ).all()
            assert notes == ["Owner from territory Nordics, round-robin"] * 3 + [None, None]
        with tenant_session(b.ref) as s:
            assert s.get(Team, team.id) is None
            assert s.get(Company, company_id) is None
