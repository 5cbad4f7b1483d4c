"""The timeline panel on company, contact and deal pages: entries, kind filters without
JavaScript, "show more", and nothing from another workspace."""

from __future__ import annotations

import html
import re
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def panel(response) -> str:
    body = html.unescape(response.get_data(as_text=True))
    match = re.search(r'<section class="card timeline-panel".*?</section>', body, re.S)
    assert match, "the page has no timeline panel"
    return match.group(0)


def entry_titles(section: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", t).strip()
        for t in re.findall(r'class="tl-title">(.*?)</(?:a|strong)>', section, re.S)
    ]


def test_company_page_timeline_with_filters_and_show_more(app, client, auth, tenants):
    a, _b = tenants
    name, person = unique("Nimbus"), unique("Linus")
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = companies.create_company(s, {"name": name, "city": "Oslo"}).id
    with app.app_context(), tenant_session(a.ref) as s:
        companies.update_company(s, company_id, {"city": "Bergen"}, partial=True)
        contact_id = contacts.create_contact(
            s, {"first_name": person, "last_name": "T", "company_id": str(company_id)}
        ).id
    auth.login_as(a)
    page = client.get(f"/{a.slug}/companies/{company_id}")
    assert page.status_code == 200
    section = panel(page)
    assert entry_titles(section) == [
        f"Contact {person} T created",
        "Changed City",
        "Company created",
    ]
    assert re.search(
        r'<td class="before">Oslo</td>\s*<td class="arrow"[^>]*>→</td>\s*'
        r'<td class="after">Bergen</td>',
        section,
    )
    # The contact's entry links to the contact's page.
    assert f'href="/{a.slug}/contacts/{contact_id}"' in section
    # Filter links are plain links (no script needed) and keep the page.
    link = re.search(r'<a href="([^"]*timeline_kind=change[^"]*)"', section).group(1)
    assert link.startswith(f"/{a.slug}/companies/{company_id}?")
    filtered = panel(client.get(link))
    assert entry_titles(filtered) == ["Changed City"]
    assert 'class="active" aria-current="true">Field changes</a>' in filtered
    # Show more: a small page first, then the link that grows it.
    short = panel(client.get(f"/{a.slug}/companies/{company_id}?timeline_limit=1"))
    assert len(entry_titles(short)) == 1
    more = re.search(r'<a class="button secondary" href="([^"]+)">Show more</a>', short).group(1)
    assert "timeline_limit=21" in more
    assert len(entry_titles(panel(client.get(more)))) == 3


def test_contact_and_deal_pages_have_their_timelines(app, client, auth, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        contact_id = contacts.create_contact(s, {"first_name": "Ines", "last_name": unique("R")}).id
        deal_id = deals.create_deal(s, {"name": unique("Expansion"), "currency": "EUR"}).id
    auth.login_as(a)
    assert entry_titles(panel(client.get(f"/{a.slug}/contacts/{contact_id}"))) == [
        "Contact created"
    ]
    assert entry_titles(panel(client.get(f"/{a.slug}/deals/{deal_id}"))) == ["Deal created"]
    empty = panel(client.get(f"/{a.slug}/deals/{deal_id}?timeline_kind=stage"))
    assert "Nothing of this kind yet." in empty


def test_another_workspace_cannot_open_the_timeline(app, client, auth, tenants):
    a, b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = companies.create_company(s, {"name": unique("Private")}).id
    auth.login_as(b)
    assert client.get(f"/{b.slug}/companies/{company_id}").status_code == 404
    assert client.get(f"/{a.slug}/companies/{company_id}").status_code == 404


def test_a_logged_email_and_a_planned_call_read_in_the_members_zone(app, client, auth, tenants):
    import secrets

    from rapport.platform.db import db
    from rapport.platform.identity.models import User
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.activities import services as activities
    from rapport.tenants.companies import services as companies
    from tests.conftest import add_member

    a, b = tenants
    tag = secrets.token_hex(3)
    with app.app_context(), tenant_session(a.ref) as s:
        company = companies.create_company(s, {"name": f"Mailed {tag}"})
        link = [{"record_type": "companies", "record_id": str(company.id)}]
        sent = activities.create_activity(
            s, {"kind": "email", "subject": f"Sent the quote {tag}", "links": link}
        )
        activities.complete_activity(s, sent.id, {"outcome": "Quote attached"})
        activities.create_activity(
            s,
            {"kind": "call", "subject": f"Follow up {tag}", "due_at": "2031-06-02T01:30",
             "links": link},
        )  # fmt: skip
        company_id = company.id
    person = add_member(app, a, "manager")
    with app.app_context():
        db.session.get(User, person.user_id).timezone = "Asia/Tokyo"
        db.session.commit()
    auth.login_as(person)
    page = html.unescape(client.get(f"/{a.slug}/companies/{company_id}").get_data(as_text=True))
    assert f"Email: Sent the quote {tag}: Quote attached" in page
    assert f"Call: Follow up {tag} (planned)" in page
    assert "planned for 2031-06-02 10:30 JST" in page  # 01:30 UTC is 10:30 in Tokyo
    auth.logout()
    auth.login_as(b)
    assert client.get(f"/{b.slug}/companies/{company_id}").status_code == 404
