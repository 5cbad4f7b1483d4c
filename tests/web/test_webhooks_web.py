"""Webhooks in the browser: add an endpoint (secret shown once), test it, read the log,
redeliver, disable, enable and delete; admins only; tenants apart."""

from __future__ import annotations

import dataclasses
import html
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rapport.platform.db import db
from rapport.platform.identity.models import Membership, User
from rapport.platform.identity.passwords import hash_password
from rapport.platform.jobs.runtime import drain
from rapport.tenants.webhooks import secrets as signing


@pytest.fixture()
def receiver(app) -> Iterator[Any]:
    """A loopback receiver that counts correctly signed requests; private addresses allowed."""
    state: dict[str, Any] = {"secret": None, "valid": 0, "types": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state["secret"] and signing.verify(
                state["secret"], self.headers.get("Rapport-Signature", ""), body
            ):
                state["valid"] += 1
                state["types"].append(self.headers.get("Rapport-Event"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/in"
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(before, webhook_allow_private=True)
    yield state
    app.config["RAPPORT"] = before
    server.shutdown()
    server.server_close()


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_admin_adds_tests_and_manages_an_endpoint(app, client, auth, tenant_a, tenant_b, receiver):
    auth.login_as(tenant_a)
    assert "Webhooks" in text(client.get(f"/{tenant_a.slug}/settings/"))
    base = f"/{tenant_a.slug}/settings/webhooks/"
    page = text(client.get(base))
    assert "Add an endpoint" in page and 'value="company.created"' in page

    missing = auth.post(base, {"url": receiver["url"]})
    assert missing.status_code == 422 and "Choose at least one event type" in text(missing)
    bad = auth.post(base, {"url": "gopher://x", "event_types": ["company.created"]})
    assert bad.status_code == 422 and "http://" in text(bad)

    created = auth.post(base, {"url": receiver["url"], "event_types": ["company.created"],
                               "description": "ERP sync"})  # fmt: skip
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    body = text(created)
    secret = re.search(r'id="new-secret-value"[^>]*value="(whsec_[^"]+)"', body).group(1)
    receiver["secret"] = secret
    assert "it will not be shown again" in body
    endpoint_id = re.search(r'data-endpoint-id="([0-9a-f-]+)"', body).group(1)
    detail = f"{base}{endpoint_id}"
    # Never shown again.
    assert secret not in text(client.get(base)) and secret not in text(client.get(detail))
    assert "No deliveries" in text(client.get(detail))

    assert auth.post(f"{detail}/test", {}).status_code == 303
    drain(app)
    assert receiver["valid"] == 1 and receiver["types"] == ["webhook.test"]
    log = text(client.get(detail))
    assert "webhook.test" in log and "succeeded" in log and "Redeliver" in log
    delivery_id = re.search(r'data-delivery-id="([0-9a-f-]+)"', log).group(1)
    assert auth.post(f"{base}deliveries/{delivery_id}/redeliver", {}).status_code == 303
    drain(app)
    assert receiver["valid"] == 2
    assert "(manual)" in text(client.get(detail))

    # Change the events, then disable: a disabled endpoint gets no events.
    saved = auth.post(
        detail, {"url": receiver["url"], "event_types": ["company.created", "company.updated"]}
    )
    assert saved.status_code == 303
    assert "company.updated" in text(client.get(detail))
    assert auth.post(f"{detail}/disable", {}).status_code == 303
    assert "Disabled" in text(client.get(detail))
    assert auth.post(f"{detail}/enable", {}).status_code == 303

    # Tenant B's owner cannot see or touch it.
    auth.logout()
    auth.login_as(tenant_b)
    assert client.get(f"/{tenant_b.slug}/settings/webhooks/{endpoint_id}").status_code == 404
    assert client.get(detail).status_code in (403, 404)
    auth.logout()

    auth.login_as(tenant_a)
    page = text(client.get(detail))
    assert 'data-confirm="Delete the endpoint' in page
    assert auth.post(f"{detail}/delete", {}).status_code == 303
    assert client.get(detail).status_code == 404


def test_members_who_are_not_admins_cannot_open_webhooks(app, client, auth, tenant_a):
    email, password = (
        f"rep-{secrets.token_hex(3)}@example.com",
        "rep password " + secrets.token_hex(3),
    )
    with app.app_context():
        user = User(email=email, name="Rep", password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, tenant_id=tenant_a.ref.id, role="sales_rep"))
        db.session.commit()
    auth.login(email, password)
    assert client.get(f"/{tenant_a.slug}/settings/webhooks/").status_code == 403


def test_an_endpoint_is_given_the_role_it_sees_as(client, auth, new_tenant, receiver):
    tenant = new_tenant("Hooks by role")
    auth.login_as(tenant)
    base = f"/{tenant.slug}/settings/webhooks/"
    page = text(client.get(base))
    assert 'name="role"' in page and '<option value="owner"' not in page

    refused = auth.post(
        base, {"url": receiver["url"], "event_types": ["deal.created"], "role": "owner"}
    )
    assert refused.status_code == 422
    assert re.search(r'id="e-role"[^>]*>\s*<span>Choose one of the workspace', text(refused))

    created = auth.post(
        base, {"url": receiver["url"], "event_types": ["deal.created"], "role": "read_only"}
    )
    assert created.status_code == 200
    row = re.search(r"<tr data-endpoint-id=.*?</tr>", text(created), re.S).group(0)
    assert "Read only" in row
    endpoint_id = re.search(r'data-endpoint-id="([0-9a-f-]+)"', row).group(1)
    detail = text(client.get(f"{base}{endpoint_id}"))
    assert re.search(r'<option value="read_only"\s+selected>', detail)
