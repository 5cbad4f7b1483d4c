"""Roles, permissions and modules in the browser and the API: what each member and key notices."""

from __future__ import annotations

import html
import re
import secrets

from sqlalchemy import select

from rapport.platform.apikeys import services as apikeys
from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import db
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.fields import services as fields
from rapport.tenants.leads import services as leads
from rapport.tenants.roles import services as roles
from rapport.tenants.roles.models import Role
from tests.conftest import add_member


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_an_owner_makes_a_custom_role_and_edits_its_matrix(app, client, auth, tenants):
    a, b = tenants
    name = f"Field agent {secrets.token_hex(2)}"
    auth.login_as(a)
    index = client.get(f"/{a.slug}/settings/roles/")
    assert index.status_code == 200
    for label in ("Owner", "Admin", "Manager", "Sales rep", "Service agent", "Read only"):
        assert label in text(index)
    created = auth.post(f"/{a.slug}/settings/roles/", {"name": name, "copy_of": "sales_rep"})
    assert created.status_code == 302
    edit_url = created.headers["Location"]
    page = text(client.get(edit_url))
    assert 'id="permission-matrix"' in page and name in page
    # Deals: read and edit own, no delete; companies' phone hidden.
    form = {"deals.read": "on", "deals.update": "on", "deals.visibility": "own"}
    for other in ("companies", "contacts", "leads", "activities"):
        form[f"{other}.read"] = "on"
        form[f"{other}.visibility"] = "all"
    form["field.companies.phone"] = "hidden"
    saved = auth.post(edit_url, {**form, "name": name}, follow=True)
    assert saved.status_code == 200 and "saved" in text(saved)
    with app.app_context():
        with tenant_session(a.ref) as s:
            role = s.scalars(select(Role).where(Role.name == name)).one()
            assert role.records["deals"]["delete"] is False
            assert role.records["deals"]["update"] is True
            assert role.fields == {"companies": {"phone": "hidden"}}
            actions = set(
                s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(role.id)))
            )
            assert {"role.created", "role.updated"} <= actions
        with tenant_session(b.ref) as s:
            assert s.scalars(select(Role).where(Role.name == name)).first() is None


def test_a_matrix_that_changes_without_reading_is_refused_next_to_the_row(
    app, client, auth, tenants
):
    a, _b = tenants
    auth.login_as(a)
    created = auth.post(f"/{a.slug}/settings/roles/", {"name": f"Odd {secrets.token_hex(2)}"})
    edit_url = created.headers["Location"]
    refused = auth.post(edit_url, {"deals.update": "on", "deals.visibility": "all"})
    assert refused.status_code == 422
    assert "must be able to read them" in text(refused)


def test_members_without_admin_rights_cannot_open_roles_or_modules(app, client, auth, tenants):
    a, _b = tenants
    person = add_member(app, a, "sales_rep")
    email, password, _ = person.email, person.password, person.user_id
    auth.login(email, password)
    assert client.get(f"/{a.slug}/settings/roles/").status_code == 403
    assert client.get(f"/{a.slug}/settings/modules/").status_code == 403


def test_a_service_agent_neither_sees_nor_opens_deals_and_leads(app, client, auth, tenants):
    a, _b = tenants
    person = add_member(app, a, "service_agent")
    email, password, _ = person.email, person.password, person.user_id
    auth.login(email, password)
    home = text(client.get(f"/{a.slug}/", follow_redirects=True))
    assert "Companies" in home
    assert f'href="/{a.slug}/deals/"' not in home and f'href="/{a.slug}/leads/"' not in home
    assert client.get(f"/{a.slug}/deals/").status_code == 403
    assert client.get(f"/{a.slug}/leads/").status_code == 403


def test_hidden_fields_are_absent_from_pages_lists_exports_and_the_api(
    app, client, auth, tenants, new_tenant
):
    ws = new_tenant("Hiding")
    _b = tenants[1]
    secret_phone, secret_tier = "+44 20 7946 0999", "Platinum-7"
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(
            s, {"record_type": "companies", "label": "Tier", "api_name": "tier", "type": "text"}
        )
        role = roles.create_role(s, "Analyst", copy_of="manager")
        roles.update_role(
            s, role.id, fields_spec={"companies": {"phone": "hidden", "tier": "hidden"}}
        )
        company = companies.create_company(
            s, {"name": "Hidden Ltd", "phone": secret_phone, "custom": {"tier": secret_tier}}
        )
        company_id, key = company.id, role.key
    person = add_member(app, ws, key)
    email, password, user_id = person.email, person.password, person.user_id
    auth.login(email, password)
    detail = text(client.get(f"/{ws.slug}/companies/{company_id}"))
    assert "Hidden Ltd" in detail
    assert secret_phone not in detail and secret_tier not in detail
    listing = text(client.get(f"/{ws.slug}/companies/?columns=name,phone,custom.tier"))
    assert "Hidden Ltd" in listing and secret_phone not in listing and secret_tier not in listing
    export = client.get(f"/{ws.slug}/companies/export.csv?columns=name,phone,custom.tier")
    assert export.status_code == 200
    csv_text = export.get_data(as_text=True)
    assert "Hidden Ltd" in csv_text and secret_phone not in csv_text and secret_tier not in csv_text
    # Filtering on a hidden field cannot reveal it either: a matching and a non-matching value
    # give the same answer.
    hit = text(client.get(f"/{ws.slug}/companies/?filter[phone][contains]=7946"))
    miss = text(client.get(f"/{ws.slug}/companies/?filter[phone][contains]=0000000"))
    assert ("Hidden Ltd" in hit) == ("Hidden Ltd" in miss)
    # The same role on an API key.
    with app.app_context():
        _key, token = apikeys.create_key(db.session, ws.ref, "analyst", key, created_by=user_id)
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get(f"/api/v1/companies/{company_id}", headers=headers)
    assert body.status_code == 200, body.get_data(as_text=True)
    assert "phone" not in body.get_json() and "tier" not in body.get_json()["custom"]
    document = client.get("/api/v1/openapi.json", headers=headers).get_json()
    company_schema = document["components"]["schemas"]["Company"]["properties"]
    assert "phone" not in company_schema and "name" in company_schema


