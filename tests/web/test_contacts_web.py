"""Contacts in the browser: forms with the company picker, list, history, delete, isolation."""

from __future__ import annotations

import html
import re
import secrets
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.contacts import services
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
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def input_value(body: str, field: str) -> str | None:
    match = re.search(rf'<input id="f-{field}" name="{field}" type="[a-z]+" value="([^"]*)"', body)
    return html.unescape(match.group(1)) if match else None


def make_company(app, tenant, name=None):
    with app.app_context(), tenant_session(tenant.ref) as s:
        company = company_services.create_company(s, {"name": name or f"Co {secrets.token_hex(3)}"})
        return company.id, company.name


def test_create_with_the_company_picker(app, tenants, client, auth):
    a, b = tenants
    company_id, company_name = make_company(app, a)
    b_company_id, b_company_name = make_company(app, b, name=f"Globex only {secrets.token_hex(3)}")
    auth.login_as(a)
    form = page_text(client.get(f"/{a.slug}/contacts/new?company_id={company_id}"))
    assert f'<option value="{company_id}" selected>{company_name}</option>' in form
    assert b_company_name not in form  # the picker offers this workspace's companies only
    last = f"Lovelace{secrets.token_hex(3)}"
    response = auth.post(
        f"/{a.slug}/contacts/",
        {
            "first_name": "Ada",
            "last_name": last,
            "email": "ada@example.com",
            "company_id": str(company_id),
        },
    )
    assert response.status_code == 303
    detail = page_text(client.get(response.headers["Location"]))
    assert f"Ada {last}" in detail and "ada@example.com" in detail
    assert f">{company_name}</a>" in detail
    # The timeline (the page's one history) names the company rather than its id.
    assert "<h2>History</h2>" not in detail
    timeline = detail[detail.index('<ol class="timeline unified-timeline">') :]
    assert "Contact created" in timeline
    assert f"<dt>Company</dt><dd>{company_name}</dd>" in timeline
    # The company's page lists the contact.
    company_page = page_text(client.get(f"/{a.slug}/companies/{company_id}"))
    assert f"Ada {last}" in company_page
    # Choosing B's company by id is refused, next to the picker.
    refused = auth.post(
        f"/{a.slug}/contacts/", {"last_name": "Spy", "company_id": str(b_company_id)}
    )
    assert refused.status_code == 422
    assert error_for(page_text(refused), "company_id") == "Choose a company from the list."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("last_name", "", "Enter a last name."),
        ("last_name", "y" * 101, "Use at most 100 characters."),
        ("email", "ada-at-example", "Enter an email address"),
        ("phone", "123", "5 to 20 digits"),
    ],
)
def test_bad_input_re_renders_the_form_with_the_message_by_the_field(
    app, tenants, client, auth, field, value, message
):
    a, _b = tenants
    auth.login_as(a)
    marker = f"Typed title {secrets.token_hex(3)}"
    typed = {"first_name": "Typed", "last_name": "Person", "title": marker, field: value}
    response = auth.post(f"/{a.slug}/contacts/", typed)
    body = page_text(response)
    assert response.status_code == 422
    assert message in (error_for(body, field) or ""), body
    assert input_value(body, "first_name") == "Typed" and input_value(body, "title") == marker
    assert input_value(body, field) == value
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.scalars(select(Contact).where(Contact.title == marker)).first() is None


def test_list_search_sort_paging_and_isolation(app, tenants, client, auth):
    a, b = tenants
    tag = f"ct{secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        for i in range(27):
            services.create_contact(
                s, {"first_name": tag, "last_name": f"P{i:02d}", "email": f"p{i}@{tag}.example"}
            )
    auth.login_as(a)
    first = page_text(client.get(f"/{a.slug}/contacts/?q={tag}&sort=-name"))
    names = re.findall(rf">{tag} (P\d\d)</a>", first)
    assert "27 contacts matching" in first and len(names) == 25
    assert names[:2] == ["P26", "P25"]
    next_link = re.search(r'rel="next" href="([^"]+)"', first)
    second = page_text(client.get(html.unescape(next_link.group(1))))
    assert re.findall(rf">{tag} (P\d\d)</a>", second) == ["P01", "P00"]
    by_email = page_text(client.get(f"/{a.slug}/contacts/?q=P7@{tag.upper()}"))
    assert re.findall(rf">{tag} (P\d\d)</a>", by_email) == ["P07"]
    auth.logout()
    auth.login_as(b)
    assert f">{tag} P" not in page_text(client.get(f"/{b.slug}/contacts/?q={tag}"))
    assert f">{tag} P" not in page_text(client.get(f"/{b.slug}/contacts/?sort=-created"))


