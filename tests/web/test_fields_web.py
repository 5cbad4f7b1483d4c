"""Custom fields in the browser: the settings screens and the record forms and pages."""

from __future__ import annotations

import contextlib
import secrets

import pytest

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.queries import fields_for


def api_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@pytest.fixture
def cleanup(app):
    made = []
    yield made
    with app.app_context():
        for tenant, name in made:
            with tenant_session(tenant.ref) as s:
                for f in fields_for(s, "companies", archived=True):
                    if f.api_name == name:
                        with contextlib.suppress(Exception):
                            fields.delete_field(s, f.id, name)


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
