"""From sign-up to the first contact, in a real browser."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_sign_up_then_add_a_contact(page, live_server, tenant_a):
    slug = f"e2e-{secrets.token_hex(3)}"
    email = f"founder@{slug}.example.com"

    page.goto("/signup")
    page.fill("input[name=company_name]", "Browser Test GmbH")
    page.fill("input[name=slug]", slug)
    page.fill("input[name=name]", "Erika Mustermann")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", f"a long and unusual passphrase {secrets.token_hex(4)}")
    page.get_by_role("button", name="Create workspace").click()

    expect(page).to_have_url(f"{live_server.url}/{slug}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Browser Test GmbH")

    page.locator("aside.sidebar").get_by_role("link", name="Contacts").click()
    expect(page).to_have_url(re.compile(rf"/{slug}/contacts/$"))
    expect(page.get_by_text("No contacts yet")).to_be_visible()

    page.get_by_role("link", name="New contact").click()
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Email", exact=True).fill("ada@analytical.example")
    page.get_by_role("button", name="Create contact").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Lovelace")
    expect(page.get_by_role("status")).to_contain_text("Contact “Ada Lovelace” created.")

    page.locator("aside.sidebar").get_by_role("link", name="Contacts").click()
    row = page.locator("table.list tbody tr", has_text="Ada Lovelace")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ada@analytical.example")

    # The other workspace present in this run shows none of it.
    page.goto(f"/{tenant_a.slug}/contacts/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
