"""Companies in the browser: forms, list (search, sort, paging), history, delete, isolation."""

from __future__ import annotations

import html
import re
import secrets
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.contacts.models import Contact


def fresh_workspace(app, name: str) -> SimpleNamespace:
    """A workspace of its own, signed up as a visitor would."""
    from rapport.platform.identity.services import sign_up

    slug = f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}"
    email, password = f"owner@{slug}.example.com", f"a long passphrase {secrets.token_hex(4)}"
    with app.app_context():
        sign_up(company_name=name, slug=slug, owner_name="Owner", email=email, password=password)
    return SimpleNamespace(slug=slug, owner_email=email, owner_password=password)


def shows_change(body: str, before: str, after: str) -> bool:
    """Whether the history shows a field going from ``before`` to ``after``."""
    pattern = (
        rf'<td class="before[^"]*">{before}</td>\s*<td class="arrow"[^>]*>→</td>\s*'
        rf'<td class="after">{after}</td>'
    )
    return re.search(pattern, body) is not None


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_for(body: str, field: str) -> str | None:
    """The error shown next to a form field, if any."""
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def input_value(body: str, field: str) -> str | None:
    match = re.search(rf'<input id="f-{field}" name="{field}" type="[a-z]+" value="([^"]*)"', body)
    return html.unescape(match.group(1)) if match else None


def make_company(app, tenant, **data):
    with app.app_context(), tenant_session(tenant.ref) as s:
        company = services.create_company(s, {"name": f"Co {secrets.token_hex(3)}", **data})
        return company.id, company.name


def test_create_redirects_to_the_company_with_its_history(app, tenants, client, auth):
    a, _b = tenants
    auth.login_as(a)
    name = f"Initech {secrets.token_hex(3)}"
    response = auth.post(
        f"/{a.slug}/companies/",
        {"name": name, "website": "initech.example.com", "city": "Austin", "country": "US"},
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.search(rf"/{a.slug}/companies/[0-9a-f-]{{36}}$", location)
    detail = client.get(location)
    body = page_text(detail)
    assert detail.status_code == 200
    assert name in body and "https://initech.example.com" in body and "United States (US)" in body
    assert "created." in body  # the flash
    timeline = body[body.index('<ol class="timeline unified-timeline">') :]
    assert "Company created" in timeline and a.owner_email in timeline
    assert "<h2>History</h2>" not in body  # one chronological view, not two


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter the company's name."),
        ("name", "x" * 201, "Use at most 200 characters."),
        ("website", "not a web address", "Enter a web address"),
        ("country", "XX", "ISO 3166"),
        ("phone", "12", "5 to 20 digits"),
    ],
)
def test_bad_input_re_renders_the_form_with_the_message_by_the_field(
    app, tenants, client, auth, field, value, message
):
    a, _b = tenants
    auth.login_as(a)
    typed = {
        "name": "Typed Name",
        "city": "Typed City 東京",
        "industry": "software",
        field: value,
    }
    response = auth.post(f"/{a.slug}/companies/", typed)
    body = page_text(response)
    assert response.status_code == 422
    assert message in (error_for(body, field) or ""), body
    # Nothing the user typed is lost.
    assert input_value(body, "city") == "Typed City 東京"
    assert '<option value="software" selected>' in body
    if field != "country":
        assert input_value(body, field) == value
    else:
        assert f'<option value="{value}" selected>' in body
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.scalars(select(Company).where(Company.name == "Typed Name")).first() is None


def test_list_search_sort_and_paging(app, tenants, client, auth):
    a, b = tenants
    tag = f"lst{secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        for i in range(30):
            services.create_company(s, {"name": f"{tag} {i:02d}"})
        services.create_company(s, {"name": f"北京科技有限公司 {tag}"})
    auth.login_as(a)
    first = page_text(client.get(f"/{a.slug}/companies/?q={tag.upper()}"))
    assert "31 companies matching" in first
    names = re.findall(rf">({tag} \d\d|北京科技有限公司 {tag})</a>", first)
    assert len(names) == 25
    assert names == sorted(names, key=str.lower)
    next_link = re.search(r'<a class="button secondary" rel="next" href="([^"]+)"', first)
    assert next_link and 'rel="prev"' not in first
    second = page_text(client.get(html.unescape(next_link.group(1))))
    rest = re.findall(rf">({tag} \d\d|北京科技有限公司 {tag})</a>", second)
    assert len(rest) == 6 and not set(rest) & set(names)
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # Sorting by name, descending, from the column header link.
    desc = page_text(client.get(f"/{a.slug}/companies/?q={tag}&sort=-name"))
    desc_names = re.findall(rf">({tag} \d\d)</a>", desc)
    assert desc_names[:3] == [f"{tag} 29", f"{tag} 28", f"{tag} 27"]
    assert 'aria-sort="descending"' in desc
    # CJK search: two characters find the company whose name contains them.
    cjk = page_text(client.get(f"/{a.slug}/companies/?q=科技"))
    assert f"北京科技有限公司 {tag}" in cjk
    # Nothing matches: an empty state with a way back.
    none = page_text(client.get(f"/{a.slug}/companies/?q=zz-{tag}-nothing"))
    assert "No company matches" in none
    # Junk in the query string never breaks the page.
    assert client.get(f"/{a.slug}/companies/?sort=drop&cursor=%%%").status_code == 200
    assert client.get(f"/{a.slug}/companies/?q=%00{tag}").status_code == 200
    nul = auth.post(f"/{a.slug}/companies/", {"name": "Nul\x00Co"})
    assert nul.status_code == 422 and "control characters" in (
        error_for(page_text(nul), "name") or ""
    )
    # Tenant B sees none of it, by list or by search.
    auth.logout()
    auth.login_as(b)
    other = page_text(client.get(f"/{b.slug}/companies/?q={tag}"))
    assert "0 companies matching" in other and f">{tag} " not in other
    assert f">{tag} " not in page_text(client.get(f"/{b.slug}/companies/?sort=-created"))


