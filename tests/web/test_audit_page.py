"""The audit log page: admins only, newest first, filters, paging, the chain's status."""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
import sqlite3
from types import SimpleNamespace

from sqlalchemy import create_engine, text

from rapport.platform.identity.services import sign_up
from rapport.platform.tenancy.engines import tenant_sqlite_path
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services
from tests.conftest import add_member


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def fresh_workspace(app, name: str) -> SimpleNamespace:
    """A workspace of its own, so counts on its audit log are exact."""
    slug = f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}"
    email, password = f"owner@{slug}.example.com", f"a long passphrase {secrets.token_hex(4)}"
    with app.app_context():
        created = sign_up(
            company_name=name, slug=slug, owner_name="Owner", email=email, password=password
        )
    return SimpleNamespace(
        slug=slug, owner_email=email, owner_password=password, ref=created.tenant
    )


def seqs(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td class="muted">(\d+)</td>', body)]


def test_owner_sees_entries_newest_first_with_paging_and_an_intact_chain(
    app, tenant_b, client, auth
):
    ws = fresh_workspace(app, "Audited")
    with app.app_context(), tenant_session(ws.ref) as s:
        for i in range(55):
            services.create_company(s, {"name": f"Audited {i:02d}"})
    auth.login_as(ws)
    first = page_text(client.get(f"/{ws.slug}/settings/audit/"))
    assert "Chain intact." in first and "All 57 entries" in first
    assert seqs(first) == list(range(57, 7, -1))  # 50 per page, newest first
    assert "company.created" in first and "Audited 54" in first
    assert 'rel="prev"' not in first
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1)
    second = page_text(client.get(html.unescape(older)))
    assert seqs(second) == list(range(7, 0, -1))
    assert "tenant.created" in second and 'rel="next"' not in second
    newer = re.search(r'rel="prev" href="([^"]+)"', second).group(1)
    assert seqs(page_text(client.get(html.unescape(newer)))) == list(range(57, 7, -1))
    # The menu links here.
    assert f'href="/{ws.slug}/settings/audit/"' in first
    # Another tenant's log holds none of this.
    auth.logout()
    auth.login_as(tenant_b)
    other = page_text(client.get(f"/{tenant_b.slug}/settings/audit/"))
    assert "Audited 54" not in other and f"/{ws.slug}/" not in other


def test_filters_by_action_actor_target_and_date(app, client, auth):
    ws = fresh_workspace(app, "Filtered")
    with app.app_context(), tenant_session(ws.ref) as s:
        company = services.create_company(s, {"name": "Filter Me"})
        services.update_company(s, company.id, {"name": "Filter Me", "city": "Oslo"})
    auth.login_as(ws)
    base = f"/{ws.slug}/settings/audit/"
    updated = page_text(client.get(base + "?action=company.updated"))
    assert seqs(updated) == [4] and "Oslo" in updated
    assert '<option value="company.updated" selected>' in updated
    companies = page_text(client.get(base + "?target_type=company"))
    assert seqs(companies) == [4, 3]
    owner = page_text(client.get(base))
    actor_id = re.search(
        r'<option value="([0-9a-f-]{36})"[^>]*>' + re.escape(ws.owner_email), owner
    ).group(1)
    mine = page_text(client.get(base + f"?actor={actor_id}"))
    assert 2 in seqs(mine) and 3 not in seqs(mine)  # the member.added entry, not system work
    today = dt.datetime.now(dt.UTC).date()
    assert seqs(page_text(client.get(base + f"?date_from={today}&date_to={today}"))) == [4, 3, 2, 1]
    future = page_text(client.get(base + f"?date_from={today + dt.timedelta(days=1)}"))
    assert seqs(future) == [] and "No audit entry matches these filters." in future
    past = page_text(client.get(base + f"?date_to={today - dt.timedelta(days=1)}"))
    assert seqs(past) == []
    assert client.get(base + "?action=%00&actor=%00x&target_type=%00").status_code == 200
    bad = client.get(base + "?date_from=31/12/2024")
    assert bad.status_code == 200 and "Enter a date as YYYY-MM-DD." in page_text(bad)
    assert seqs(page_text(bad)) == [4, 3, 2, 1]


def test_only_owners_and_admins_may_read_it(app, tenants, client, auth):
    a, b = tenants
    rep = add_member(app, a, "sales_rep")
    admin = add_member(app, a, "admin")
    auth.login(rep.owner_email, rep.owner_password)
    assert client.get(f"/{a.slug}/companies/").status_code == 200
    assert client.get(f"/{a.slug}/settings/audit/").status_code == 403
    auth.logout()
    auth.login(admin.owner_email, admin.owner_password)
    assert client.get(f"/{a.slug}/settings/audit/").status_code == 200
    auth.logout()
    auth.login_as(b)  # owner of another workspace: A's log does not exist for them
    assert client.get(f"/{a.slug}/settings/audit/").status_code == 404
    auth.logout()
    assert client.get(f"/{a.slug}/settings/audit/").status_code == 302


def test_a_tampered_chain_is_reported(app, client, auth):
    ws = fresh_workspace(app, "Tampered")
    with app.app_context(), tenant_session(ws.ref) as s:
        services.create_company(s, {"name": "Honest"})
    settings = app.config["RAPPORT"]
    if settings.is_postgres:
        engine = create_engine(settings.database_url)  # the owner: the only one who can rewrite
        with engine.begin() as conn:
            table = f'"{ws.ref.schema_name}".audit_entries'
            conn.execute(text(f"UPDATE {table} SET note = :n WHERE seq = 3"), {"n": "rewritten"})
        engine.dispose()
    else:
        conn = sqlite3.connect(tenant_sqlite_path(settings, ws.ref.schema_name))
        conn.execute("DROP TRIGGER audit_entries_no_update")
        conn.execute("UPDATE audit_entries SET note = 'rewritten' WHERE seq = 3")
        conn.commit()
        conn.close()
    auth.login_as(ws)
    body = page_text(client.get(f"/{ws.slug}/settings/audit/"))
    assert "Chain broken at entry 3:" in body and "changed after it was written" in body
    assert "Chain intact." not in body
