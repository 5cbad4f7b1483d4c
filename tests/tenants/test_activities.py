"""Activity services: links to records, completion with outcome, check-in, audit, events,
the timeline, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities import queries, services
from rapport.tenants.activities import timeline as activity_timeline
from rapport.tenants.activities.models import Activity
from rapport.tenants.companies import services as company_services


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def events_of(session, activity_id) -> list[str]:
    """The event types announced about an activity, sorted (their order is not part of it)."""
    rows = session.scalars(select(OutboxEntry).where(OutboxEntry.job.like("%record_event")))
    return sorted(r.payload["type"] for r in rows if r.payload.get("record_id") == str(activity_id))


def test_a_call_linked_to_a_company_is_completed_with_its_outcome(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = company_services.create_company(s, {"name": unique("Initech")})
            activity = services.create_activity(
                s,
                {"kind": "call", "subject": "Discovery call", "due_at": "2026-05-04T09:30",
                 "owner_id": str(a.owner_id),
                 "links": [{"record_type": "companies", "record_id": str(company.id)}]},
            )  # fmt: skip
            activity_id, company_id = activity.id, company.id
        with tenant_session(a.ref) as s:
            (planned,) = activity_timeline.entries(s, "companies", company_id, limit=10)
            assert planned.title == "Call: Discovery call (planned)"
            assert planned.meta["due_at"] == "2026-05-04T09:30:00+00:00"  # shown in the zone
            services.complete_activity(s, activity_id, {"outcome": "Interested, send a quote"})
        with tenant_session(a.ref) as s:
            done = s.get(Activity, activity_id)
            assert done.status == "done" and done.completed_at is not None
            assert done.due_at == dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC)
            (item,) = [e for e in activity_timeline.entries(s, "companies", company_id, limit=10)]
            assert item.title == "Call: Discovery call: Interested, send a quote"
            actions = s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == str(activity_id))
                .order_by(AuditEntry.seq)  # the chain's order; without it PostgreSQL picks one
            ).all()
            assert actions == ["activity.created", "activity.updated"]
            # Done: announced as completed, and as an update saying what changed.
            assert events_of(s, activity_id) == [
                "activity.completed",
                "activity.created",
                "activity.updated",
            ]
        with tenant_session(b.ref) as s:
            assert s.get(Activity, activity_id) is None
            assert activity_timeline.entries(s, "companies", company_id, limit=10) == []
            with pytest.raises(NotFound):
                services.complete_activity(s, activity_id)


def test_links_must_name_records_of_the_same_tenant(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = company_services.create_company(s, {"name": unique("Hooli")}).id
        with tenant_session(b.ref) as s, pytest.raises(ValidationFailed) as exc:
            services.create_activity(
                s,
                {"subject": "Sneaky",
                 "links": [{"record_type": "companies", "record_id": str(company_id)}]},
            )  # fmt: skip
        assert "links" in exc.value.errors


def test_validation_names_each_bad_field(app, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as exc:
            services.create_activity(
                s, {"kind": "party", "subject": "", "due_at": "2026-05-04T10:00",
                    "ends_at": "2026-05-04T09:00"}
            )  # fmt: skip
        assert set(exc.value.errors) == {"kind", "subject", "ends_at"}


def test_a_visit_check_in_stores_time_and_position_and_completes_it(app, tenants):
    a, _b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            visit_id = services.create_activity(
                s, {"kind": "visit", "subject": unique("Visit"), "due_at": "2026-05-04T09:00"}
            ).id
            task_id = services.create_activity(s, {"subject": unique("Task")}).id
        with tenant_session(a.ref) as s:
            services.check_in(
                s, visit_id,
                {"latitude": "48.8584", "longitude": "2.2945", "accuracy": "12", "outcome": "Met"},
            )  # fmt: skip
            with pytest.raises(ValidationFailed):
                services.check_in(s, task_id, {})
        with tenant_session(a.ref) as s:
            visit = s.get(Activity, visit_id)
            assert (visit.latitude, visit.longitude, visit.accuracy) == (48.8584, 2.2945, 12.0)
            assert visit.status == "done" and visit.checked_in_at is not None
            assert visit.outcome == "Met"
            assert events_of(s, visit_id) == [
                "activity.completed", "activity.created", "visit.checked_in",
            ]  # fmt: skip
            services.cancel_activity(s, task_id)
        with tenant_session(a.ref) as s, pytest.raises(Conflict):
            services.complete_activity(s, task_id)


def test_lists_and_calendar_range_show_the_owners_activities(app, tenants):
    a, b = tenants
    subject = unique("Meeting")
    with app.app_context():
        with tenant_session(a.ref) as s:
            services.create_activity(
                s, {"kind": "meeting", "subject": subject, "due_at": "2031-03-05T10:00",
                    "ends_at": "2031-03-05T11:00", "owner_id": str(a.owner_id)},
            )  # fmt: skip
        with tenant_session(a.ref) as s:
            start = dt.datetime(2031, 3, 2, tzinfo=dt.UTC)
            found = queries.in_range(s, start, start + dt.timedelta(days=7), owners=[a.owner_id])
            assert subject in [x.subject for x in found]
            assert subject in [x.subject for x in queries.list_activities(s, owners=[a.owner_id])]
        with tenant_session(b.ref) as s:
            found = queries.in_range(s, start, start + dt.timedelta(days=7))
            assert subject not in [x.subject for x in found]