def test_edit_delete_and_another_tenant(app, tenants, client, auth):
    a, b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        contact_id = services.create_contact(s, {"first_name": "Grace", "last_name": "Hopper"}).id
    auth.login_as(b)
    for path in (f"/{b.slug}/contacts/{contact_id}", f"/{b.slug}/contacts/{contact_id}/edit",
                 f"/{b.slug}/contacts/{contact_id}/delete", f"/{a.slug}/contacts/"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert auth.post(f"/{b.slug}/contacts/{contact_id}/edit", {"last_name": "X"}).status_code == 404
    assert auth.post(f"/{b.slug}/contacts/{contact_id}/delete", {}).status_code == 404
    auth.logout()
    auth.login_as(a)
    response = auth.post(
        f"/{a.slug}/contacts/{contact_id}/edit",
        {"first_name": "Grace", "last_name": "Hopper", "title": "Rear Admiral"},
    )
    assert response.status_code == 303
    detail = page_text(client.get(response.headers["Location"]))
    assert shows_change(detail, "empty", "Rear Admiral")  # on the timeline
    assert "Delete Grace Hopper?" in page_text(
        client.get(f"/{a.slug}/contacts/{contact_id}/delete")
    )
    deleted = auth.post(f"/{a.slug}/contacts/{contact_id}/delete", {})
    assert deleted.status_code == 303
    assert "Contact “Grace Hopper” deleted." in page_text(client.get(deleted.headers["Location"]))
    assert client.get(f"/{a.slug}/contacts/{contact_id}").status_code == 404


def test_empty_state(app, client, auth):
    fresh = fresh_workspace(app, "Empty Contacts")  # a new workspace has no records yet
    auth.login_as(fresh)
    body = page_text(client.get(f"/{fresh.slug}/contacts/"))
    assert "No contacts yet" in body and "Add your first contact" in body


def test_the_list_reads_its_default_order_from_the_index_and_caps_its_count(app, tenant_a):
    """The name sort is the very expression ix_contacts_sort_name_id covers (both backends), so
    a page is read from the index, not sorted from the whole table; the count stops at a cap."""
    from sqlalchemy import func, text
    from sqlalchemy.dialects import postgresql, sqlite

    from rapport.tenants import filtering
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.paging import SortOption, count_rows, keyset_page

    with app.app_context(), tenant_session(tenant_a.ref) as s:
        for i in range(3):
            services.create_contact(s, {"first_name": "Cap", "last_name": f"Count{i}"})
        s.flush()
        key = filtering.sort_key(s, "contacts", "name")
        stmt = select(Contact.id).order_by(key, Contact.id).limit(26)
        postgres = s.get_bind().dialect.name == "postgresql"
        dialect = postgresql.dialect() if postgres else sqlite.dialect()
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        sql = sql.replace('"tenant".', "").replace("tenant.", "")
        if postgres:
            # With few rows a sort is cheaper; forbid it to see whether the index can serve.
            s.execute(text("SET LOCAL enable_sort = off"))
            plan = "\n".join(s.execute(text("EXPLAIN " + sql)).scalars())
        else:
            schema = tenant_a.ref.schema_name
            sql = sql.replace("FROM contacts", f'FROM "{schema}".contacts')
            plan = "\n".join(str(row[-1]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
        assert "ix_contacts_sort_name_id" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan.split("\n")[0], plan
        # The count reads at most cap + 1 rows and says it stopped.
        total = s.scalar(select(func.count()).select_from(Contact))
        assert count_rows(s, select(Contact), cap=total - 1) == (total - 1, True)
        assert count_rows(s, select(Contact), cap=total) == (total, False)
        page = keyset_page(
            s, select(Contact), key=key, id_col=Contact.id, sort=SortOption("name", False),
            count_cap=2,
        )  # fmt: skip
        assert (page.total, page.total_capped) == (2, True) and len(page.items) == min(total, 25)