def test_edit_shows_before_and_after_in_history(app, tenants, client, auth):
    a, _b = tenants
    company_id, name = make_company(app, a, city="Palo Alto")
    auth.login_as(a)
    form = page_text(client.get(f"/{a.slug}/companies/{company_id}/edit"))
    assert input_value(form, "name") == name and input_value(form, "city") == "Palo Alto"
    response = auth.post(
        f"/{a.slug}/companies/{company_id}/edit", {"name": name, "city": "Mountain View"}
    )
    assert response.status_code == 303
    body = page_text(client.get(response.headers["Location"]))
    timeline = body[body.index('<ol class="timeline unified-timeline">') :]
    assert "Changed City" in timeline
    assert shows_change(timeline, "Palo Alto", "Mountain View")
    assert timeline.index("Changed City") < timeline.index("Company created")
    bad = auth.post(f"/{a.slug}/companies/{company_id}/edit", {"name": "", "city": "Kept"})
    assert bad.status_code == 422
    assert error_for(page_text(bad), "name") == "Enter the company's name."
    assert input_value(page_text(bad), "city") == "Kept"


def test_delete_asks_first_and_keeps_the_contacts(app, tenants, client, auth):
    a, _b = tenants
    company_id, name = make_company(app, a)
    with app.app_context(), tenant_session(a.ref) as s:
        contact_id = contact_services.create_contact(
            s, {"last_name": "Kept", "company_id": str(company_id)}
        ).id
    auth.login_as(a)
    confirm = page_text(client.get(f"/{a.slug}/companies/{company_id}/delete"))
    assert f"Delete {name}?" in confirm
    assert "1 contact" in confirm and "will be kept, without a company" in confirm
    response = auth.post(f"/{a.slug}/companies/{company_id}/delete", {})
    assert response.status_code == 303
    listing = page_text(client.get(response.headers["Location"]))
    assert f"Company “{name}” deleted. Its contact remains, without a company." in listing
    assert client.get(f"/{a.slug}/companies/{company_id}").status_code == 404
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.get(Contact, contact_id).company_id is None


def test_another_tenant_cannot_reach_the_company(app, tenants, client, auth):
    a, b = tenants
    company_id, name = make_company(app, a)
    auth.login_as(b)
    # A's record id under B's slug: not found, whatever the verb.
    assert client.get(f"/{b.slug}/companies/{company_id}").status_code == 404
    assert client.get(f"/{b.slug}/companies/{company_id}/edit").status_code == 404
    assert (
        auth.post(f"/{b.slug}/companies/{company_id}/edit", {"name": "Hijacked"}).status_code == 404
    )
    assert auth.post(f"/{b.slug}/companies/{company_id}/delete", {}).status_code == 404
    # A's workspace itself: B's owner is not a member, so it does not exist for them.
    assert client.get(f"/{a.slug}/companies/").status_code == 404
    assert client.get(f"/{a.slug}/companies/{company_id}").status_code == 404
    assert f">{name}</a>" not in page_text(client.get(f"/{b.slug}/companies/?q={name}"))
    assert f">{name}</a>" not in page_text(client.get(f"/{b.slug}/companies/?sort=-created"))
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.get(Company, company_id).name == name


def test_signed_out_visitors_are_sent_to_sign_in(app, tenants, client):
    a, _b = tenants
    response = client.get(f"/{a.slug}/companies/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_state_and_csrf(app, client, auth):
    fresh = fresh_workspace(app, "Empty Co")  # a new workspace has no records yet
    auth.login_as(fresh)
    body = page_text(client.get(f"/{fresh.slug}/companies/"))
    assert "No companies yet" in body and "Add your first company" in body
    forged = client.post(f"/{fresh.slug}/companies/", data={"name": "Forged"})
    assert forged.status_code == 400
    assert client.get(f"/{fresh.slug}/companies/new").status_code == 200
