"""Belonging to several workspaces, switching between them, and the onboarding checklist."""

from __future__ import annotations

import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies.models import Company


def test_non_member_gets_404_for_another_workspace(client, auth, tenants) -> None:  # type: ignore[no-untyped-def]
    tenant_a, tenant_b = tenants
    auth.login_as(tenant_a)
    assert client.get(f"/{tenant_a.slug}/").status_code == 200
    assert client.get(f"/{tenant_b.slug}/").status_code == 404
    # The same answer as for a workspace that does not exist.
    assert client.get(f"/nothing-{secrets.token_hex(3)}/").status_code == 404


def test_anonymous_visitor_is_sent_to_sign_in(client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/{tenant_a.slug}/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_switching_workspaces_is_remembered(app, client, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    first = new_tenant("First Works")
    second = new_tenant("Second Works")
    # The owner of the second workspace joins the first one through an invitation.
    owner = type(auth)(app.test_client())
    owner.login_as(first)
    owner.post(
        f"/{first.slug}/settings/members/invite", {"email": second.owner_email, "role": "admin"}
    )
    auth.login_as(second)
    auth.post(smtp.link(second.owner_email, "/invite/"), {})

    home = client.get(f"/{second.slug}/").get_data(as_text=True)
    assert f'href="/{first.slug}/"' in home  # the switcher lists the other workspace
    assert client.get("/").headers["Location"] == f"/{second.slug}/"
    assert client.get(f"/{first.slug}/").status_code == 200
    assert client.get("/").headers["Location"] == f"/{first.slug}/"
    # The choice lives in the session: a new sign-in starts a new session, and with two
    # workspaces the root lets the user pick.
    auth.logout()
    auth.login_as(second)
    listing = client.get("/").get_data(as_text=True)
    assert "First Works" in listing and "Second Works" in listing


def test_checklist_ticks_from_real_state(app, client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Checklisters")
    auth.login_as(tenant)
    page = client.get(f"/{tenant.slug}/").get_data(as_text=True)
    assert 'data-step="company" data-done="false"' in page
    with app.app_context(), tenant_session(tenant.ref) as session:
        session.add(Company(name="First Customer Ltd"))
    page = client.get(f"/{tenant.slug}/").get_data(as_text=True)
    assert 'data-step="company" data-done="true"' in page
    assert 'data-step="contact" data-done="false"' in page


def test_settings_index_links_to_members(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    auth.login_as(tenant_a)
    page = client.get(f"/{tenant_a.slug}/settings/").get_data(as_text=True)
    assert f'href="/{tenant_a.slug}/settings/members"' in page


def test_signed_in_user_creates_another_workspace(app, client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant

    owner = new_tenant("Mother Co")
    auth.login_as(owner)
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Tenant))
    taken = auth.post("/workspaces/new", {"company_name": "Daughter Co", "slug": owner.slug})
    assert taken.status_code == 422
    assert "That workspace address is taken" in taken.get_data(as_text=True)
    assert 'value="Daughter Co"' in taken.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tenant)) == before

    slug = f"daughter-{secrets.token_hex(3)}"
    created = auth.post("/workspaces/new", {"company_name": "Daughter Co", "slug": slug})
    assert created.status_code == 302 and created.headers["Location"] == f"/{slug}/"
    page = client.get(f"/{slug}/").get_data(as_text=True)
    assert "Daughter Co" in page
    assert f'href="/{owner.slug}/"' in page  # both workspaces, one account
    assert client.get(f"/{owner.slug}/").status_code == 200


def test_creating_a_workspace_needs_a_signed_in_user(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/workspaces/new")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
