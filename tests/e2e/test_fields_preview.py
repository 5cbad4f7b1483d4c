"""The field settings in a real browser: the form preview follows the draft as the admin types,
and the settings shown follow the chosen type."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_the_form_preview_follows_the_draft_while_typing(page, live_server, app, tenants):
    a, _b = tenants
    page.goto(f"/login?next=/{a.slug}/settings/fields/new?record_type=contacts")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/{a.slug}/settings/fields/new?record_type=contacts")

    preview = page.locator("#field-preview")
    formula_box = page.locator("fieldset.computed-settings[data-for='formula']")
    expect(formula_box).to_be_hidden()  # a text field has no formula settings
    expect(page.get_by_role("button", name="Preview")).to_be_hidden()  # JS previews by itself

    label = f"Favourite colour {secrets.token_hex(2)}"
    page.locator("#f-label").fill(label)
    page.locator("#f-section").fill("About them")
    page.locator("#f-help_text").fill("Ask at the first meeting")
    page.locator("input[name=required]").check()
    expect(preview).to_contain_text(label)
    expect(preview).to_contain_text("About them")
    expect(preview).to_contain_text("Ask at the first meeting")
    expect(preview.locator(".req").last).to_be_visible()

    page.locator("#f-type").select_option("formula")
    expect(formula_box).to_be_visible()
    expect(preview).to_contain_text("Calculated (formula)")
    page.locator("#f-type").select_option("text")
    expect(formula_box).to_be_hidden()
