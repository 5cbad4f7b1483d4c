"""Global search in a real browser: two Chinese characters in the top bar find a company."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services

pytestmark = pytest.mark.e2e


def test_search_two_chinese_characters_see_the_company_and_open_it(page, app, tenants):
    a, b = tenants
    name = f"深圳星河{secrets.token_hex(2)}电子有限公司"
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = str(services.create_company(s, {"name": name, "city": "深圳"}).id)
    with app.app_context(), tenant_session(b.ref) as s:
        other = f"星河{secrets.token_hex(2)}物流"
        services.create_company(s, {"name": other})

    page.goto(f"/login?next=/{a.slug}/companies/")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Companies")).to_be_visible()

    # "/" jumps to the search box from anywhere on the page.
    page.locator("body").press("/")
    box = page.get_by_role("combobox", name="Search companies, contacts, leads and deals")
    expect(box).to_be_focused()
    box.type("星河")

    # The suggestions list the company as you type; choosing it opens its page.
    option = page.get_by_role("option", name=name)
    expect(option).to_be_visible()
    expect(page.get_by_role("option").filter(has_text=other)).to_have_count(0)
    option.click()
    expect(page).to_have_url(f"{page.url.split('/' + a.slug)[0]}/{a.slug}/companies/{company_id}")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()

    # Enter without choosing a suggestion opens the results page, with the match highlighted.
    box = page.get_by_role("combobox", name="Search companies, contacts, leads and deals")
    box.fill("星河")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Results for “星河”")).to_be_visible()
    result = page.locator("li.search-hit", has_text=name)
    expect(result.locator("mark").first).to_have_text("星河")
    expect(page.locator("li.search-hit", has_text=other)).to_have_count(0)
    result.get_by_role("link").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Company created")