def test_a_role_without_export_gets_no_export(app, client, auth, tenants):
    a, _b = tenants
    person = add_member(app, a, "sales_rep")
    email, password, _ = (
        person.email,
        person.password,
        person.user_id,
    )  # reps do not export by default
    auth.login(email, password)
    page = text(client.get(f"/{a.slug}/companies/"))
    assert "Export CSV" not in page
    assert client.get(f"/{a.slug}/companies/export.csv").status_code == 403


def test_a_module_switched_off_disappears_everywhere(app, client, auth, tenants, new_tenant):
    ws = new_tenant("Modular")
    _b = tenants[1]
    with app.app_context():
        with tenant_session(ws.ref) as s:
            lead = leads.create_lead(s, {"last_name": "Moduletest", "company_name": "Modco"})
            lead_id = lead.id
        _key, token = apikeys.create_key(db.session, ws.ref, "integration", "admin")
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    auth.login_as(ws)
    assert client.get(f"/{ws.slug}/leads/").status_code == 200
    switched = auth.post(f"/{ws.slug}/settings/modules/leads", {}, follow=True)
    assert "Leads is off" in text(switched)
    home = text(client.get(f"/{ws.slug}/", follow_redirects=True))
    assert f'href="/{ws.slug}/leads/"' not in home
    assert client.get(f"/{ws.slug}/leads/").status_code == 404
    assert client.get(f"/{ws.slug}/leads/{lead_id}").status_code == 404
    assert client.get("/api/v1/leads", headers=headers).status_code == 404
    assert client.get(f"/api/v1/leads/{lead_id}", headers=headers).status_code == 404
    document = client.get("/api/v1/openapi.json", headers=headers).get_json()
    assert not [p for p in document["paths"] if p.startswith("/api/v1/leads")]
    assert "/api/v1/companies" in document["paths"]
    found = text(client.get(f"/{ws.slug}/search/?q=Moduletest"))
    assert f"/leads/{lead_id}" not in found
    # On again: everything is back, the lead included.
    auth.post(f"/{ws.slug}/settings/modules/leads", {"enabled": "on"})
    assert client.get(f"/{ws.slug}/leads/{lead_id}").status_code == 200
    assert client.get(f"/api/v1/leads/{lead_id}", headers=headers).status_code == 200
    assert f"/leads/{lead_id}" in text(client.get(f"/{ws.slug}/search/?q=Moduletest"))
    with app.app_context(), tenant_session(ws.ref) as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "module.switched")).all()
        assert [e.changes for e in entries] == [{"leads": [True, False]}, {"leads": [False, True]}]


def test_a_read_only_field_is_shown_locked_and_kept_when_the_form_is_saved(
    app, client, auth, tenants, new_tenant
):
    ws = new_tenant("Locked")
    _b = tenants[1]
    with app.app_context(), tenant_session(ws.ref) as s:
        role = roles.create_role(s, "Clerk", copy_of="manager")
        roles.update_role(s, role.id, fields_spec={"companies": {"phone": "read_only"}})
        company = companies.create_company(s, {"name": "Kept Ltd", "phone": "+1 555 0100"})
        company_id, key = company.id, role.key
    person = add_member(app, ws, key)
    auth.login_as(person)
    form = text(client.get(f"/{ws.slug}/companies/{company_id}/edit"))
    locked = re.search(r'<fieldset class="locked" disabled>(.*?)</fieldset>', form, re.S)
    assert locked and 'name="phone"' in locked.group(1) and "+1 555 0100" in locked.group(1)
    # A disabled field is not sent: the company keeps its number, the rename goes through.
    saved = auth.post(f"/{ws.slug}/companies/{company_id}/edit", {"name": "Kept Renamed Ltd"})
    assert saved.status_code in (302, 303), text(saved)[:400]
    with app.app_context(), tenant_session(ws.ref) as s:
        from rapport.tenants.companies.models import Company

        company = s.get(Company, company_id)
        assert (company.name, company.phone) == ("Kept Renamed Ltd", "+1 555 0100")
    # Sending a new number anyway is refused, with the field named.
    refused = auth.post(
        f"/{ws.slug}/companies/{company_id}/edit", {"name": "Kept Renamed Ltd", "phone": "+1 9"}
    )
    assert refused.status_code in (403, 422) and "Phone" in text(refused)


