"""Each member sees and enters times in their own time zone; Rapport stores UTC."""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
import uuid

from rapport.platform.db import db
from rapport.platform.identity.models import User
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities.models import Activity
from tests.conftest import add_member


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def member_in(app, tenant, zone: str):  # type: ignore[no-untyped-def]
    """A manager of the workspace whose account is set to ``zone``."""
    person = add_member(app, tenant, "manager")
    with app.app_context():
        db.session.get(User, person.user_id).timezone = zone
        db.session.commit()
    return person


def plan_activity(auth, tenant, person, kind: str, subject: str, due_at: str):  # type: ignore[no-untyped-def]
    """Plan an activity through the browser's form, as ``person``."""
    auth.login_as(person)
    return auth.post(
        f"/{tenant.slug}/activities/",
        {"kind": kind, "subject": subject, "due_at": due_at, "owner_id": str(person.user_id)},
    )


def test_a_member_chooses_their_zone_on_the_account_page(app, client, auth, tenants):
    a, _b = tenants
    person = add_member(app, a)
    auth.login_as(person)
    page = client.get("/account/")
    assert page.status_code == 200 and 'name="timezone"' in text(page)
    refused = auth.post("/account/", {"name": "Wang Fang", "timezone": "Mars/Olympus_Mons"})
    assert refused.status_code == 422 and "Choose a time zone from the list." in text(refused)
    saved = auth.post("/account/", {"name": "Wang Fang", "timezone": "Asia/Shanghai"}, True)
    assert "Times now show in Asia/Shanghai." in text(saved)
    with app.app_context():
        user = db.session.get(User, person.user_id)
        assert (user.name, user.timezone) == ("Wang Fang", "Asia/Shanghai")


def test_times_are_entered_and_shown_in_the_members_zone(app, client, auth, tenants):
    a, b = tenants
    person = member_in(app, a, "Asia/Shanghai")
    subject = f"Breakfast meeting {secrets.token_hex(3)}"
    created = plan_activity(auth, a, person, "meeting", subject, "2031-12-01T09:30")
    assert created.status_code == 303, text(created)[:500]
    activity_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    with app.app_context(), tenant_session(a.ref) as s:
        stored = s.get(Activity, uuid.UUID(activity_id))
        # 09:30 in Shanghai (UTC+8) is 01:30 UTC.
        assert stored.due_at == dt.datetime(2031, 12, 1, 1, 30, tzinfo=dt.UTC)
    detail = text(client.get(created.headers["Location"]))
    assert "Mon 01 Dec 2031, 09:30 CST" in detail
    edit = text(client.get(created.headers["Location"] + "/edit"))
    assert 'value="2031-12-01T09:30"' in edit
    # The week view files it under the member's own day.
    week = text(client.get(f"/{a.slug}/activities/calendar?view=week&date=2031-12-01"))
    assert subject in week and "Times are in Asia/Shanghai." in week
    # A colleague without a zone sees the same moment in UTC.
    auth.logout()
    auth.login_as(a)
    detail = text(client.get(created.headers["Location"]))
    assert "Mon 01 Dec 2031, 01:30 UTC" in detail
    # The other workspace never sees it, in any zone.
    assert client.get(f"/{b.slug}/activities/{activity_id}").status_code == 404


def test_a_late_evening_in_utc_is_the_next_morning_on_the_calendar(app, client, auth, tenants):
    a, _b = tenants
    person = member_in(app, a, "Asia/Seoul")
    subject = f"Early call {secrets.token_hex(3)}"
    created = plan_activity(auth, a, person, "call", subject, "2031-12-02T07:00")
    assert created.status_code == 303
    # 07:00 in Seoul on 2 December is 22:00 UTC on 1 December.
    month = text(client.get(f"/{a.slug}/activities/calendar?view=month&date=2031-12-01"))
    day_cells = re.split(r'<span class="day-number">', month)
    on_the_second = next(cell for cell in day_cells if cell.startswith("2<"))
    assert subject in on_the_second
