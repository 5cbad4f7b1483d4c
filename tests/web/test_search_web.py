"""Search in the browser: the box on every workspace page, the results page, suggestions."""

from __future__ import annotations

import html
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals


def tag() -> str:
    return "zw" + secrets.token_hex(4)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_every_workspace_page_has_the_search_box(client, auth, tenants):
    a, _b = tenants
    auth.login_as(a)
    for path in (f"/{a.slug}/", f"/{a.slug}/companies/", f"/{a.slug}/contacts/"):
        body = text(client.get(path, follow_redirects=True))
        assert 'role="search"' in body, path
        assert f'action="/{a.slug}/search/"' in body, path
    # Outside a workspace there is nothing to search.
    auth.logout()
    assert 'class="global-search"' not in text(client.get("/login"))


def test_results_are_ranked_grouped_highlighted_and_filtered_by_type(app, client, auth, tenants):
    a, _b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        company = companies.create_company(s, {"name": f"{word} Industries", "city": "Nantes"})
        contacts.create_contact(
            s, {"first_name": "Jeanne", "last_name": word, "company_id": str(company.id)}
        )
        deals.create_deal(s, {"name": f"Pilot {word}", "currency": "EUR"})
        company_id = company.id
    auth.login_as(a)
    response = client.get(f"/{a.slug}/search/", query_string={"q": word[:6]})
    body = text(response)
    assert response.status_code == 200
    assert f"Results for “{word[:6]}”" in body
    assert f'href="/{a.slug}/companies/{company_id}"' in body
    assert f"<mark>{word[:6]}</mark>{word[6:]} Industries" in body
    assert f"Jeanne <mark>{word[:6]}</mark>{word[6:]}" in body
    # The contact's line names its company, read fresh from the records.
    assert (
        f'<div class="hit-context muted"><mark>{word[:6]}</mark>{word[6:]} Industries</div>' in body
    )
    assert f"Pilot <mark>{word[:6]}</mark>" in body
    # The company (name starts with the query) is listed before the deal (contains it).
    assert body.index(f"{word[6:]} Industries") < body.index("Pilot <mark>")
    only = text(client.get(f"/{a.slug}/search/", query_string={"q": word, "type": "deals"}))
    assert f"Pilot <mark>{word}</mark>" in only
    assert "Industries</a>" not in only
    assert 'aria-current="true">Deals <span class="count">1</span>' in only


def test_empty_and_no_match_states_say_what_to_do(client, auth, tenants):
    a, _b = tenants
    auth.login_as(a)
    start = text(client.get(f"/{a.slug}/search/"))
    assert "Find anything in this workspace" in start
    nothing = text(client.get(f"/{a.slug}/search/", query_string={"q": tag()}))
    assert "No matches for" in nothing
    assert "Check the spelling" in nothing
    punctuation = text(client.get(f"/{a.slug}/search/", query_string={"q": "%%%"}))
    assert "Nothing to search for" in punctuation


def test_suggestions_list_the_best_matches_with_their_pages(app, client, auth, tenants):
    a, _b = tenants
    name = f"广州{secrets.token_hex(2)}贸易公司"
    with app.app_context(), tenant_session(a.ref) as s:
        company_id = companies.create_company(s, {"name": name}).id
    auth.login_as(a)
    data = client.get(f"/{a.slug}/search/suggest", query_string={"q": "贸易"}).get_json()
    urls = {item["url"]: item for item in data["items"]}
    item = urls[f"/{a.slug}/companies/{company_id}"]
    assert item["title"] == name and item["type_label"] == "Company"
    assert data["all_results_url"].startswith(f"/{a.slug}/search/?q=")


def test_another_workspace_never_sees_the_records_nor_the_search(app, client, auth, tenants):
    a, b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"Secret {word}"})
    auth.login_as(b)
    body = text(client.get(f"/{b.slug}/search/", query_string={"q": word}))
    assert f"Secret {word}" not in body and "No matches for" in body
    data = client.get(f"/{b.slug}/search/suggest", query_string={"q": word}).get_json()
    assert data["items"] == []
    # A member of B cannot use A's search at all.
    assert client.get(f"/{a.slug}/search/", query_string={"q": word}).status_code == 404
    assert client.get(f"/{a.slug}/search/suggest", query_string={"q": word}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, tenants):
    a, _b = tenants
    response = client.get(f"/{a.slug}/search/", query_string={"q": "x"})
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]
