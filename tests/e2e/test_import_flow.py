"""Importing contacts in a real browser: from the list's Import button through upload, mapping,
preview and run to the results and the download of the refused rows."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.contacts.models import Contact

pytestmark = pytest.mark.e2e


def test_import_contacts_from_the_list_page(page, live_server, app, tenants):
    a, _b = tenants
    tag = secrets.token_hex(3)
    raw = f"Given name;Surname;E-mail\nAda;Lovelace {tag};ada@example.com\nBad;Row {tag};nope\n"

    page.goto(f"/login?next=/{a.slug}/contacts/")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_label("Import into")).to_have_value("contacts")
    page.get_by_label("CSV or Excel file").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": raw.encode()}
    )
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Import contacts from people.csv")).to_be_visible()
    expect(page.get_by_label("Given name")).to_have_value("first_name")
    expect(page.get_by_label("Surname")).to_have_value("last_name")
    expect(page.get_by_label("E-mail")).to_have_value("email")
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview).to_contain_text("Preview: 1 of 2 rows would be imported")
    expect(preview).to_contain_text("Enter an email address")

    page.get_by_role("button", name="Import", exact=True).click()
    result = page.get_by_role("region", name="Import result")
    expect(result).to_contain_text("1 contact imported")
    expect(result).to_contain_text("1 row was not imported")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rows that were not imported").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "Given name,Surname,E-mail,errors"
    assert f"Bad,Row {tag},nope," in text
    with app.app_context(), tenant_session(a.ref) as s:
        names = s.scalars(select(Contact.last_name).where(Contact.last_name.like(f"% {tag}")))
        assert list(names) == [f"Lovelace {tag}"]
