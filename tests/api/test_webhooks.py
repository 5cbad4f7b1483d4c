"""Webhooks end to end: a real HTTP receiver on loopback, signatures, retries, SSRF, disabling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.platform.jobs.execute import perform
from rapport.platform.jobs.runtime import drain
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.webhooks import due, secrets, transport
from rapport.tenants.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import add_member

RETRY_JOB = "rapport.tenants.webhooks.jobs.retry_due"


class Receiver:
    """An HTTP server on 127.0.0.1: checks each signature, answers from a script."""

    def __init__(self, answers: list[int] | None = None, location: str | None = None) -> None:
        self.answers = list(answers or [])
        self.location = location
        self.secret: str | None = None
        self.during: Any = None  # called once, inside the next request, before answering
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("Rapport-Signature", "")
                with receiver._lock:
                    valid = receiver.secret is not None and secrets.verify(
                        receiver.secret, header, body
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append(
                        {
                            "body": json.loads(body),
                            "valid": valid,
                            "status": status,
                            "headers": dict(self.headers),
                        }
                    )
                if receiver.during is not None:
                    during, receiver.during = receiver.during, None
                    during()
                if not valid:
                    status = 401
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/rapport"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["valid"] and 200 <= r["status"] < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receivers() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(answers: list[int] | None = None, location: str | None = None) -> Receiver:
        made.append(Receiver(answers, location))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture()
def allow_loopback(app) -> Iterator[None]:
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(before, webhook_allow_private=True)
    yield
    app.config["RAPPORT"] = before


def register(api, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", json={"url": receiver.url, "event_types": events})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["secret"].startswith("whsec_")
    receiver.secret = body["secret"]
    return body


def make_due(app, tenant, **endpoint_changes: Any) -> None:
    """Drive time: every pending retry of the tenant is due now (and the endpoint as given)."""
    with app.app_context(), tenant_session(tenant.ref) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        )
        if endpoint_changes:
            session.execute(update(WebhookEndpoint).values(**endpoint_changes))
    with app.app_context():
        due.mark(tenant.ref.id, utcnow() - dt.timedelta(seconds=1))


def run_retries(app) -> None:
    with app.app_context():
        perform(None, RETRY_JOB)
    drain(app)


def test_events_are_signed_retried_and_accepted_exactly_once(
    app, new_key, api_for, tenant_a, tenant_b, receivers, allow_loopback
):
    admin_a = api_for(new_key(tenant_a, role="admin"))
    admin_b = api_for(new_key(tenant_b, role="admin"))
    flaky = receivers([500, 500, 200])
    other = receivers()
    endpoint = register(admin_a, flaky, ["company.created"])
    register(admin_b, other, ["company.created", "company.updated"])

    created = admin_a.post("/api/v1/companies", json={"name": f"Hooked {uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201
    company_id = created.get_json()["id"]
    drain(app)
    assert len(flaky.requests) == 1 and flaky.requests[0]["status"] == 500
    for _ in range(2):
        make_due(app, tenant_a)
        run_retries(app)
    run_retries(app)  # nothing left: no fourth request

    assert [r["status"] for r in flaky.requests] == [500, 500, 200]
    assert all(r["valid"] for r in flaky.requests)
    bodies = [r["body"] for r in flaky.requests]
    assert {b["id"] for b in bodies} == {bodies[0]["id"]}  # one business event, three attempts
    assert bodies[0]["type"] == "company.created"
    assert bodies[0]["data"]["record_id"] == company_id
    assert bodies[0]["workspace"] == tenant_a.slug
    assert [r["headers"]["Rapport-Attempt"] for r in flaky.requests] == ["1", "2", "3"]
    assert len(flaky.accepted()) == 1
    # Tenant B's endpoint never hears of tenant A's company.
    assert other.requests == []

    log = admin_a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").get_json()["items"]
    assert len(log) == 1
    delivery = log[0]
    assert delivery["state"] == "succeeded" and delivery["attempts"] == 3
    assert [a["status"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert all(a["duration_ms"] >= 0 for a in delivery["attempt_log"])
    assert delivery["attempt_log"][-1]["response_excerpt"] == "answered 200"

    # The event job delivered twice adds no second delivery.
    with app.app_context(), tenant_session(tenant_a.ref) as session:
        from rapport.tenants.webhooks.services import fan_out

        row = session.get(WebhookDelivery, uuid.UUID(delivery["id"]))
        fan_out(session, tenant_a.ref, dict(row.payload))
    drain(app)
    assert (
        len(admin_a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").get_json()["items"]) == 1
    )
    assert len(flaky.requests) == 3

    # Tenant B cannot see or redeliver A's endpoint or delivery.
    assert admin_b.get(f"/api/v1/webhooks/{endpoint['id']}").status_code == 404
    assert (
        admin_b.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/redeliver").status_code == 404
    )

    # Manual redelivery: one more attempt, marked manual.
    again = admin_a.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202
    drain(app)
    assert len(flaky.requests) == 4 and flaky.requests[-1]["headers"]["Rapport-Attempt"] == "4"
    log = admin_a.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").get_json()["items"]
    assert log[0]["attempt_log"][-1]["manual"] is True and log[0]["state"] == "succeeded"


def test_only_admin_keys_manage_webhooks_and_the_secret_is_shown_once(
    app, new_key, api_for, api_error, tenant_a, tenant_b, receivers, allow_loopback
):
    rep = api_for(new_key(tenant_a, role="sales_rep"))
    api_error(rep.get("/api/v1/webhooks"), 403)
    api_error(rep.post("/api/v1/webhooks", json={"url": "https://example.com"}), 403)
    admin = api_for(new_key(tenant_a, role="admin"))
    body = register(admin, receivers(), ["deal.stage_changed"])
    read = admin.get(f"/api/v1/webhooks/{body['id']}").get_json()
    assert "secret" not in read and read["secret_hint"] == body["secret"][-4:]
    listed = admin.get("/api/v1/webhooks").get_json()["items"]
    assert body["id"] in {e["id"] for e in listed}
    assert all("secret" not in e for e in listed)
    with app.app_context(), tenant_session(tenant_a.ref) as session:
        stored = session.get(WebhookEndpoint, uuid.UUID(body["id"]))
        assert body["secret"] not in stored.secret_encrypted
        assert secrets.decrypt(stored.secret_encrypted) == body["secret"]
    bad = api_error(
        admin.post("/api/v1/webhooks", json={"url": "ftp://x", "event_types": ["nope.nothing"]}),
        422,
    )
    assert "url" in bad["errors"]["json"] and "event_types" in bad["errors"]["json"]
    changed = admin.patch(f"/api/v1/webhooks/{body['id']}", json={"enabled": False})
    assert changed.status_code == 200 and changed.get_json()["enabled"] is False
    types = admin.get("/api/v1/webhooks/event-types").get_json()["items"]
    assert {"company.created", "deal.stage_changed"} <= {t["type"] for t in types}
    assert admin.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    api_error(admin.get(f"/api/v1/webhooks/{body['id']}"), 404)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(app, url):
    outcome = transport.post(url, b"{}", {}, allow_private=False)
    assert outcome.status is None and outcome.error.startswith("Refused")
    assert not outcome.accepted


def test_a_private_url_is_refused_at_registration_when_not_allowed(
    app, new_key, api_for, api_error, tenant_a
):
    admin = api_for(new_key(tenant_a, role="admin"))
    body = api_error(
        admin.post(
            "/api/v1/webhooks",
            json={"url": "http://169.254.169.254/", "event_types": ["company.created"]},
        ),
        422,
    )
    assert "public address" in body["errors"]["json"]["url"][0]


def test_a_refused_address_reaches_nothing_and_a_redirect_is_not_followed(
    app, receivers, allow_loopback
):
    target = receivers()
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(before, webhook_allow_private=False)
    try:
        outcome = transport.post(target.url, b"{}", {}, allow_private=False)
    finally:
        app.config["RAPPORT"] = before
    assert outcome.error.startswith("Refused") and target.requests == []

    bouncer = receivers([302], location="http://10.0.0.1/internal")
    bouncer.secret = "whsec_x"
    body = b'{"hello": "world"}'
    headers = {"Rapport-Signature": secrets.signature_header("whsec_x", body)}
    outcome = transport.post(bouncer.url, body, headers, allow_private=True)
    assert outcome.status == 302 and not outcome.accepted
    assert "not followed" in outcome.error
    assert len(bouncer.requests) == 1


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_admins_are_emailed(
    app, new_key, api_for, new_tenant, receivers, allow_loopback, smtp
):
    tenant = new_tenant("Hooks Down")
    admin = api_for(new_key(tenant, role="admin"))
    down = receivers([500] * 10)
    endpoint = register(admin, down, ["company.created", "company.updated"])
    assert admin.post("/api/v1/companies", json={"name": "Down Ltd"}).status_code == 201
    drain(app)
    assert len(down.requests) == 1
    # A day of failures: the run of failures began 25 hours ago.
    make_due(app, tenant, failing_since=utcnow() - dt.timedelta(hours=25))
    run_retries(app)
    assert len(down.requests) == 2

    read = admin.get(f"/api/v1/webhooks/{endpoint['id']}").get_json()
    assert read["enabled"] is False and read["disabled_at"]
    assert "failed for 25 hours" in read["disabled_reason"]
    mail = smtp.last(tenant.owner_email)
    assert "disabled" in mail["Subject"] and down.url in smtp.text(mail)
    with app.app_context(), tenant_session(tenant.ref) as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert "webhook.disabled" in actions
    log = admin.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").get_json()["items"]
    assert log[0]["state"] == "failed" and log[0]["attempts"] == 2

    # A disabled endpoint receives no new events.
    assert admin.post("/api/v1/companies", json={"name": "Still Down"}).status_code == 201
    drain(app)
    assert len(down.requests) == 2
    # Enabled again, the test event goes through (the receiver still fails: it is logged).
    assert (
        admin.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}).status_code == 200
    )
    assert admin.post(f"/api/v1/webhooks/{endpoint['id']}/test").status_code == 202
    drain(app)
    assert len(down.requests) == 3 and down.requests[-1]["body"]["type"] == "webhook.test"


def test_a_replayed_creation_never_reveals_the_secret_again(
    app, new_key, api_for, api_error, tenant_a, receivers, allow_loopback
):
    admin = api_for(new_key(tenant_a, role="admin"))
    body = {"url": receivers().url, "event_types": ["company.created"]}
    headers = {"Idempotency-Key": f"hook-{uuid.uuid4()}"}
    first = admin.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["secret"].startswith("whsec_")
    again = api_error(admin.post("/api/v1/webhooks", json=body, headers=headers), 409)
    assert "held a secret" in again["message"]
    assert first.get_json()["secret"] not in str(again)


def test_the_receiver_is_called_while_the_workspace_stays_writable(
    app, new_key, api_for, new_tenant, tenant_b, receivers, allow_loopback
):
    """A slow receiver must not hold the workspace's locks (on SQLite: its file's write lock)."""
    from rapport.tenants.companies.services import create_company

    tenant = new_tenant("Hooks Busy")
    admin = api_for(new_key(tenant, role="admin"))
    receiver = receivers([200, 200])
    register(admin, receiver, ["company.created"])
    written: list[uuid.UUID] = []

    def write_meanwhile() -> None:
        with app.app_context(), tenant_session(tenant.ref) as session:
            written.append(create_company(session, {"name": "Written during a delivery"}).id)

    receiver.during = write_meanwhile
    response = admin.post("/api/v1/companies", json={"name": "Hooked company"})
    assert response.status_code == 201
    drain(app)
    assert len(written) == 1  # the write went through while the receiver held the request
    names = [r["body"]["data"]["record"]["name"] for r in receiver.accepted()]
    assert sorted(names) == ["Hooked company", "Written during a delivery"]
    with app.app_context(), tenant_session(tenant_b.ref) as session:
        seen = [
            d.payload.get("data", {}).get("name") for d in session.scalars(select(WebhookDelivery))
        ]
    assert not set(seen) & set(names)


def test_an_endpoint_sees_events_as_its_role(app, new_tenant, tenant_b, receivers, allow_loopback):
    """Records the endpoint's role may not see are not sent, nor the fields it may not see."""
    from rapport.tenants.deals import services as deals
    from rapport.tenants.roles import services as roles
    from rapport.tenants.webhooks import services as webhooks

    tenant = new_tenant("Hooked by role")
    rep, colleague = add_member(app, tenant), add_member(app, tenant)
    reps_feed, finance_feed = receivers(), receivers()
    with app.app_context(), tenant_session(tenant.ref) as session:
        feed_role = roles.create_role(session, "Partner feed", copy_of="manager")
        roles.update_role(session, feed_role.id, fields_spec={"deals": {"amount": "hidden"}})
        types = ["deal.created", "deal.updated"]
        endpoint, reps_feed.secret = webhooks.create_endpoint(
            session,
            {"url": reps_feed.url, "event_types": types, "role": "sales_rep"},
            created_by=rep.user_id,
        )
        _, finance_feed.secret = webhooks.create_endpoint(
            session, {"url": finance_feed.url, "event_types": types, "role": feed_role.key}
        )
        mine = deals.create_deal(
            session,
            {"name": "Rep's deal", "amount": "900", "currency": "EUR", "owner_id": rep.user_id},
        )
        theirs = deals.create_deal(
            session,
            {
                "name": "Colleague's deal",
                "amount": "500",
                "currency": "EUR",
                "owner_id": colleague.user_id,
            },
        )
        mine_id, theirs_id = str(mine.id), str(theirs.id)
    drain(app)
    with app.app_context(), tenant_session(tenant.ref) as session:
        deals.update_deal(session, theirs_id, {"amount": "750"}, partial=True)  # hidden only
        deals.update_deal(session, theirs_id, {"name": "Colleague's big deal"}, partial=True)
    drain(app)

    # A sales rep sees their own deals only: the endpoint made by a rep hears of theirs alone.
    assert [(r["body"]["type"], r["body"]["data"]["record_id"]) for r in reps_feed.requests] == [
        ("deal.created", mine_id)
    ]
    assert reps_feed.requests[0]["body"]["data"]["record"]["amount"] == "900.00"
    # A role that sees every deal but not its amount: both deals, no amount anywhere, and the
    # change of the amount alone is not announced.
    bodies = [r["body"] for r in finance_feed.requests]
    assert [(b["type"], b["data"]["record_id"]) for b in bodies] == [
        ("deal.created", mine_id),
        ("deal.created", theirs_id),
        ("deal.updated", theirs_id),
    ]
    assert all("amount" not in b["data"]["record"] for b in bodies)
    assert bodies[-1]["data"]["record"]["changes"] == {
        "name": ["Colleague's deal", "Colleague's big deal"]
    }
    assert all(r["valid"] for r in reps_feed.requests + finance_feed.requests)

    # The role can't be deleted while an endpoint sees as it; owner is not a choice.
    with app.app_context(), tenant_session(tenant.ref) as session:
        with pytest.raises(Conflict, match="webhook endpoint"):
            roles.delete_role(session, feed_role.id)
        with pytest.raises(ValidationFailed) as refused:
            webhooks.update_endpoint(session, endpoint.id, {"role": "owner"})
        assert "role" in refused.value.errors
