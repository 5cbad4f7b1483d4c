"""API keys: format, storage as an HMAC only, who they let in, the CLI and the settings page."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from types import SimpleNamespace

from sqlalchemy import select, update

from rapport.platform.apikeys import keyformat
from rapport.platform.apikeys.models import ApiKey
from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.cli import main
from rapport.platform.db import db, utcnow
from rapport.platform.metadata import control_metadata

KEY_RE = re.compile(r"rk_(live|test)_[0-9A-Za-z]{13}_[0-9A-Za-z]{39}")


def load_key(app, key_id) -> ApiKey:
    with app.app_context():
        key = db.session.get(ApiKey, uuid.UUID(str(key_id)))
        db.session.expunge(key)
        return key


def test_a_key_has_the_documented_shape_and_a_checksum_that_catches_typos(
    app, new_key, tenant_a, api_for, api_error
):
    key = new_key(tenant_a)
    assert KEY_RE.fullmatch(key.text)
    assert key.text.startswith("rk_test_")  # not production
    assert keyformat.parse(key.text) is not None
    # One character changed anywhere: the checksum refuses it before any lookup.
    for position in (9, 30, len(key.text) - 1):
        char = key.text[position]
        typo = key.text[:position] + ("a" if char != "a" else "b") + key.text[position + 1 :]
        assert keyformat.parse(typo) is None
        api_error(api_for(type(key)(key.id, typo, tenant_a)).get("/api/v1/companies"), 401)
    assert api_for(key).get("/api/v1/companies").status_code == 200


def test_only_an_hmac_of_the_secret_is_stored_anywhere_in_the_control_plane(app, new_key, tenant_a):
    key = new_key(tenant_a, name="Stored only as HMAC")
    parts = keyformat.parse(key.text)
    stored = load_key(app, key.id)
    assert stored.prefix_id == parts.prefix_id
    assert parts.secret not in stored.secret_hmac and len(stored.secret_hmac) == 64
    with app.app_context():
        for table in control_metadata().sorted_tables:
            for row in db.session.execute(select(table)):
                text = repr(tuple(row))
                assert parts.secret not in text, table.name
                assert key.text not in text, table.name


def test_create_and_revoke_are_in_the_control_plane_audit_log(app, new_key, tenant_a, api_for):
    from rapport.platform.apikeys import services

    key = new_key(tenant_a, name="Audited key")
    with app.app_context():
        services.revoke_key(db.session, key.id)
        db.session.commit()
        actions = db.session.scalars(
            select(PlatformAuditEntry.action).where(PlatformAuditEntry.target_id == str(key.id))
        ).all()
    assert actions == ["api_key.created", "api_key.revoked"]


def test_revoked_and_expired_keys_get_401_from_the_next_request(
    app, new_key, tenant_a, api_for, api_error
):
    from rapport.platform.apikeys import services

    revoked, expired = new_key(tenant_a), new_key(tenant_a, expires_in_days=30)
    assert api_for(revoked).get("/api/v1/companies").status_code == 200
    assert api_for(expired).get("/api/v1/companies").status_code == 200
    with app.app_context():
        services.revoke_key(db.session, revoked.id)
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == expired.id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        db.session.commit()
    for key in (revoked, expired):
        response = api_for(key).get("/api/v1/companies")
        api_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_in_the_query_string_is_refused_even_with_a_valid_header(
    client, new_key, tenant_a, api_for, api_error
):
    key = new_key(tenant_a)
    api_error(client.get(f"/api/v1/companies?api_key={key.text}"), 401)
    api_error(client.get(f"/api/v1/companies?access_token={key.text}"), 401)
    api_error(api_for(key).get(f"/api/v1/companies?key={key.text}"), 401)


def test_missing_or_other_schemes_get_401(client, tenant_a, new_key, api_error):
    key = new_key(tenant_a)
    api_error(client.get("/api/v1/companies"), 401)
    api_error(client.get("/api/v1/companies", headers={"Authorization": f"Basic {key.text}"}), 401)
    api_error(client.get("/api/v1/companies", headers={"Authorization": "Bearer nonsense"}), 401)


def test_a_signed_in_browser_session_alone_does_not_reach_the_api(
    client, auth, tenant_a, api_error
):
    auth.login_as(tenant_a)
    assert client.get(f"/{tenant_a.slug}/companies/").status_code == 200
    api_error(client.get("/api/v1/companies"), 401)
    api_error(client.post("/api/v1/companies", json={"name": "Via cookie"}), 401)


def test_last_use_time_and_address_are_recorded(app, new_key, tenant_a, api_for):
    key = new_key(tenant_a)
    assert load_key(app, key.id).last_used_at is None
    before = utcnow()
    api_for(key).get("/api/v1/companies", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    used = load_key(app, key.id)
    assert used.last_used_at is not None and used.last_used_at >= before
    assert used.last_used_ip == "198.51.100.7"
    # Within the minute, a second use does not rewrite it.
    api_for(key).get("/api/v1/companies", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    again = load_key(app, key.id)
    assert again.last_used_at == used.last_used_at and again.last_used_ip == "198.51.100.7"


def test_a_key_cannot_have_the_owner_role_or_a_blank_name(app, tenant_a):
    import pytest

    from rapport.platform.apikeys import services
    from rapport.platform.errors import ValidationFailed

    with app.app_context():
        with pytest.raises(ValidationFailed) as info:
            services.create_key(db.session, tenant_a.ref, "  ", "owner")
        db.session.rollback()
    assert set(info.value.errors) == {"name", "role"}


# -- the command line -----------------------------------------------------------------------------
def test_cli_creates_a_key_that_works_lists_it_and_revokes_it(
    app, runner, tenant_a, api_for, api_error
):
    result = runner.invoke(
        main,
        ["api-keys", "create", "--tenant", tenant_a.slug, "--name", "ERP sync",
         "--role", "manager", "--expires", "30"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = KEY_RE.search(result.output)
    assert found, result.output
    text = found.group(0)
    key_id = re.search(r"Created API key ([0-9a-f-]{36})", result.output).group(1)
    stored = load_key(app, key_id)
    assert (stored.name, stored.role) == ("ERP sync", "manager")
    assert dt.timedelta(days=29) < stored.expires_at - utcnow() <= dt.timedelta(days=30)
    key = SimpleNamespace(text=text)
    assert api_for(key).get("/api/v1/companies").status_code == 200

    listed = runner.invoke(main, ["api-keys", "list", "--tenant", tenant_a.slug])
    assert listed.exit_code == 0, listed.output
    assert "ERP sync" in listed.output and stored.prefix_id in listed.output
    assert text not in listed.output and keyformat.parse(text).secret not in listed.output

    revoked = runner.invoke(main, ["api-keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert load_key(app, key_id).revoked_at is not None
    api_error(api_for(key).get("/api/v1/companies"), 401)


def test_cli_refuses_an_unknown_workspace_role_or_key(runner, tenant_a):
    result = runner.invoke(main, ["api-keys", "create", "--tenant", "no-such-ws", "--name", "x"])
    assert result.exit_code != 0 and "no-such-ws" in result.output
    result = runner.invoke(
        main, ["api-keys", "create", "--tenant", tenant_a.slug, "--name", "x", "--role", "owner"]
    )
    assert result.exit_code != 0 and "--role" in result.output
    assert not KEY_RE.search(result.output)
    result = runner.invoke(main, ["api-keys", "revoke", "00000000-0000-0000-0000-000000000000"])
    assert result.exit_code != 0 and "No API key" in result.output


# -- the settings page ----------------------------------------------------------------------------
def test_an_owner_creates_a_key_sees_it_once_and_revokes_it(
    app, client, auth, tenant_a, api_for, api_error
):
    auth.login_as(tenant_a)
    page = f"/{tenant_a.slug}/settings/api-keys/"
    assert "API keys" in client.get(f"/{tenant_a.slug}/settings/").get_data(as_text=True)
    response = auth.post(page, {"name": "Call centre", "role": "read_only", "expires": "90"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = html.unescape(response.get_data(as_text=True))
    text = KEY_RE.search(body).group(0)
    assert "will not be shown again" in body
    key = SimpleNamespace(text=text)
    assert api_for(key).get("/api/v1/companies").status_code == 200

    listing = html.unescape(client.get(page).get_data(as_text=True))
    assert "Call centre" in listing and "Read only" in listing
    assert text not in listing and keyformat.parse(text).secret not in listing
    key_id = re.search(r'data-key-id="([0-9a-f-]{36})" data-state="active"', listing).group(1)
    assert "from testclient" in listing or "127.0.0.1" in listing  # last used, with the address

    revoked = auth.post(f"{page}{key_id}/revoke", {}, follow=True)
    assert revoked.status_code == 200
    assert f'data-key-id="{key_id}" data-state="revoked"' in revoked.get_data(as_text=True)
    api_error(api_for(key).get("/api/v1/companies"), 401)


def test_the_settings_page_refuses_bad_input_and_other_members(
    app, client, auth, tenant_a, tenant_b, new_key
):
    auth.login_as(tenant_a)
    page = f"/{tenant_a.slug}/settings/api-keys/"
    response = auth.post(page, {"name": "", "role": "sales_rep", "expires": ""})
    assert response.status_code == 422
    assert not KEY_RE.search(response.get_data(as_text=True))
    # Tenant B's key cannot be revoked from tenant A's page.
    other = new_key(tenant_b)
    assert auth.post(f"{page}{other.id}/revoke", {}).status_code == 404
    assert load_key(app, other.id).revoked_at is None


def test_members_who_are_not_admins_cannot_open_the_page(app, client, auth, tenant_a):
    from rapport.platform.identity.models import Membership

    with app.app_context():
        member = db.session.scalars(
            select(Membership).where(Membership.user_id == tenant_a.owner_id)
        ).first()
        member.role = "sales_rep"
        member_id = member.id
        db.session.commit()
    try:
        auth.login_as(tenant_a)
        assert client.get(f"/{tenant_a.slug}/settings/api-keys/").status_code == 403
    finally:
        with app.app_context():
            member = db.session.get(Membership, member_id)
            member.role = "owner"
            db.session.commit()
