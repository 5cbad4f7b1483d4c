"""Inviting colleagues by email with a role, and accepting as a new or an existing user."""

from __future__ import annotations

import secrets

PASSWORD = "copper meadow drifts 31"


def _invite(auth, slug: str, email: str, role: str):  # type: ignore[no-untyped-def]
    return auth.post(f"/{slug}/settings/members/invite", {"email": email, "role": role})


def _new_auth(app, auth):  # type: ignore[no-untyped-def]
    return type(auth)(app.test_client())


def test_invite_a_new_user_who_joins_with_the_role(
    app, client, auth, new_tenant, tenant_b, smtp
) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Inviters")
    colleague = f"colleague-{secrets.token_hex(3)}@example.com"
    auth.login_as(tenant)
    sent = _invite(auth, tenant.slug, colleague, "sales_rep")
    assert sent.status_code == 302
    members = client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)
    assert f'<tr data-email="{colleague}">' in members  # pending invitation listed

    message = smtp.last(colleague)
    assert message["Subject"] == "Join Inviters on Rapport"
    assert "Sales rep" in smtp.text(message)
    link = smtp.link(colleague, "/invite/")

    newcomer = _new_auth(app, auth)
    page = newcomer.client.get(link).get_data(as_text=True)
    assert colleague in page and "Choose a password" in page
    weak = newcomer.post(link, {"name": "Cole League", "password": "short"})
    assert weak.status_code == 422 and "at least 10 characters" in weak.get_data(as_text=True)
    joined = newcomer.post(link, {"name": "Cole League", "password": PASSWORD})
    assert joined.status_code == 302 and joined.headers["Location"] == f"/{tenant.slug}/"
    assert newcomer.client.get(f"/{tenant.slug}/").status_code == 200
    # The role is the invited one: a sales rep sees the members but cannot manage them.
    page = newcomer.client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)
    assert "Cole League" in page and 'id="invite"' not in page
    assert _invite(newcomer, tenant.slug, "x@example.com", "admin").status_code == 403
    # The new member belongs to this workspace only.
    assert newcomer.client.get(f"/{tenant_b.slug}/").status_code == 404
    # The link is spent; the new account can sign in again later.
    assert newcomer.client.get(link).status_code == 404
    assert _new_auth(app, auth).login(colleague, PASSWORD).status_code == 302
    # The owner's checklist ticks "invite a colleague".
    home = client.get(f"/{tenant.slug}/").get_data(as_text=True)
    assert 'data-step="invite" data-done="true"' in home


def test_existing_user_must_sign_in_as_the_invited_email(
    app, client, auth, new_tenant, smtp
) -> None:  # type: ignore[no-untyped-def]
    inviting = new_tenant("Hosts")
    guest = new_tenant("Guests")
    auth.login_as(inviting)
    _invite(auth, inviting.slug, guest.owner_email, "manager")
    link = smtp.link(guest.owner_email, "/invite/")

    stranger = _new_auth(app, auth)
    page = stranger.client.get(link).get_data(as_text=True)
    assert f"Sign in as {guest.owner_email}" in page
    # Someone else signed in cannot take the invitation.
    other = new_tenant("Others")
    stranger.login_as(other)
    refused = stranger.client.post(link, data={"csrf_token": stranger.csrf(link)})
    assert refused.status_code == 403
    assert stranger.client.get(f"/{inviting.slug}/").status_code == 404

    # The invited user signs in and accepts: now a member of both workspaces.
    invited = _new_auth(app, auth)
    signin = invited.client.get(link).get_data(as_text=True)
    assert "/login?next=" in signin
    invited.login_as(guest)
    accepted = invited.post(link, {})
    assert accepted.status_code == 302 and accepted.headers["Location"] == f"/{inviting.slug}/"
    assert invited.client.get(f"/{inviting.slug}/").status_code == 200
    assert invited.client.get(f"/{guest.slug}/").status_code == 200
    members = client.get(f"/{inviting.slug}/settings/members").get_data(as_text=True)
    assert guest.owner_email in members and "Manager" in members


def test_revoked_invitation_link_stops_working(client, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Revokers")
    email = f"maybe-{secrets.token_hex(3)}@example.com"
    auth.login_as(tenant)
    _invite(auth, tenant.slug, email, "read_only")
    link = smtp.link(email, "/invite/")
    page = client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)
    import re

    revoke = re.search(r'action="(/[^"]+/revoke)"', page).group(1)
    assert auth.post(revoke, {}).status_code == 302
    assert client.get(link).status_code == 404
    assert email not in client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)


def test_invite_form_errors_are_shown_next_to_the_field(client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Careful")
    auth.login_as(tenant)
    bad = _invite(auth, tenant.slug, "not-an-email", "sales_rep")
    assert bad.status_code == 422 and 'id="e-email"' in bad.get_data(as_text=True)
    member = _invite(auth, tenant.slug, tenant.owner_email, "sales_rep")
    assert member.status_code == 422 and "already a member" in member.get_data(as_text=True)


def test_change_role_and_remove_member(app, client, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    import re

    tenant = new_tenant("Reshufflers")
    email = f"temp-{secrets.token_hex(3)}@example.com"
    auth.login_as(tenant)
    _invite(auth, tenant.slug, email, "sales_rep")
    newcomer = _new_auth(app, auth)
    newcomer.post(smtp.link(email, "/invite/"), {"name": "Tempo Rary", "password": PASSWORD})

    page = client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)
    row = page[page.index(f'<tr data-email="{email}">') :]
    role_url = re.search(r'action="(/[^"]+/role)"', row).group(1)
    remove_url = re.search(r'action="(/[^"]+/remove)"', row).group(1)
    assert auth.post(role_url, {"role": "admin"}).status_code == 302
    # As an admin the colleague can now open the invite form.
    assert 'id="invite"' in newcomer.client.get(f"/{tenant.slug}/settings/members").get_data(
        as_text=True
    )
    assert auth.post(remove_url, {}).status_code == 302
    assert newcomer.client.get(f"/{tenant.slug}/").status_code == 404


def test_the_last_owner_cannot_be_demoted(client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    import re

    tenant = new_tenant("Lonely")
    auth.login_as(tenant)
    page = client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)
    role_url = re.search(r'action="(/[^"]+/role)"', page).group(1)
    response = auth.post(role_url, {"role": "read_only"}, follow=True)
    assert "at least one owner" in response.get_data(as_text=True)
    assert 'id="invite"' in client.get(f"/{tenant.slug}/settings/members").get_data(as_text=True)


def test_other_tenants_owner_cannot_see_the_members_page(client, auth, tenants) -> None:  # type: ignore[no-untyped-def]
    tenant_a, tenant_b = tenants
    auth.login_as(tenant_b)
    assert client.get(f"/{tenant_a.slug}/settings/members").status_code == 404
    response = client.post(
        f"/{tenant_a.slug}/settings/members/invite",
        data={"email": "spy@example.com", "role": "owner", "csrf_token": auth.csrf("/")},
    )
    assert response.status_code == 404
