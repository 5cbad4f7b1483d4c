"""Roles and permissions in the services: what each role may do and see, whatever the surface."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import func, select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, PermissionDenied, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import records
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.deals import services as deals
from rapport.tenants.deals.models import Deal
from rapport.tenants.fields import services as fields
from rapport.tenants.roles import access
from rapport.tenants.roles import services as roles
from rapport.tenants.roles.models import Role
from rapport.tenants.roles.policy import BUILT_IN_KEYS
from rapport.tenants.search import queries as search
from rapport.tenants.teams import services as teams
from tests.conftest import add_member


def tag() -> str:
    return secrets.token_hex(3)


def as_role(session, role: str, user_id: uuid.UUID | None = None) -> uuid.UUID:
    user_id = user_id or uuid.uuid4()
    access.bind(session, user_id, role)
    return user_id


def test_new_workspaces_get_the_built_in_roles(app, tenants):
    a, b = tenants
    with app.app_context():
        for t in (a, b):
            with tenant_session(t.ref) as s:
                keys = [r.key for r in roles.roles(s)]
                assert keys[: len(BUILT_IN_KEYS)] == list(BUILT_IN_KEYS)


def test_a_sales_rep_sees_every_company_but_only_their_own_deals(app, tenants, new_tenant):
    a, b = new_tenant("Roles"), tenants[1]
    t = tag()
    rep, other = add_member(app, a).user_id, add_member(app, a).user_id
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = companies.create_company(s, {"name": f"Shared {t}", "owner_id": str(other)})
            mine = deals.create_deal(
                s, {"name": f"Mine {t}", "owner_id": str(rep), "amount": "10", "currency": "EUR"}
            )
            theirs = deals.create_deal(
                s,
                {"name": f"Theirs {t}", "owner_id": str(other), "amount": "10", "currency": "EUR"},
            )
            company_id, mine_id, theirs_id = company.id, mine.id, theirs.id
        with tenant_session(a.ref) as s:
            as_role(s, "sales_rep", rep)
            names = set(s.scalars(select(Deal.name).where(Deal.name.like(f"%{t}"))))
            assert names == {f"Mine {t}"}
            assert s.get(Deal, theirs_id) is None
            assert s.get(Company, company_id) is not None
            count = s.scalar(select(func.count()).select_from(Deal).where(Deal.id == theirs_id))
            assert count == 0
            # Search follows the same rule.
            hits = search.search(s, t).hits
            assert {h.record_id for h in hits} >= {company_id, mine_id}
            assert theirs_id not in {h.record_id for h in hits}
        with tenant_session(a.ref) as s:
            as_role(s, "sales_rep", rep)
            deals.update_deal(
                s,
                mine_id,
                {"name": f"Mine {t}", "owner_id": str(rep), "amount": "12", "currency": "EUR"},
            )
        # Another rep in the same process sees their own, not the first rep's (no cached SQL).
        with tenant_session(a.ref) as s:
            as_role(s, "sales_rep", other)
            names = set(s.scalars(select(Deal.name).where(Deal.name.like(f"%{t}"))))
            assert names == {f"Theirs {t}"}
        with tenant_session(b.ref) as s:
            assert s.scalar(select(func.count()).where(Deal.name.like(f"%{t}"))) == 0


def test_a_rep_cannot_change_or_delete_a_colleagues_deal(app, tenants, new_tenant):
    a, b = new_tenant("Roles"), tenants[1]
    t = tag()
    rep, other = add_member(app, a).user_id, add_member(app, a).user_id
    with app.app_context():
        with tenant_session(a.ref) as s:
            theirs = deals.create_deal(
                s,
                {"name": f"Theirs {t}", "owner_id": str(other), "amount": "10", "currency": "EUR"},
            )
            deal_id = theirs.id
        with (
            pytest.raises(PermissionDenied, match="only your own deals"),
            tenant_session(a.ref) as s,
        ):
            as_role(s, "sales_rep", rep)
            deal = s.get(Deal, deal_id, execution_options={"rapport_unrestricted": True})
            deal.name = "Hijacked"
            s.flush()
        with tenant_session(a.ref) as s:
            assert s.get(Deal, deal_id).name == f"Theirs {t}"
        with tenant_session(b.ref) as s:
            assert s.get(Deal, deal_id) is None


def test_read_only_changes_nothing_and_says_why(app, tenants):
    a, b = tenants
    t = tag()
    with app.app_context():
        with (
            pytest.raises(PermissionDenied, match="may not create companies"),
            tenant_session(a.ref) as s,
        ):
            as_role(s, "read_only")
            companies.create_company(s, {"name": f"Nope {t}"})
        with tenant_session(a.ref) as s:
            assert s.scalar(select(Company.id).where(Company.name == f"Nope {t}")) is None


def test_a_manager_sees_their_teams_records_only(app, new_tenant):
    ws = new_tenant("Managed")
    manager, rep, outsider = (
        add_member(app, ws, "manager").user_id,
        add_member(app, ws).user_id,
        add_member(app, ws).user_id,
    )
    with app.app_context():
        with tenant_session(ws.ref) as s:
            team = teams.create_team(s, {"name": "North"})
            teams.add_member(s, team.id, {"user_id": str(manager)})
            teams.add_member(s, team.id, {"user_id": str(rep)})
            deals.create_deal(s, {"name": "Rep's", "owner_id": str(rep), "currency": "EUR"})
            deals.create_deal(s, {"name": "Manager's", "owner_id": str(manager), "currency": "EUR"})
            deals.create_deal(
                s, {"name": "Outsider's", "owner_id": str(outsider), "currency": "EUR"}
            )
        with tenant_session(ws.ref) as s:
            as_role(s, "manager", manager)
            assert set(s.scalars(select(Deal.name))) == {"Rep's", "Manager's"}
        with tenant_session(ws.ref) as s:
            as_role(s, "owner")
            assert len(s.scalars(select(Deal.name)).all()) == 3


def test_field_rules_refuse_changes_and_name_the_field(app, tenants, new_tenant):
    a, b = new_tenant("Roles"), tenants[1]
    t = tag()
    with app.app_context():
        with tenant_session(a.ref) as s:
            fields.create_field(
                s, {"record_type": "companies", "label": f"Tier {t}", "api_name": f"tier_{t}",
                    "type": "text"},
            )  # fmt: skip
            role = roles.create_role(s, f"Clerk {t}", copy_of="sales_rep")
            roles.update_role(
                s,
                role.id,
                records_spec={n: role.records[n] for n in records.names()},
                fields_spec={"companies": {f"tier_{t}": "read_only", "phone": "hidden"}},
            )
            company = companies.create_company(s, {"name": f"Fielded {t}"})
            key, company_id = role.key, company.id
        with tenant_session(a.ref) as s:
            as_role(s, key)
            assert access.hidden(s, "companies") == {"phone"}
            companies.update_company(s, company_id, {"name": f"Renamed {t}"})  # editable
        with pytest.raises(PermissionDenied, match=f"Tier {t}"), tenant_session(a.ref) as s:
            as_role(s, key)
            companies.update_company(
                s, company_id, {"name": f"Renamed {t}", "custom": {f"tier_{t}": "Gold"}}
            )
        with pytest.raises(PermissionDenied, match="Phone"), tenant_session(a.ref) as s:
            as_role(s, key)
            companies.update_company(
                s, company_id, {"name": f"Renamed {t}", "phone": "+1 555 0100"}
            )
        with tenant_session(a.ref) as s:
            company = s.get(Company, company_id)
            assert company.name == f"Renamed {t}" and not company.custom.get(f"tier_{t}")
        with tenant_session(b.ref) as s:
            assert roles.policy(s, key).key == ""  # the role exists in its workspace only


def test_custom_roles_are_validated_audited_and_kept_while_held(app, tenants):
    a, b = tenants
    t = tag()
    with app.app_context():
        with tenant_session(a.ref) as s:
            with pytest.raises(ValidationFailed) as bad:
                roles.create_role(s, "")
            assert "name" in bad.value.errors
            role = roles.create_role(s, f"Auditor {t}")
            with pytest.raises(ValidationFailed) as bad:
                roles.update_role(
                    s, role.id, records_spec={"deals": {"update": True, "read": False}}
                )
            assert "deals.read" in bad.value.errors
            with pytest.raises(PermissionDenied):
                owner = s.scalars(select(Role).where(Role.key == "owner")).one()
                roles.update_role(s, owner.id, records_spec={})
            role_id = role.id
        with tenant_session(b.ref) as s:
            assert s.scalar(select(Role).where(Role.name == f"Auditor {t}")) is None
        with tenant_session(a.ref) as s:
            actions = set(
                s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(role_id)))
            )
            assert "role.created" in actions
            roles.delete_role(s, role_id)
        with tenant_session(a.ref) as s:
            assert s.get(Role, role_id) is None


def test_a_role_held_by_a_member_cannot_be_deleted(app, tenants):
    a, b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        role = roles.create_role(s, f"Held {tag()}")
        key, role_id = role.key, role.id
    add_member(app, a, key)
    with app.app_context(), pytest.raises(Conflict, match="still hold"), tenant_session(a.ref) as s:
        roles.delete_role(s, role_id)


def test_roll_ups_count_every_record_whoever_changed_one(app, tenants, new_tenant):
    """A rep sees only their own deals, but the company's open total counts every deal."""
    a, b = new_tenant("Rolling"), tenants[1]
    rep, other = add_member(app, a).user_id, add_member(app, a).user_id
    with app.app_context():
        with tenant_session(a.ref) as s:
            fields.create_field(
                s,
                {"record_type": "companies", "label": "Open total", "api_name": "open_total",
                 "type": "rollup", "rollup_related": "deals:company_id", "rollup_aggregate": "sum",
                 "rollup_field": "amount", "rollup_filter_field": "status",
                 "rollup_filter_value": "open"},
            )  # fmt: skip
            company = companies.create_company(s, {"name": "Rolled"})
            deals.create_deal(
                s, {"name": "Theirs", "amount": "100", "currency": "EUR",
                    "company_id": str(company.id), "owner_id": str(other)},
            )  # fmt: skip
            mine = deals.create_deal(
                s, {"name": "Mine", "amount": "5", "currency": "EUR",
                    "company_id": str(company.id), "owner_id": str(rep)},
            )  # fmt: skip
            company_id, mine_id = company.id, mine.id
        with tenant_session(a.ref) as s:
            as_role(s, "sales_rep", rep)
            deals.update_deal(s, mine_id, {"amount": "7"}, partial=True)
        with tenant_session(a.ref) as s:
            assert s.get(Company, company_id).custom["open_total"] == "107"
        with tenant_session(b.ref) as s:
            assert s.get(Company, company_id) is None


