"""The interactive API documentation in a real browser: read an operation, then try it."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from rapport.platform.apikeys import services as apikeys
from rapport.platform.db import db
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields

pytestmark = pytest.mark.e2e


def test_an_admin_reads_the_documentation_and_tries_a_call(page, app, tenants):
    a, _b = tenants
    field = f"docs_{secrets.token_hex(3)}"
    with app.app_context():
        with tenant_session(a.ref) as s:
            fields.create_field(s, {"record_type": "companies", "api_name": field,
                                    "label": "Docs field", "type": "text"})  # fmt: skip
        _key, text = apikeys.create_key(db.session, a.ref, "docs page", "read_only")
        db.session.commit()

    page.goto(f"/login?next=/{a.slug}/settings/api-keys/")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/{a.slug}/settings/api-keys/")
    page.locator("#api-docs-link").click()
    expect(page.locator("h2#tag-companies")).to_be_visible()

    # The list operation: parameters, including the filter syntax, and the schemas.
    operation = page.locator("details[data-method='get'][data-path='/api/v1/companies']")
    operation.locator("summary").click()
    expect(operation).to_contain_text("cursor")
    # The tenant's custom field is in the Company schema.
    schema = page.locator("#schema-Company")
    schema.locator("summary").click()
    expect(schema).to_contain_text(field)
    expect(schema).to_contain_text("custom field")

    # Try it: without a key, a hint; with the key, the real answer.
    operation.get_by_role("button", name="Send GET").click()
    expect(operation.locator(".apidocs-result")).to_contain_text("Paste an API key")
    page.locator("#apidocs-key").fill(text)
    operation.get_by_role("button", name="Send GET").click()
    expect(operation.locator(".apidocs-result")).to_contain_text("200 OK")
    expect(operation.locator(".apidocs-result")).to_contain_text('"items"')
