"""Sign-in and out: fresh session ids, revocable sessions, CSRF, throttling without leaks."""

from __future__ import annotations

import dataclasses
import re
import secrets

from sqlalchemy import select

from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.db import db


def _form_error(html: str) -> str:
    match = re.search(r'<div class="flash flash-error" role="alert">(.*?)</div>', html, re.S)
    return match.group(1).strip() if match else ""


def test_login_lands_in_the_workspace_with_a_new_session_id(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    before = client.get_cookie("rapport_session").value
    response = auth.login(tenant_a.owner_email, tenant_a.owner_password)
    assert response.status_code == 302
    after = client.get_cookie("rapport_session").value
    assert after != before
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert page.request.path == f"/{tenant_a.slug}/"
    assert tenant_a.owner_email in page.get_data(as_text=True)


def test_login_follows_next_only_on_this_site(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    redirected = client.get(f"/{tenant_a.slug}/settings/members")
    assert redirected.status_code == 302 and "/login?next=" in redirected.headers["Location"]
    token = auth.csrf(redirected.headers["Location"])
    inside = client.post(
        "/login",
        data={
            "email": tenant_a.owner_email,
            "password": tenant_a.owner_password,
            "next": f"/{tenant_a.slug}/settings/members",
            "csrf_token": token,
        },
    )
    assert inside.headers["Location"] == f"/{tenant_a.slug}/settings/members"
    auth.logout()
    token = auth.csrf("/login")
    outside = client.post(
        "/login",
        data={
            "email": tenant_a.owner_email,
            "password": tenant_a.owner_password,
            "next": "https://evil.example/",
            "csrf_token": token,
        },
    )
    assert "evil" not in outside.headers["Location"]


def test_wrong_password_and_unknown_email_get_the_same_answer(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    wrong = auth.login(tenant_a.owner_email, "not the password at all")
    unknown = auth.login(f"nobody-{secrets.token_hex(3)}@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert _form_error(wrong.get_data(as_text=True)) == "Incorrect email or password."
    assert _form_error(unknown.get_data(as_text=True)) == "Incorrect email or password."
    assert client.get(f"/{tenant_a.slug}/").status_code == 302  # still signed out


def test_login_failures_and_successes_are_audited(app, client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    auth.login(tenant_a.owner_email, "not the password at all")
    auth.login_as(tenant_a)
    with app.app_context():
        actions = db.session.scalars(
            select(PlatformAuditEntry.action)
            .where(PlatformAuditEntry.target_id == str(tenant_a.owner_id))
            .order_by(PlatformAuditEntry.seq.desc())
            .limit(2)
        ).all()
    assert actions == ["user.login", "user.login_failed"]


def test_throttling_answers_429_and_does_not_reveal_accounts(app, client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    limit = app.config["RAPPORT"].login_attempts_per_window
    real = new_tenant("Throttled Co")
    ghost = f"ghost-{secrets.token_hex(3)}@example.com"
    answers = {}
    for email in (real.owner_email, ghost):
        for _ in range(limit):
            assert auth.login(email, "wrong password, again").status_code == 200
        blocked = auth.login(email, "wrong password, again")
        answers[email] = (blocked.status_code, _form_error(blocked.get_data(as_text=True)))
        assert blocked.headers["Retry-After"].isdigit()
    assert answers[real.owner_email] == answers[ghost]
    status, message = answers[ghost]
    assert status == 429
    assert re.fullmatch(r"Too many failed sign-in attempts\. Try again in \d+ minutes?\.", message)
    # Even the right password is refused while the email is throttled.
    assert auth.login(real.owner_email, real.owner_password).status_code == 429


def test_a_successful_login_resets_the_email_counter(app, client, auth, new_tenant) -> None:  # type: ignore[no-untyped-def]
    limit = app.config["RAPPORT"].login_attempts_per_window
    tenant = new_tenant("Forgetful Co")
    for _ in range(limit - 1):
        auth.login(tenant.owner_email, "wrong password, again")
    auth.login_as(tenant)
    auth.logout()
    for _ in range(limit - 1):
        assert auth.login(tenant.owner_email, "wrong password, again").status_code == 200
    assert auth.login(tenant.owner_email, tenant.owner_password).status_code == 302


def test_throttling_per_client_address(app, auth) -> None:  # type: ignore[no-untyped-def]
    settings = app.config["RAPPORT"]
    per_ip = 3
    app.config["RAPPORT"] = dataclasses.replace(
        settings, extra={**settings.extra, "login_attempts_per_ip": per_ip}
    )
    try:
        client = app.test_client()
        octets = [secrets.randbelow(250) + 1 for _ in range(3)]
        client.environ_base["REMOTE_ADDR"] = "10.{}.{}.{}".format(*octets)
        auth = type(auth)(client)
        # Different emails from one address: the address runs out of attempts.
        for i in range(per_ip):
            email = f"spray-{i}-{secrets.token_hex(2)}@example.com"
            assert auth.login(email, "guess guess guess").status_code == 200
        blocked = auth.login(f"spray-last-{secrets.token_hex(2)}@example.com", "guess guess")
        assert blocked.status_code == 429
        assert "Try again in" in blocked.get_data(as_text=True)
    finally:
        app.config["RAPPORT"] = settings


def test_logout_revokes_the_session_on_the_server(app, client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    auth.login_as(tenant_a)
    cookie = client.get_cookie("rapport_session").value
    assert client.get(f"/{tenant_a.slug}/").status_code == 200
    assert auth.logout().status_code == 302
    # Replaying the old cookie does not bring the session back.
    replay = app.test_client()
    replay.set_cookie("rapport_session", cookie)
    response = replay.get(f"/{tenant_a.slug}/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_without_csrf_token_is_refused(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    auth.login_as(tenant_a)
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get(f"/{tenant_a.slug}/").status_code == 200  # still signed in


def test_login_without_csrf_token_is_refused(client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    response = client.post(
        "/login", data={"email": tenant_a.owner_email, "password": tenant_a.owner_password}
    )
    assert response.status_code == 400
    assert client.get(f"/{tenant_a.slug}/").status_code == 302


def test_login_from_another_site_is_refused(client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    token = auth.csrf("/login")
    response = client.post(
        "/login",
        data={
            "email": tenant_a.owner_email,
            "password": tenant_a.owner_password,
            "csrf_token": token,
        },
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