def test_a_field_some_role_hides_is_not_searchable(app, tenants, new_tenant):
    from rapport.tenants.search.queries import search

    ws, b = new_tenant("Unsearchable"), tenants[1]
    with app.app_context():
        with tenant_session(ws.ref) as s:
            fields.create_field(
                s, {"record_type": "companies", "label": "Code", "api_name": "code", "type": "text"}
            )
            company = companies.create_company(
                s, {"name": "Quietco", "custom": {"code": "zebracode"}}
            )
            company_id = company.id
        with tenant_session(ws.ref) as s:
            assert [h.record_id for h in search(s, "zebracode").hits] == [company_id]
        with tenant_session(ws.ref) as s:
            role = roles.create_role(s, "Temp", copy_of="sales_rep")
            roles.update_role(s, role.id, fields_spec={"companies": {"code": "hidden"}})
            role_id = role.id
        # After the commit the index is rebuilt without the hidden field's text.
        with tenant_session(ws.ref) as s:
            assert search(s, "zebracode").hits == []
            assert [h.record_id for h in search(s, "Quietco").hits] == [company_id]
            companies.update_company(
                s, company_id, {"name": "Quietco", "custom": {"code": "zebracode2"}}
            )
        with tenant_session(ws.ref) as s:
            assert search(s, "zebracode2").hits == []
            roles.delete_role(s, role_id)  # nobody hides it any more: searchable again
        with tenant_session(ws.ref) as s:
            assert [h.record_id for h in search(s, "zebracode2").hits] == [company_id]
        with tenant_session(b.ref) as s:
            assert search(s, "Quietco").hits == []