def test_edit_and_delete_are_offered_only_to_roles_that_may(app, client, auth, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = companies.create_company(s, {"name": f"Buttons {secrets.token_hex(2)}"}).id
    edit = f'href="/{a.slug}/companies/{company_id}/edit"'
    delete = f'href="/{a.slug}/companies/{company_id}/delete"'
    auth.login_as(add_member(app, a, "read_only"))
    page = text(client.get(f"/{a.slug}/companies/{company_id}"))
    assert "Buttons" in page and edit not in page and delete not in page
    auth.logout()
    auth.login_as(a)
    page = text(client.get(f"/{a.slug}/companies/{company_id}"))
    assert edit in page and delete in page


def test_a_read_only_member_cannot_add_notes_or_change_the_account_team(app, client, auth, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = companies.create_company(s, {"name": f"Noted {secrets.token_hex(2)}"}).id
    auth.login_as(add_member(app, a, "read_only"))
    page = text(client.get(f"/{a.slug}/notes/companies/{company_id}"))
    assert "not add or remove them" in page
    refused = auth.post(
        f"/{a.slug}/notes/",
        {"record_type": "companies", "record_id": str(company_id), "body": "Sneaky"},
    )
    assert refused.status_code == 403
    refused = auth.post(
        f"/{a.slug}/companies/{company_id}/team", {"user_id": str(a.owner_id), "role": "support"}
    )
    assert refused.status_code == 403
    with app.app_context(), tenant_session(a.ref) as s:
        from rapport.tenants.notes import queries as notes

        assert notes.record_notes(s, "companies", company_id) == []


def test_hidden_fields_stay_hidden_on_other_records_pages_and_in_search(
    app, client, auth, tenants, new_tenant
):
    """A role hiding contacts' email and job title sees neither on the deal page's contacts,
    the contact's heading, or a search hit."""
    from rapport.tenants.contacts import services as contacts
    from rapport.tenants.deals import services as deals

    ws = new_tenant("Discreet")
    _b = tenants[1]
    with app.app_context(), tenant_session(ws.ref) as s:
        role = roles.create_role(s, "Discreet seller", copy_of="manager")
        roles.update_role(
            s, role.id, fields_spec={"contacts": {"email": "hidden", "title": "hidden"}}
        )
        contact = contacts.create_contact(
            s, {"first_name": "Ines", "last_name": "Quarrow", "title": "Chief Buyer",
                "emails": [{"email": "ines@secretbuyer.example", "is_primary": True}]},
        )  # fmt: skip
        deal = deals.create_deal(s, {"name": "Quarrow order", "currency": "EUR"})
        deals.add_contact(s, deal.id, {"contact_id": contact.id, "role": "Decision maker"})
        contact_id, deal_id, key = contact.id, deal.id, role.key
    person = add_member(app, ws, key)
    auth.login(person.email, person.password)
    deal_page = text(client.get(f"/{ws.slug}/deals/{deal_id}"))
    assert "Ines Quarrow" in deal_page and "secretbuyer" not in deal_page
    contact_page = text(client.get(f"/{ws.slug}/contacts/{contact_id}"))
    assert "Ines Quarrow" in contact_page
    assert "Chief Buyer" not in contact_page and "secretbuyer" not in contact_page
    link = f'href="/{ws.slug}/contacts/{contact_id}"'
    found = text(client.get(f"/{ws.slug}/search/?q=Quarrow"))
    assert link in found
    assert "secretbuyer" not in found and "Chief Buyer" not in found
    assert link not in text(client.get(f"/{ws.slug}/search/?q=secretbuyer"))


def test_export_follows_each_roles_export_right_on_every_list(app, client, auth, tenants):
    """Every built-in role × every list with an export: the CSV, or 403, as the policy says."""
    from rapport.tenants import records
    from rapport.tenants.roles.policy import BUILT_IN_KEYS

    a, _b = tenants
    exports = sorted(
        {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.endswith("_export")}
    )
    by_type = {}
    for rule in exports:
        segment = rule.split("/")[2]  # /<slug>/<record type>/…/export.csv
        if records.exists(segment):
            by_type[segment] = rule.replace("<slug>", a.slug)
    assert set(by_type) == set(records.names()), "a record type's list has no export"
    for role in BUILT_IN_KEYS:
        with app.app_context(), tenant_session(a.ref) as s:
            policy = roles.policy(s, role)
        person = add_member(app, a, role)
        auth.login(person.email, person.password)
        for record_type, url in by_type.items():
            allowed = policy.can(record_type, "read") and policy.can(record_type, "export")
            response = client.get(url)
            response.get_data()  # the CSV streams: read it to the end
            response.close()
            assert response.status_code == (200 if allowed else 403), (role, record_type)
            if allowed:
                assert response.mimetype == "text/csv"
        auth.logout()
