"""Reminders: emailed once to the owner through the outbox, only tenants with a reminder due are
visited, and the index is rebuilt from the database when it is lost."""

from __future__ import annotations

import datetime as dt
import secrets

from rapport.platform.db import db, utcnow
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities import reminders, services
from rapport.tenants.activities.models import Activity


def _reminder(app, tenant, subject: str, *, minutes_ago: int = 1) -> object:
    now = utcnow()
    with app.app_context(), tenant_session(tenant.ref) as s:
        return services.create_activity(
            s,
            {"kind": "call", "subject": subject, "owner_id": str(tenant.owner_id),
             "due_at": (now + dt.timedelta(minutes=30)).isoformat(),
             "remind_at": (now - dt.timedelta(minutes=minutes_ago)).isoformat()},
        ).id  # fmt: skip


def _lose_index(app) -> None:
    """What a Redis flush (or a restarted embedded process) does to the index."""
    idx = reminders.index(app)
    if isinstance(idx, reminders.RedisIndex):
        idx.redis.delete(reminders._KEY, reminders._REBUILT)
    else:
        app.extensions.pop(reminders.EXTENSION)


def test_a_due_reminder_is_emailed_once_to_the_owner(app, tenants, smtp):
    a, b = tenants
    subject = f"Call Li Wei {secrets.token_hex(3)}"
    activity_id = _reminder(app, a, subject)
    with app.app_context():
        assert reminders.index(app).score(str(a.ref.id)) is not None
        started = reminders.dispatch_reminders(db.session)
        assert str(a.ref.id) in started
        assert str(b.ref.id) not in started  # nothing due there: not visited
    mails = [m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]
    assert len(mails) == 1
    body = smtp.text(mails[0])
    assert subject in body and f"/{a.slug}/activities/{activity_id}" in body
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.get(Activity, activity_id).reminded_at is not None
    # Dispatching again (every minute) sends nothing more.
    with app.app_context():
        reminders.dispatch_reminders(db.session)
    assert len([m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]) == 1


def test_a_future_reminder_waits_and_a_moved_one_is_a_new_reminder(app, tenants, smtp):
    a, _b = tenants
    subject = f"Later {secrets.token_hex(3)}"
    activity_id = _reminder(app, a, subject, minutes_ago=-60)  # in an hour
    with app.app_context():
        reminders.dispatch_reminders(db.session)
    assert not [m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]
    past = (utcnow() - dt.timedelta(minutes=2)).isoformat()
    with app.app_context(), tenant_session(a.ref) as s:
        services.update_activity(s, activity_id, {"remind_at": past}, partial=True)
    with app.app_context():
        reminders.dispatch_reminders(db.session)
    assert len([m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]) == 1


def test_done_activities_are_not_reminded(app, tenants, smtp):
    a, _b = tenants
    subject = f"Done already {secrets.token_hex(3)}"
    activity_id = _reminder(app, a, subject)
    with app.app_context(), tenant_session(a.ref) as s:
        services.complete_activity(s, activity_id, {"outcome": "Called early"})
    with app.app_context():
        reminders.dispatch_reminders(db.session)
    assert not [m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]


def test_a_lost_index_is_rebuilt_from_the_database(app, tenants, smtp):
    a, _b = tenants
    subject = f"Survives {secrets.token_hex(3)}"
    _reminder(app, a, subject)
    _lose_index(app)
    with app.app_context():
        assert reminders.index(app).score(str(a.ref.id)) is None
        reminders.dispatch_reminders(db.session)
    assert len([m for m in smtp.to(a.owner_email) if subject in str(m["Subject"])]) == 1


def test_the_reminder_email_gives_the_time_in_the_owners_zone(app, tenants, new_tenant, smtp):
    from rapport.platform.identity.models import User

    ws, _b = new_tenant("Zoned"), tenants[1]
    with app.app_context():
        db.session.get(User, ws.owner_id).timezone = "Asia/Taipei"
        db.session.commit()
    subject = f"Call Chen {secrets.token_hex(3)}"
    activity_id = _reminder(app, ws, subject)
    with app.app_context():
        reminders.dispatch_reminders(db.session)
        with tenant_session(ws.ref) as s:
            due = s.get(Activity, activity_id).due_at
    (mail,) = [m for m in smtp.to(ws.owner_email) if subject in str(m["Subject"])]
    body = smtp.text(mail)
    taipei = (due.astimezone(dt.UTC) + dt.timedelta(hours=8)).strftime("%a %d %b %Y, %H:%M")
    assert f"When: {taipei} CST" in body  # Taipei is UTC+8 all year
    assert "UTC" not in body
