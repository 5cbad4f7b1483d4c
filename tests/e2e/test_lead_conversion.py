"""Converting a lead in a real browser: the duplicate company is offered, the user merges into
it, opens a deal on the way, and the lead links to what it became."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.leads import services
from rapport.tenants.leads.models import Lead

pytestmark = pytest.mark.e2e


def test_convert_a_lead_merging_into_the_existing_company(page, live_server, app, tenants):
    a, b = tenants
    tag = secrets.token_hex(3)
    company_name = f"Stark Industries {tag}"
    with app.app_context(), tenant_session(a.ref) as s:
        company = company_services.create_company(
            s, {"name": f"{company_name} Inc.", "website": f"https://stark-{tag}.example"}
        )
        lead = services.create_lead(
            s,
            {"first_name": "Pepper", "last_name": f"Potts {tag}", "company_name": company_name,
             "email": f"pepper@stark-{tag}.example", "title": "CEO"},
        )  # fmt: skip
        company_id, lead_id = str(company.id), lead.id

    page.goto(f"/login?next=/{a.slug}/leads/")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/{a.slug}/leads/?q=Potts+{tag}")
    page.get_by_role("link", name=f"Pepper Potts {tag}").click()
    page.get_by_role("link", name="Convert").click()

    companies = page.locator("fieldset", has=page.get_by_text("Company", exact=True))
    merge = companies.get_by_role("radio", name=f"Merge into {company_name} Inc.")
    expect(merge).to_be_visible()
    expect(companies).to_contain_text("same name")
    expect(companies).to_contain_text("email domain matches website")
    # Nothing is merged unless the user says so: choose the existing company explicitly.
    companies.get_by_role("radio", name=f"Create new company {company_name}").check()
    merge.check()
    expect(page.locator("#deal-fields")).to_be_hidden()
    page.get_by_label("Also open a deal").check()
    expect(page.locator("#deal-fields")).to_be_visible()
    page.get_by_label("Deal name").fill(f"Arc reactors {tag}")
    page.get_by_label("Amount").fill("250000")
    page.get_by_label("Currency").fill("USD")
    page.get_by_role("button", name="Convert lead").click()

    expect(page.get_by_role("status")).to_contain_text(f"Lead “Pepper Potts {tag}” converted.")
    conversion = page.get_by_role("region", name="Conversion")
    expect(conversion.get_by_role("link", name=f"{company_name} Inc.")).to_have_attribute(
        "href", f"/{a.slug}/companies/{company_id}"
    )
    expect(conversion.get_by_role("link", name=f"Arc reactors {tag}")).to_be_visible()
    expect(page.get_by_role("link", name="Convert")).to_have_count(0)

    with app.app_context(), tenant_session(a.ref) as s:
        converted = s.get(Lead, lead_id)
        assert str(converted.converted_company_id) == company_id
        person = s.get(Contact, converted.converted_contact_id)
        assert str(person.company_id) == company_id and person.title == "CEO"

    # The other workspace cannot reach the lead.
    page.goto(f"/{b.slug}/leads/{lead_id}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_the_embed_snippet_works_from_another_site(page, live_server, app, tenants):
    a, b = tenants
    page.goto(f"/login?next=/{a.slug}/leads/capture-form")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    snippet = page.locator("#capture-snippet").input_value()
    assert f'action="{live_server.url}/forms/{a.slug}/leads"' in snippet

    # The customer's own page (no return_to: Rapport's thank-you page answers).
    name = f"Embedded {secrets.token_hex(3)}"
    other = page.context.new_page()
    other.set_content(
        "<h1>Acme's website</h1>" + snippet.replace('name="return_to"', 'name="unused"')
    )
    token = other.locator("input[name=_token]")
    expect(token).not_to_have_value("")  # embed.js wrote a fresh token
    other.get_by_label("Last name").fill(name)
    other.get_by_label("Email").fill("visitor@example.org")
    other.wait_for_timeout(3200)  # a person takes a few seconds; faster posts are refused
    other.get_by_role("button", name="Send").click()
    expect(other.get_by_role("heading", name="Thank you")).to_be_visible()

    page.goto(f"/{a.slug}/leads/?q={name}")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    page.get_by_role("link", name=name).click()
    expect(page.locator("dl.props").first).to_contain_text("Web form")
    with app.app_context(), tenant_session(b.ref) as s:
        assert s.scalars(select(Lead).where(Lead.last_name == name)).first() is None
