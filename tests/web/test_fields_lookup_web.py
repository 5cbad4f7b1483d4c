"""Record lookup fields in the browser: the settings screen, the record form, the record page, the
list and its CSV export, and a target deleted since."""

from __future__ import annotations

import csv
import html
import io
import re
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.deals import services as deals
from rapport.tenants.fields import lookup
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.queries import all_fields
from tests.conftest import add_member


def tag(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def text(response) -> str:
    return response.get_data(as_text=True)


def make_deal(app, tenant, deal_name: str):
    with app.app_context(), tenant_session(tenant.ref) as s:
        return deals.create_deal(s, {"name": deal_name, "currency": "EUR"})


def define_lookup(app, tenant, api_name: str, cleanup) -> None:
    cleanup.append((tenant, api_name))
    with app.app_context(), tenant_session(tenant.ref) as s:
        fields.create_field(
            s, {"record_type": "companies", "api_name": api_name, "label": "Main deal",
                "type": "lookup", "target": "deals"},
        )  # fmt: skip


def error_next_to(page: str, key: str) -> str:
    found = re.search(rf'id="e-{re.escape(key)}"[^>]*>\s*<span>([^<]*)</span>', page)
    assert found, f"no error next to {key}"
    return html.unescape(found.group(1))


def test_admin_defines_a_lookup_with_its_target_and_sees_it_in_the_preview(
    app, client, auth, tenant_a, tenant_b, cleanup
):
    api_name = tag("deal")
    cleanup.append((tenant_a, api_name))
    deal_name = f"Preview deal {secrets.token_hex(3)}"
    make_deal(app, tenant_a, deal_name)
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/"
    new_page = text(client.get(base + "new?record_type=companies"))
    assert '<option value="lookup"' in new_page and "Record lookup" in new_page
    assert 'name="target"' in new_page and '<option value="deals"' in new_page

    data = {"record_type": "companies", "api_name": api_name, "label": "Main deal",
            "type": "lookup"}  # fmt: skip
    refused = auth.post(base, data)
    assert refused.status_code == 422
    assert "record type" in error_next_to(text(refused), "target")

    preview = auth.post(base + "preview", {**data, "target": "deals"})
    assert "Main deal" in text(preview) and deal_name in text(preview)

    assert auth.post(base, {**data, "target": "deals"}).status_code == 303
    listed = text(client.get(base + "?record_type=companies"))
    assert f"custom.{api_name}" in listed and "Record lookup" in listed and "of deals" in listed
    (field,) = [f for f in _fields(app, tenant_a) if f.api_name == api_name]
    edit = text(client.get(f"{base}{field.id}/edit"))
    assert re.search(r'<option value="deals"\s+selected>', edit)
    change = text(client.get(f"{base}{field.id}/type?new_type=text"))
    assert "cannot change type" in change
    # Tenant B's settings know nothing of it.
    auth.logout()
    auth.login_as(tenant_b)
    assert api_name not in text(
        client.get(f"/{tenant_b.slug}/settings/fields/?record_type=companies")
    )


def _fields(app, tenant):
    with app.app_context(), tenant_session(tenant.ref) as s:
        return all_fields(s)


def test_the_record_form_picks_a_deal_and_the_page_list_and_csv_show_its_name(
    app, client, auth, tenant_a, tenant_b, cleanup
):
    api_name = tag("deal")
    key = f"custom.{api_name}"
    define_lookup(app, tenant_a, api_name, cleanup)
    deal_name = f"Lookup deal {secrets.token_hex(3)}"
    chosen = make_deal(app, tenant_a, deal_name)
    foreign = make_deal(app, tenant_b, f"B deal {secrets.token_hex(3)}")
    auth.login_as(tenant_a)
    slug = tenant_a.slug

    form = text(client.get(f"/{slug}/companies/new"))
    assert f'<select id="f-{key}" name="{key}">' in form
    assert f'<option value="{chosen.id}" >{deal_name}</option>' in form
    assert str(foreign.id) not in form

    company_name = f"Lookup Co {secrets.token_hex(3)}"
    refused = auth.post(f"/{slug}/companies/", {"name": company_name, key: str(foreign.id)})
    assert refused.status_code == 422
    assert error_next_to(text(refused), key) == "Choose a deal from the list."

    saved = auth.post(f"/{slug}/companies/", {"name": company_name, key: str(chosen.id)})
    assert saved.status_code == 303
    page = text(client.get(saved.headers["Location"]))
    assert f'<a href="/{slug}/deals/{chosen.id}">{deal_name}</a>' in page

    columns = f"applied=1&q={company_name}&col=name&col={key}"
    listed = text(client.get(f"/{slug}/companies/?{columns}"))
    assert deal_name in listed and str(chosen.id) not in listed.split("<tbody", 1)[1]
    exported = client.get(f"/{slug}/companies/export.csv?{columns}", buffered=True)
    rows = list(csv.reader(io.StringIO(text(exported).lstrip("\ufeff"))))
    assert rows == [["Name", "Main deal"], [company_name, deal_name]]

    row = f">{company_name}</a>"
    filtered = text(client.get(f"/{slug}/companies/?{columns}&ff={key}&fo=eq&fv={chosen.id}"))
    assert row in filtered
    assert row not in text(client.get(f"/{slug}/companies/?{columns}&ff={key}&fo=is_null&fv=yes"))
    assert row in text(client.get(f"/{slug}/companies/?{columns}&ff={key}&fo=is_null&fv=no"))


def test_a_deleted_target_reads_as_deleted_and_the_record_still_saves(
    app, client, auth, tenant_a, cleanup
):
    api_name = tag("deal")
    key = f"custom.{api_name}"
    define_lookup(app, tenant_a, api_name, cleanup)
    gone = make_deal(app, tenant_a, f"Gone deal {secrets.token_hex(3)}")
    company_name = f"Orphan Co {secrets.token_hex(3)}"
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company_id = companies.create_company(
            s, {"name": company_name, "custom": {api_name: str(gone.id)}}
        ).id
        deals.delete_deal(s, gone.id)
    auth.login_as(tenant_a)
    slug = tenant_a.slug

    page = client.get(f"/{slug}/companies/{company_id}")
    assert page.status_code == 200 and "(deleted)" in text(page)
    columns = f"applied=1&q={company_name}&col=name&col={key}"
    assert "(deleted)" in text(client.get(f"/{slug}/companies/?{columns}"))
    edit = text(client.get(f"/{slug}/companies/{company_id}/edit"))
    assert f'<option value="{gone.id}" selected>(deleted)</option>' in edit
    saved = auth.post(
        f"/{slug}/companies/{company_id}/edit", {"name": company_name + " b", key: str(gone.id)}
    )
    assert saved.status_code == 303


def test_many_records_make_a_text_input_that_takes_a_name(
    app, client, auth, tenant_a, cleanup, monkeypatch
):
    monkeypatch.setattr(lookup, "MAX_CHOICES", 1)
    api_name = tag("deal")
    key = f"custom.{api_name}"
    define_lookup(app, tenant_a, api_name, cleanup)
    deal_name = f"Typed deal {secrets.token_hex(3)}"
    chosen = make_deal(app, tenant_a, deal_name)
    make_deal(app, tenant_a, f"Other deal {secrets.token_hex(3)}")
    auth.login_as(tenant_a)
    slug = tenant_a.slug

    form = text(client.get(f"/{slug}/companies/new"))
    assert f'<input id="f-{key}" name="{key}" value="" list="l-{key}"' in form
    assert f'<datalist id="l-{key}">' in form

    company_name = f"Typed Co {secrets.token_hex(3)}"
    refused = auth.post(f"/{slug}/companies/", {"name": company_name, key: "No such deal"})
    assert refused.status_code == 422
    assert error_next_to(text(refused), key) == "Choose a deal from the list."
    assert 'value="No such deal"' in text(refused)

    saved = auth.post(f"/{slug}/companies/", {"name": company_name, key: deal_name.upper()})
    assert saved.status_code == 303
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        made = s.query(Company).filter(Company.name == company_name).one()
        assert made.custom[api_name] == str(chosen.id)
        company_id = made.id
    edit = text(client.get(f"/{slug}/companies/{company_id}/edit"))
    assert f'value="{deal_name}"' in edit and f'name="{key}.id" value="{chosen.id}"' in edit


def test_a_sales_rep_can_pick_only_deals_their_role_sees(
    app, client, auth, new_tenant, tenant_b, cleanup
):
    ws = new_tenant("Lookup rep")
    api_name = tag("deal")
    key = f"custom.{api_name}"
    define_lookup(app, ws, api_name, cleanup)
    rep, colleague = add_member(app, ws), add_member(app, ws)
    with app.app_context(), tenant_session(ws.ref) as s:
        own = deals.create_deal(
            s, {"name": "Rep's deal", "currency": "EUR", "owner_id": str(rep.user_id)}
        )
        theirs = deals.create_deal(
            s, {"name": "Colleague's deal", "currency": "EUR", "owner_id": str(colleague.user_id)}
        )
    auth.login_as(rep)
    form = text(client.get(f"/{ws.slug}/companies/new"))
    assert str(own.id) in form and str(theirs.id) not in form
    refused = auth.post(f"/{ws.slug}/companies/", {"name": "Rep Co", key: str(theirs.id)})
    assert refused.status_code == 422
    assert error_next_to(text(refused), key) == "Choose a deal from the list."
    saved = auth.post(f"/{ws.slug}/companies/", {"name": "Rep Co", key: str(own.id)})
    assert saved.status_code == 303
