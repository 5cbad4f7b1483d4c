"""Password reset by emailed link, and email verification."""

from __future__ import annotations

import secrets

from rapport.platform.mail import mailbox

NEW_PASSWORD = "violet harbour sings 77"


def test_reset_request_does_not_reveal_whether_the_account_exists(
    client, auth, tenant_a, smtp
) -> None:  # type: ignore[no-untyped-def]
    ghost = f"ghost-{secrets.token_hex(3)}@example.com"
    known = auth.post("/reset", {"email": tenant_a.owner_email})
    unknown = auth.post("/reset", {"email": ghost})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True).replace(
        ghost, tenant_a.owner_email
    )
    assert "If an account exists for that email, we sent a link" in known.get_data(as_text=True)
    assert smtp.to(tenant_a.owner_email)
    assert smtp.to(ghost) == []


def test_password_reset_full_flow(app, client, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Resetters")
    # Another browser is signed in with the old password.
    other = app.test_client()
    other_auth = type(auth)(other)
    other_auth.login_as(tenant)
    assert other.get(f"/{tenant.slug}/").status_code == 200

    auth.post("/reset", {"email": tenant.owner_email})
    message = smtp.last(tenant.owner_email)
    assert "Reset your Rapport password" in message["Subject"]
    link = smtp.link(tenant.owner_email, "/reset/")
    page = client.get(link)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)

    weak = auth.post(link, {"password": "short"})
    assert weak.status_code == 422 and "at least 10 characters" in weak.get_data(as_text=True)

    done = auth.post(link, {"password": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get(f"/{tenant.slug}/").status_code == 200  # signed in with the new password

    # The link works once.
    again = client.get(link)
    assert again.status_code == 404 and "invalid, expired or already used" in again.get_data(
        as_text=True
    )
    # The other browser's session is over.
    assert other.get(f"/{tenant.slug}/").status_code == 302
    # The old password stops working, the new one works.
    fresh = type(auth)(app.test_client())
    assert fresh.login(tenant.owner_email, tenant.owner_password).status_code == 200
    assert fresh.login(tenant.owner_email, NEW_PASSWORD).status_code == 302


def test_an_older_reset_link_dies_when_a_newer_one_is_used(client, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant("Twice Reset")
    auth.post("/reset", {"email": tenant.owner_email})
    first = smtp.link(tenant.owner_email, "/reset/")
    auth.post("/reset", {"email": tenant.owner_email})
    second = smtp.link(tenant.owner_email, "/reset/")
    assert first != second
    assert client.get(first).status_code == 404
    assert auth.post(second, {"password": NEW_PASSWORD}).status_code == 302


def test_changing_the_password_signs_out_other_sessions(app, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    """The auth epoch: a session started before a password change is no longer accepted."""
    tenant = new_tenant("Epoch Co")
    old = app.test_client()
    type(auth)(old).login_as(tenant)
    cookie = old.get_cookie("rapport_session").value
    auth.post("/reset", {"email": tenant.owner_email})
    auth.post(smtp.link(tenant.owner_email, "/reset/"), {"password": NEW_PASSWORD})
    replay = app.test_client()
    replay.set_cookie("rapport_session", cookie)
    assert replay.get(f"/{tenant.slug}/").status_code == 302


def test_forged_or_garbled_links_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/reset/not-a-token").status_code == 404
    assert client.get("/verify/not-a-token").status_code == 404
    assert client.get("/invite/not-a-token").status_code == 404


def test_resend_verification_link(client, auth, tenant_a, smtp) -> None:  # type: ignore[no-untyped-def]
    auth.login_as(tenant_a)
    page = client.get(f"/{tenant_a.slug}/").get_data(as_text=True)
    if 'data-step="verify_email" data-done="true"' in page:
        return  # another test verified the shared owner already
    response = auth.post("/verify/resend", {"next": f"/{tenant_a.slug}/"})
    assert response.status_code == 302
    link = smtp.link(tenant_a.owner_email, "/verify/")
    client.get(link)
    page = client.get(f"/{tenant_a.slug}/").get_data(as_text=True)
    assert 'data-step="verify_email" data-done="true"' in page


def test_without_smtp_mail_goes_to_the_development_mailbox(app, client, auth) -> None:  # type: ignore[no-untyped-def]
    slug = f"mailbox-{secrets.token_hex(3)}"
    email = f"dev@{slug}.example.com"
    form = {
        "company_name": "Mailbox Co",
        "slug": slug,
        "name": "Dev",
        "email": email,
        "password": "amber lantern quietly 42",
        "csrf_token": auth.csrf("/signup"),
    }
    assert client.post("/signup", data=form).status_code == 302
    stored = [m for m in mailbox(app.config["RAPPORT"]) if m.to == email]
    assert stored and "Confirm your email" in stored[0].subject
    listing = client.get("/dev/mailbox").get_data(as_text=True)
    assert email in listing
    shown = client.get(f"/dev/mailbox/{stored[0].id}").get_data(as_text=True)
    assert "/verify/" in shown


def test_reset_requests_cannot_flood_an_inbox(app, auth, new_tenant, smtp) -> None:  # type: ignore[no-untyped-def]
    """Past a few requests an hour the answer stays the same but no more mail goes out."""
    from rapport.platform.identity.throttle import RESET_PER_EMAIL

    tenant = new_tenant("Flooded")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    auth = type(auth)(client)
    for _ in range(RESET_PER_EMAIL + 2):
        answer = auth.post("/reset", {"email": tenant.owner_email})
        assert answer.status_code == 200
        assert "If an account exists for that email" in answer.get_data(as_text=True)
    assert len(smtp.to(tenant.owner_email)) == RESET_PER_EMAIL


def test_a_client_asking_for_many_addresses_is_slowed_down(app, auth, smtp) -> None:  # type: ignore[no-untyped-def]
    from rapport.platform.identity.throttle import RESET_PER_IP

    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"203.0.113.{secrets.randbelow(250) + 1}"
    auth = type(auth)(client)
    for i in range(RESET_PER_IP):
        probe = f"probe{i}-{secrets.token_hex(2)}@example.com"
        assert auth.post("/reset", {"email": probe}).status_code == 200
    refused = auth.post("/reset", {"email": "one-more@example.com"})
    assert refused.status_code == 429
    assert "Too many reset requests" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
