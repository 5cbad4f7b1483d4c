"""Read-only workspaces refuse every write path (browser, API, job/service) and lose nothing."""

from __future__ import annotations

import html
import secrets

import pytest
from sqlalchemy import func, select

from rapport.billing.access import WorkspaceReadOnly
from rapport.platform.audit.models import AuditEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company

from .conftest import days_ago

READ_ONLY = "This workspace is read-only because"
ASK = "upgrade or update the payment method"


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def stored(app, tenant, name: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """How many companies of this name, and how many audit entries about creating one, exist."""
    with app.app_context(), tenant_session(tenant.ref) as session:
        rows = session.scalar(select(func.count()).select_from(Company).where(Company.name == name))
        changes = session.scalars(
            select(AuditEntry.changes).where(AuditEntry.action == "company.created")
        ).all()
        entries = sum(1 for c in changes if name in str(c))
        return rows, entries


def create_in_browser(auth, tenant, name: str):  # type: ignore[no-untyped-def]
    auth.login_as(tenant)
    return auth.post(f"/{tenant.slug}/companies/", {"name": name})


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture()
def canceled(new_tenant, edit_subscription):  # type: ignore[no-untyped-def]
    tenant = new_tenant("Lapsed")
    edit_subscription(tenant, "canceled")
    return tenant


def test_the_browser_refuses_to_create_and_says_why(app, client, auth, tenants, canceled) -> None:
    name = unique("Refused Inc")
    response = create_in_browser(auth, canceled, name)
    # The form again, the reason above its fields, what was typed still there.
    assert response.status_code == 422
    body = text(response)
    assert f"{READ_ONLY} the subscription was canceled; {ASK}." in body
    assert 'role="alert"' in body and f'value="{name}"' in body
    assert stored(app, canceled, name) == (0, 0)
    # Reading still works, with the reason on every page.
    listing = client.get(f"/{canceled.slug}/companies/")
    assert listing.status_code == 200 and READ_ONLY in text(listing)


def test_the_api_refuses_to_create_with_402_and_still_reads(app, tenants, canceled, api_of) -> None:
    api = api_of(canceled)
    name = unique("Refused API")
    response = api.post("/api/v1/companies", json={"name": name})
    assert response.status_code == 402, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 402 and body["status"] == "Payment Required"
    assert body["message"].startswith(READ_ONLY) and ASK in body["message"]
    assert stored(app, canceled, name) == (0, 0)
    assert api.get("/api/v1/companies").status_code == 200


def test_a_job_or_service_write_is_refused_and_nothing_is_written(app, tenants, canceled) -> None:
    name = unique("Refused Job")
    refused = pytest.raises(WorkspaceReadOnly, match="read-only because")
    with app.app_context(), refused, tenant_session(canceled.ref) as session:
        companies.create_company(session, {"name": name})
    assert stored(app, canceled, name) == (0, 0)


def test_other_workspaces_keep_writing(app, auth, api_of, tenants, canceled) -> None:
    tenant_a, tenant_b = tenants
    in_browser, in_api = unique("Still Writing"), unique("Still API")
    response = create_in_browser(auth, tenant_a, in_browser)
    assert response.status_code == 303
    assert stored(app, tenant_a, in_browser) == (1, 1)
    created = api_of(tenant_b).post("/api/v1/companies", json={"name": in_api})
    assert created.status_code == 201
    assert stored(app, tenant_b, in_api) == (1, 1)


def test_past_due_keeps_writing_with_a_banner_during_grace_then_turns_read_only(
    app, auth, client, new_tenant, edit_subscription
) -> None:
    tenant = new_tenant("Overdue")
    edit_subscription(tenant, "past_due")
    during = unique("During Grace")
    response = create_in_browser(auth, tenant, during)
    assert response.status_code == 303
    assert stored(app, tenant, during) == (1, 1)
    page = text(client.get(f"/{tenant.slug}/companies/"))
    assert "A payment is overdue. Update the payment method by" in page

    edit_subscription(tenant, past_due_since=days_ago(7.01))
    after = unique("After Grace")
    refused = auth.post(f"/{tenant.slug}/companies/", {"name": after})
    assert refused.status_code == 422
    assert f"{READ_ONLY} a payment is overdue" in text(refused)
    assert stored(app, tenant, after) == (0, 0)


def test_a_trial_that_ended_unpaid_is_read_only_with_an_upgrade_prompt(
    app, auth, client, new_tenant, edit_subscription
) -> None:
    tenant = new_tenant("Expired Trial")
    auth.login_as(tenant)
    assert "Your free trial ends in 13 days" in text(client.get(f"/{tenant.slug}/companies/"))
    edit_subscription(tenant, trial_ends_at=days_ago(0.01))
    name = unique("After Trial")
    refused = auth.post(f"/{tenant.slug}/companies/", {"name": name})
    assert refused.status_code == 422
    assert f"{READ_ONLY} the free trial has ended" in text(refused)
    page = text(client.get(f"/{tenant.slug}/companies/"))
    assert "See plans and billing" in page
    assert stored(app, tenant, name) == (0, 0)


def test_a_suspended_workspace_cannot_be_opened(
    auth, client, api_of, new_tenant, edit_subscription
) -> None:
    tenant = new_tenant("Suspended")
    api = api_of(tenant)
    edit_subscription(tenant, "suspended")
    auth.login_as(tenant)
    page = client.get(f"/{tenant.slug}/companies/")
    assert page.status_code == 403 and "This workspace is suspended" in text(page)
    refused = api.get("/api/v1/companies")
    assert refused.status_code == 403 and "suspended" in refused.get_json()["message"]


def test_a_read_only_workspace_still_records_what_happens(app, tenants, canceled) -> None:
    """Bookkeeping is not data: audit entries of control-plane actions and outbox delivery marks
    are still written, so nothing that happened is lost while the data stays frozen."""
    from rapport.platform.audit import chain as audit
    from rapport.platform.db import utcnow
    from rapport.platform.jobs.models import OutboxEntry

    with app.app_context(), tenant_session(canceled.ref) as session:
        audit.record(session, "member.removed", "user", canceled.owner_id)
        entry = OutboxEntry(queue="default", job="noop", event_key=unique("event"), payload={})
        session.add(entry)
    with app.app_context(), tenant_session(canceled.ref) as session:
        session.get(OutboxEntry, entry.id).done_at = utcnow()
    with app.app_context(), tenant_session(canceled.ref) as session:
        assert session.get(OutboxEntry, entry.id).done_at is not None
        removed = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.removed"))
        assert removed.first() is not None


def test_bulk_statements_are_refused_too(app, tenants, canceled) -> None:
    """An ORM UPDATE or DELETE statement skips the flush; the read-only rule still holds."""
    from sqlalchemy import delete, update

    refused = pytest.raises(WorkspaceReadOnly, match="read-only because")
    for statement in (update(Company).values(name="Renamed"), delete(Company)):
        with app.app_context(), refused, tenant_session(canceled.ref) as session:
            session.execute(statement)
    # The outbox's own bulk claim (how a job marks its delivery) still runs.
    from rapport.platform.jobs.models import OutboxEntry

    with app.app_context(), tenant_session(canceled.ref) as session:
        session.execute(update(OutboxEntry).where(OutboxEntry.done_at.is_(None)).values(attempts=0))


class Receiver:
    """A webhook receiver on loopback answering from a script (then 200)."""

    def __init__(self, answers: list[int]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answers, self.statuses = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.statuses.append(status)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver(app):  # type: ignore[no-untyped-def]
    import dataclasses

    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(before, webhook_allow_private=True)
    made = Receiver([500])
    yield made
    made.close()
    app.config["RAPPORT"] = before


def test_a_read_only_workspace_still_delivers_queued_webhooks_but_refuses_edits(
    app, api_of, new_tenant, edit_subscription, receiver
) -> None:
    import datetime as dt

    from sqlalchemy import update

    from rapport.platform.db import utcnow
    from rapport.platform.jobs.execute import perform
    from rapport.platform.jobs.runtime import drain
    from rapport.tenants.webhooks import due
    from rapport.tenants.webhooks.models import WebhookDelivery

    tenant = new_tenant("Hooked Then Lapsed")
    admin = api_of(tenant, "admin")
    made = admin.post(
        "/api/v1/webhooks", json={"url": receiver.url, "event_types": ["company.created"]}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    endpoint = made.get_json()["id"]
    assert admin.post("/api/v1/companies", json={"name": "Before Lapse"}).status_code == 201
    drain(app)
    assert receiver.statuses == [500]  # the first attempt failed: a retry is queued

    edit_subscription(tenant, "canceled")
    with app.app_context(), tenant_session(tenant.ref) as session:  # time passes: the retry is due
        session.execute(
            update(WebhookDelivery).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        )
    with app.app_context():
        due.mark(tenant.ref.id, utcnow() - dt.timedelta(seconds=1))
        perform(None, "rapport.tenants.webhooks.jobs.retry_due")
    drain(app)
    assert receiver.statuses == [500, 200]
    log = admin.get(f"/api/v1/webhooks/{endpoint}/deliveries").get_json()["items"]
    assert log[0]["state"] == "succeeded" and log[0]["attempts"] == 2
    assert admin.get(f"/api/v1/webhooks/{endpoint}").get_json()["failing_since"] is None

    # The user's own writes stay refused, on the endpoint as on the data.
    for refused in (
        admin.client.patch(f"/api/v1/webhooks/{endpoint}", json={"url": receiver.url + "/new"},
                           headers={"Authorization": f"Bearer {admin.text}"}),
        admin.post("/api/v1/companies", json={"name": "After Lapse"}),
    ):  # fmt: skip
        assert refused.status_code == 402, refused.get_data(as_text=True)
        assert refused.get_json()["message"].startswith(READ_ONLY)


def test_a_read_only_workspace_still_sends_and_notes_due_reminders(
    app, new_tenant, edit_subscription, smtp
) -> None:
    import datetime as dt

    from rapport.platform.db import db, utcnow
    from rapport.tenants.activities import reminders
    from rapport.tenants.activities import services as activities
    from rapport.tenants.activities.models import Activity

    tenant = new_tenant("Reminded Then Lapsed")
    subject = unique("Call back")
    now = utcnow()
    with app.app_context(), tenant_session(tenant.ref) as session:
        activity_id = activities.create_activity(
            session,
            {"kind": "call", "subject": subject, "owner_id": str(tenant.owner_id),
             "due_at": (now + dt.timedelta(minutes=30)).isoformat(),
             "remind_at": (now - dt.timedelta(minutes=1)).isoformat()},
        ).id  # fmt: skip
    edit_subscription(tenant, "canceled")
    with app.app_context():
        reminders.dispatch_reminders(db.session)
        reminders.dispatch_reminders(db.session)
    mails = [m for m in smtp.to(tenant.owner_email) if subject in str(m["Subject"])]
    assert len(mails) == 1  # sent, and noted as sent: not sent twice
    with app.app_context(), tenant_session(tenant.ref) as session:
        assert session.get(Activity, activity_id).reminded_at is not None
    refused = pytest.raises(WorkspaceReadOnly, match="read-only because")
    with app.app_context(), refused, tenant_session(tenant.ref) as session:
        session.get(Activity, activity_id).subject = "Changed while read-only"
