"""Picklists in the browser and the API: the admin pages, and forms, lists and the API following
the tenant's lists."""

from __future__ import annotations

import html
import re

from rapport.platform.db import db
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.leads import services as lead_services
from rapport.tenants.picklists import queries
from tests.conftest import add_member


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def option_id(app, tenant, list_key: str, value: str) -> str:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return str(queries.find(s, list_key, value).id)


def select_values(body: str, name: str) -> list[str]:
    """The option values of the <select name=...> on a page."""
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
    assert match, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def test_admin_shapes_the_lead_statuses_and_the_leads_list_follows(app, client, auth, new_tenant):
    t = new_tenant("Picklists web")
    auth.login_as(t)
    base = f"/{t.slug}/settings/picklists"
    overview = page_text(client.get(f"/{t.slug}/settings/"))
    assert "Picklists" in overview
    index = page_text(client.get(base + "/"))
    for title in ("Lead statuses", "Lead sources", "Activity types", "Loss reasons", "Industries"):
        assert title in index
    assert client.get(base + "/nonsense").status_code == 404

    page = base + "/lead_status"
    refused = auth.post(page, {"label": "", "meaning": "open"})
    assert refused.status_code == 422
    body = page_text(refused)
    assert re.search(r'id="e-label"[^>]*>\s*<span>Enter a label\.</span>', body), body
    assert auth.post(page, {"label": "Nurturing", "meaning": "open"}).status_code == 303
    listed = page_text(client.get(page))
    assert 'id="option-nurturing"' in listed and 'value="Nurturing"' in listed

    new_id = option_id(app, t, "lead_status", "new")
    renamed = auth.post(f"{page}/{new_id}", {"label": "Fresh", "colour": "#3366ff"})
    assert renamed.status_code == 303
    bad_colour = auth.post(f"{page}/{new_id}", {"label": "Fresh", "colour": "blue"})
    assert bad_colour.status_code == 422 and "Use a colour such as" in page_text(bad_colour)
    nurturing = option_id(app, t, "lead_status", "nurturing")
    assert auth.post(f"{page}/{nurturing}/shift", {"direction": "up"}).status_code == 303
    working = option_id(app, t, "lead_status", "working")
    assert auth.post(f"{page}/{working}/retire", {}).status_code == 303
    converted = option_id(app, t, "lead_status", "converted")
    kept = auth.post(f"{page}/{converted}/retire", {})
    assert kept.status_code == 409 and "cannot be retired" in page_text(kept)
    # An option of another list is not this page's business.
    source = option_id(app, t, "lead_source", "partner")
    assert auth.post(f"{page}/{source}/retire", {}).status_code == 404

    with app.app_context(), tenant_session(t.ref) as s:
        values = [o.value for o in queries.options(s, "lead_status")]
        assert values == ["new", "qualified", "unqualified", "nurturing", "converted"]
        lead_services.create_lead(s, {"last_name": "Lovelace"})
    leads = page_text(client.get(f"/{t.slug}/leads/"))
    assert "Lovelace" in leads and "Fresh" in leads
    form = page_text(client.get(f"/{t.slug}/leads/new"))
    assert select_values(form, "status") == ["new", "qualified", "unqualified", "nurturing"]
    assert auth.post(f"{page}/{working}/restore", {}).status_code == 303
    form = page_text(client.get(f"/{t.slug}/leads/new"))
    assert "working" in select_values(form, "status")


def test_a_retired_source_is_not_offered_but_stays_on_its_lead(app, client, auth, new_tenant):
    t = new_tenant("Picklists retire")
    with app.app_context(), tenant_session(t.ref) as s:
        lead_id = lead_services.create_lead(s, {"last_name": "Held", "source": "partner"}).id
    auth.login_as(t)
    partner = option_id(app, t, "lead_source", "partner")
    assert (
        auth.post(f"/{t.slug}/settings/picklists/lead_source/{partner}/retire", {}).status_code
        == 303
    )
    new_form = page_text(client.get(f"/{t.slug}/leads/new"))
    assert "partner" not in select_values(new_form, "source")
    assert "referral" in select_values(new_form, "source")
    edit_form = page_text(client.get(f"/{t.slug}/leads/{lead_id}/edit"))
    assert "partner" in select_values(edit_form, "source")  # the lead keeps it
    assert '<option value="partner" selected>' in edit_form
    detail = page_text(client.get(f"/{t.slug}/leads/{lead_id}"))
    assert "Partner" in detail
    refused = auth.post(
        f"/{t.slug}/leads/", {"last_name": "Late", "source": "partner", "status": "new"}
    )
    assert refused.status_code == 422
    assert "no longer used" in page_text(refused)


def test_only_owners_and_admins_manage_picklists(app, client, auth, tenant_a):
    rep = add_member(app, tenant_a, "sales_rep")
    auth.login(rep.email, rep.password)
    base = f"/{tenant_a.slug}/settings/picklists"
    assert client.get(base + "/").status_code == 403
    assert client.get(base + "/industry").status_code == 403
    token = auth.csrf(f"/{tenant_a.slug}/leads/")
    posted = client.post(base + "/industry", data={"label": "Hacking", "csrf_token": token})
    assert posted.status_code == 403
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert not any(o.label == "Hacking" for o in queries.options(s, "industry", retired=True))
    auth.logout()
    admin = add_member(app, tenant_a, "admin")
    auth.login(admin.email, admin.password)
    assert client.get(base + "/industry").status_code == 200


def test_the_api_refuses_an_unknown_source_and_documents_the_values(app, client, tenant_a):
    from rapport.platform.apikeys import services as keys

    with app.app_context():
        _key, text = keys.create_key(db.session, tenant_a.ref, "picklists", "admin")
        db.session.commit()
    headers = {"Authorization": f"Bearer {text}"}
    bad = client.post(
        "/api/v1/leads", json={"last_name": "X", "source": "carrier_pigeon"}, headers=headers
    )
    assert bad.status_code == 422, bad.get_json()
    assert bad.get_json()["errors"]["json"]["source"] == ["Choose a source from the list."]
    document = client.get("/api/v1/openapi.json", headers=headers).get_json()
    lead_input = document["components"]["schemas"]["LeadInput"]["properties"]
    assert "referral" in lead_input["source"]["enum"]
    assert "converted" not in lead_input["status"]["enum"]  # only converting sets it
    assert (
        "software" in document["components"]["schemas"]["Company"]["properties"]["industry"]["enum"]
    )
