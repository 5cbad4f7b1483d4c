"""Sign-up through the browser form: a workspace, a signed-in owner, a verification email."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import func, select

from rapport.platform.db import db
from rapport.platform.identity.models import User
from rapport.platform.tenancy.models import Tenant

STRONG = "amber lantern quietly 42"


def _form(**overrides: str) -> dict[str, str]:
    slug = f"shop-{secrets.token_hex(3)}"
    values = {
        "company_name": "Corner Shop",
        "slug": slug,
        "name": "Casey Owner",
        "email": f"casey@{slug}.example.com",
        "password": STRONG,
    }
    values.update(overrides)
    return values


def _counts(app) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with app.app_context():
        tenants = db.session.scalar(select(func.count()).select_from(Tenant))
        users = db.session.scalar(select(func.count()).select_from(User))
        db.session.rollback()
    return tenants, users


def _error_of(html: str, field: str) -> str:
    """The error text shown next to a field ('' when there is none)."""
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


def test_signup_page_has_the_fields(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/signup").get_data(as_text=True)
    for name in ("company_name", "slug", "name", "email", "password"):
        assert f'name="{name}"' in html
    assert "Create workspace" in html
    assert "signup.js" in html


def test_signup_creates_a_workspace_and_signs_the_owner_in(app, client, auth, smtp) -> None:  # type: ignore[no-untyped-def]
    form = _form()
    anonymous = client.get("/signup")
    cookie_before = client.get_cookie("rapport_session").value
    response = client.post("/signup", data={**form, "csrf_token": auth.csrf("/signup")})
    assert anonymous.status_code == 200
    assert response.status_code == 302
    assert response.headers["Location"] == f"/{form['slug']}/"
    assert client.get_cookie("rapport_session").value != cookie_before

    home = client.get(f"/{form['slug']}/")
    html = home.get_data(as_text=True)
    assert home.status_code == 200
    assert "Corner Shop" in html
    assert 'id="onboarding"' in html
    assert 'data-step="verify_email" data-done="false"' in html
    assert 'data-step="company" data-done="false"' in html

    # The verification email went out over SMTP; its link verifies the address.
    message = smtp.last(form["email"])
    assert "Confirm your email" in message["Subject"]
    assert message.get_body(preferencelist=("html",)) is not None
    link = smtp.link(form["email"], "/verify/")
    assert client.get(link).status_code == 302
    html = client.get(f"/{form['slug']}/").get_data(as_text=True)
    assert 'data-step="verify_email" data-done="true"' in html
    # A verification link works once.
    assert client.get(link).status_code == 404


def test_slug_check_reports_taken_reserved_and_free(client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    taken = client.get(f"/signup/check-slug?slug={tenant_a.slug}").get_json()
    reserved = client.get("/signup/check-slug?slug=login").get_json()
    free = client.get(f"/signup/check-slug?slug=free-{secrets.token_hex(3)}").get_json()
    suggested = client.get("/signup/check-slug?name=Müller %26 Söhne GmbH").get_json()
    assert taken["available"] is False and "taken" in taken["message"]
    assert reserved["available"] is False and "reserved" in reserved["message"]
    assert free["available"] is True
    assert suggested["slug"] == "muller-sohne-gmbh"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("slug", "login", "reserved"),
        ("slug", "api", "reserved"),
        ("slug", "Not A Slug!", "lowercase letters"),
        ("password", "short", "at least 10 characters"),
        ("password", "password123", "too easy to guess"),
        ("email", "not-an-email", "email"),
        ("company_name", "", "company"),
        ("slug", "", "workspace address"),
        ("name", "", "name"),
        ("email", "", "email"),
        ("password", "", "at least 10 characters"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_creates_nothing(  # type: ignore[no-untyped-def]
    app, client, auth, field, value, expected
) -> None:
    form = _form(**{field: value})
    before = _counts(app)
    response = client.post("/signup", data={**form, "csrf_token": auth.csrf("/signup")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert expected.lower() in _error_of(html, field).lower()
    assert _counts(app) == before
    # Values are kept, the password is never echoed back.
    for name in ("company_name", "name"):
        if form[name]:
            assert f'value="{form[name]}"' in html
    if form["password"]:
        assert form["password"] not in html


def test_taken_slug_is_refused(app, client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    before = _counts(app)
    response = client.post(
        "/signup", data={**_form(slug=tenant_a.slug), "csrf_token": auth.csrf("/signup")}
    )
    assert response.status_code == 422
    assert "taken" in _error_of(response.get_data(as_text=True), "slug")
    assert _counts(app) == before


def test_existing_email_is_refused(app, client, auth, tenant_a) -> None:  # type: ignore[no-untyped-def]
    before = _counts(app)
    form = _form(email=tenant_a.owner_email)
    response = client.post("/signup", data={**form, "csrf_token": auth.csrf("/signup")})
    assert response.status_code == 422
    assert "already exists" in _error_of(response.get_data(as_text=True), "email")
    assert _counts(app) == before


def test_signup_without_csrf_token_is_refused(app, client) -> None:  # type: ignore[no-untyped-def]
    before = _counts(app)
    client.get("/signup")
    response = client.post("/signup", data=_form())
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert _counts(app) == before
