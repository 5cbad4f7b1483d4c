"""Custom fields in the browser: the settings screens and the record forms and pages."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.queries import fields_for


def api_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def test_admin_defines_a_field_and_the_company_form_validates_it(
    app, client, auth, tenant_a, tenant_b, cleanup
):
    name = api_name("employees")
    cleanup.append((tenant_a, name))
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/"
    assert "Fields" in client.get(f"/{tenant_a.slug}/settings/").get_data(as_text=True)
    bad = auth.post(
        base, {"record_type": "companies", "api_name": "Bad Name", "label": "X", "type": "text"}
    )
    assert bad.status_code == 422 and "lower-case" in bad.get_data(as_text=True)
    made = auth.post(base, {"record_type": "companies", "api_name": name, "label": "Employees",
                            "type": "integer", "min_value": "1", "section": "Size"})  # fmt: skip
    assert made.status_code == 303
    assert f"custom.{name}" in client.get(base + "?record_type=companies").get_data(as_text=True)

    form_page = client.get(f"/{tenant_a.slug}/companies/new").get_data(as_text=True)
    assert f'name="custom.{name}"' in form_page and "Size" in form_page
    refused = auth.post(f"/{tenant_a.slug}/companies/", {"name": "Web Co", f"custom.{name}": "0"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert f'id="e-custom.{name}"' in html and "Enter at least 1 (minimum)." in html
    saved = auth.post(f"/{tenant_a.slug}/companies/", {"name": "Web Co", f"custom.{name}": "250"})
    assert saved.status_code == 303
    detail = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Employees" in detail and "250" in detail

    auth.logout()
    auth.login_as(tenant_b)
    assert f"custom.{name}" not in client.get(f"/{tenant_b.slug}/companies/new").get_data(
        as_text=True
    )


def test_archive_hides_the_field_and_delete_needs_the_typed_name(
    app, client, auth, tenant_a, cleanup
):
    name = api_name("legacy")
    cleanup.append((tenant_a, name))
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        row = fields.create_field(
            s, {"record_type": "companies", "api_name": name, "label": "Legacy", "type": "text"}
        )
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/{row.id}"
    assert auth.post(f"{base}/archive", {"restore": "0"}).status_code == 303
    assert f"custom.{name}" not in client.get(f"/{tenant_a.slug}/companies/new").get_data(
        as_text=True
    )
    wrong = auth.post(f"{base}/delete", {"confirmation": "nope"})
    assert wrong.status_code == 422 and f"Type {name} to confirm" in wrong.get_data(as_text=True)
    assert auth.post(f"{base}/delete", {"confirmation": name}).status_code == 303
    assert client.get(f"{base}/edit").status_code == 404


def test_members_who_are_not_admins_cannot_open_field_settings(app, client, auth, tenant_b):
    # The owner can; an anonymous visitor is sent to sign in.
    assert client.get(f"/{tenant_b.slug}/settings/fields/").status_code in (302, 303)
    auth.login_as(tenant_b)
    assert client.get(f"/{tenant_b.slug}/settings/fields/").status_code == 200


# -- formulas, roll-ups, type changes and the form preview -----------------------------------------
def _field_id(app, tenant, record_type, name):  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return next(f.id for f in fields_for(s, record_type, archived=True) if f.api_name == name)


def test_formula_and_rollup_defined_in_the_browser_follow_web_edits(
    app, client, auth, tenant_a, tenant_b, cleanup
):
    shout, open_deals, pipeline = api_name("shout"), api_name("open"), api_name("pipe")
    cleanup.extend([(tenant_a, shout), (tenant_a, open_deals), (tenant_a, pipeline)])
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/"
    definition = {"record_type": "companies", "api_name": shout, "label": "Shout",
                  "type": "formula", "formula": "upper(name) & ",
                  "result_type": "text"}  # fmt: skip
    wrong = auth.post(base, definition)
    assert wrong.status_code == 422
    assert "At position 14: expected a value but found the end of the formula" in wrong.get_data(
        as_text=True
    )
    assert auth.post(base, {"record_type": "companies", "api_name": shout, "label": "Shout",
                            "type": "formula", "formula": "upper(name) & '!'",
                            "result_type": "text"}).status_code == 303  # fmt: skip
    assert auth.post(base, {"record_type": "companies", "api_name": open_deals,
                            "label": "Open deals", "type": "rollup",
                            "rollup_related": "deals:company_id", "rollup_aggregate": "count",
                            "rollup_filter_field": "status", "rollup_filter_value": "open"},
                     ).status_code == 303  # fmt: skip
    assert auth.post(base, {"record_type": "companies", "api_name": pipeline,
                            "label": "Pipeline value", "type": "rollup",
                            "rollup_related": "deals:company_id", "rollup_aggregate": "sum",
                            "rollup_field": "amount"}).status_code == 303  # fmt: skip
    listing = client.get(base + "?record_type=companies").get_data(as_text=True)
    assert "upper(name) &amp; &#39;!&#39;" in listing and "count of deals" in listing

    form_page = client.get(f"/{tenant_a.slug}/companies/new").get_data(as_text=True)
    assert f'name="custom.{shout}"' not in form_page  # calculated: shown, never an input
    assert "Calculated (formula)" in form_page
    made = auth.post(f"/{tenant_a.slug}/companies/",
                     {"name": "Hooli", f"custom.{shout}": "forged"})  # fmt: skip
    assert made.status_code == 303
    company_url = made.headers["Location"]
    assert "HOOLI!" in client.get(company_url).get_data(as_text=True)
    company_id = company_url.rstrip("/").rsplit("/", 1)[1]
    assert auth.post(f"{company_url}/edit", {"name": "Pied Piper"}).status_code == 303
    page = client.get(company_url).get_data(as_text=True)
    assert "PIED PIPER!" in page and "forged" not in page

    deal_form = {"name": "Web deal", "amount": "250", "currency": "EUR", "company_id": company_id}
    deal = auth.post(f"/{tenant_a.slug}/deals/", deal_form)
    assert deal.status_code == 303, deal.get_data(as_text=True)[:2000]
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        from rapport.tenants.companies.queries import get_company

        custom = get_company(s, company_id).custom
    assert (custom[open_deals], custom[pipeline]) == ("1", "250")
    assert auth.post(f"{deal.headers['Location']}/delete", {}).status_code == 303
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        custom = get_company(s, company_id).custom
    assert (custom[open_deals], custom[pipeline]) == ("0", "0")

    auth.logout()
    auth.login_as(tenant_b)
    other = client.get(f"/{tenant_b.slug}/settings/fields/?record_type=companies")
    assert shout not in other.get_data(as_text=True)


def test_type_change_shows_every_value_then_converts(app, client, auth, tenant_a, cleanup):
    from rapport.platform.audit.models import AuditEntry
    from rapport.tenants.companies import services as companies
    from rapport.tenants.companies.queries import get_company

    tier = api_name("tier")
    cleanup.append((tenant_a, tier))
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        fields.create_field(s, {"record_type": "companies", "api_name": tier, "label": "Tier",
                                "type": "text"})  # fmt: skip
        ids = [
            companies.create_company(s, {"name": f"Tiered {value}", "custom": {tier: value}}).id
            for value in ("gold", "silver", "gold", "not/valid")
        ]
    field_id = _field_id(app, tenant_a, "companies", tier)
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/{field_id}"
    assert "Change type" in client.get(f"{base}/edit").get_data(as_text=True)
    refused = client.get(f"{base}/type?new_type=date")
    assert refused.status_code == 422 and "can become" in refused.get_data(as_text=True)
    page = client.get(f"{base}/type?new_type=single_select")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Tiered silver" in html and "Tiered not/valid" in html
    assert "3 value(s) convert" in html and "1 won't convert and will be cleared" in html
    with app.app_context(), tenant_session(tenant_a.ref) as s:  # nothing changed yet
        assert get_company(s, ids[3]).custom[tier] == "not/valid"
    done = auth.post(f"{base}/type", {"new_type": "single_select", "confirm": "1"})
    assert done.status_code == 303
    assert "3 value(s) converted, 1 cleared" in client.get(done.headers["Location"]).get_data(
        as_text=True
    )
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        field = next(f for f in fields_for(s, "companies") if f.api_name == tier)
        assert field.type == "single_select"
        assert field.option_values() == ["gold", "silver"]
        assert get_company(s, ids[0]).custom[tier] == "gold"
        assert tier not in get_company(s, ids[3]).custom
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "field.type_changed", AuditEntry.target_id == str(field_id)
            )  # fmt: skip
        ).one()
        assert entry.changes["type"] == ["text", "single_select"]
        assert entry.changes["cleared"] == [None, 1]


def test_the_form_preview_follows_the_draft(app, client, auth, tenant_a, cleanup):
    name = api_name("draft")
    cleanup.append((tenant_a, name))
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/settings/fields/"
    index = client.get(base + "?record_type=contacts").get_data(as_text=True)
    assert "The form as your team sees it" in index and 'id="field-preview"' in index
    draft = {"record_type": "contacts", "api_name": name, "label": "Shoe size",
             "type": "integer", "required": "1", "section": "Personal",
             "help_text": "EU sizes"}  # fmt: skip
    partial = auth.post(base + "preview", draft)
    html = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "<html" not in html
    assert "Shoe size" in html and "Personal" in html and "EU sizes" in html
    assert 'class="req"' in html
    # Without JavaScript: the Preview button draws the same preview and saves nothing.
    shown = auth.post(base, {**draft, "preview": "1"})
    assert shown.status_code == 200 and "Shoe size" in shown.get_data(as_text=True)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert all(f.api_name != name for f in fields_for(s, "contacts", archived=True))
    assert auth.post(base, draft).status_code == 303
    field_id = _field_id(app, tenant_a, "contacts", name)
    edited = auth.post(base + "preview", {**draft, "label": "Shoe size (EU)",
                                          "field_id": str(field_id)})  # fmt: skip
    text = edited.get_data(as_text=True)
    assert "Shoe size (EU)" in text and text.count("Shoe size") == 1  # replaced, not added