def test_a_built_in_field_some_role_hides_is_neither_searched_nor_shown(app, tenants, new_tenant):
    from rapport.tenants.contacts import services as contacts
    from rapport.tenants.search.queries import search

    ws, b = new_tenant("Unlisted numbers"), tenants[1]
    contact = {
        "first_name": "Mira",
        "last_name": "Okafor",
        "emails": [{"email": "mira@zebrafin.example", "is_primary": True},
                   {"email": "mira.private@quagga.example"}],
        "phones": [{"phone": "+44 20 7946 0958", "is_primary": True}],
    }  # fmt: skip
    with app.app_context():
        with tenant_session(ws.ref) as s:
            contact_id = contacts.create_contact(s, contact).id
        with tenant_session(ws.ref) as s:
            for term in ("zebrafin", "quagga", "442079460958"):
                assert [h.record_id for h in search(s, term).hits] == [contact_id], term
        with tenant_session(ws.ref) as s:
            role = roles.create_role(s, "Call centre", copy_of="service_agent")
            roles.update_role(s, role.id, fields_spec={"contacts": {"email": "hidden"}})
        with tenant_session(ws.ref) as s:
            # Every address of theirs is out of the index and out of the hit's line.
            assert search(s, "zebrafin").hits == [] and search(s, "quagga").hits == []
            hits = search(s, "Okafor").hits
            assert [h.record_id for h in hits] == [contact_id]
            assert "zebrafin" not in (hits[0].subtitle or "")
            # The phone is not hidden: still found by its digits.
            assert [h.record_id for h in search(s, "442079460958").hits] == [contact_id]
        with tenant_session(b.ref) as s:
            assert search(s, "Okafor").hits == []
