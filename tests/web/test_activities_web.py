"""Activities in the browser: create from a record, the list with due reminders and the header
count, complete with an outcome, the calendar (week and month), check-in without JavaScript,
the timeline composer, deletion with confirmation, and isolation between workspaces."""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets

from rapport.platform.db import utcnow
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities import services
from rapport.tenants.activities.models import Activity
from rapport.tenants.companies import services as company_services


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_for(body: str, field: str) -> str | None:
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def make_company(app, tenant) -> tuple[str, str]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        company = company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"})
        return str(company.id), company.name


def make_activity(app, tenant, **data) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        base = {"subject": f"Act {secrets.token_hex(3)}", "owner_id": str(tenant.owner_id)}
        return str(services.create_activity(s, {**base, **data}).id)


def test_create_an_activity_about_a_company_and_complete_it(client, auth, app, tenants):
    a, _b = tenants
    company_id, company_name = make_company(app, a)
    auth.login_as(a)
    subject = f"Intro call {secrets.token_hex(3)}"
    new_page = client.get(f"/{a.slug}/activities/new?link=companies:{company_id}&kind=call")
    assert new_page.status_code == 200 and company_name in page_text(new_page)
    response = auth.post(
        f"/{a.slug}/activities/",
        {"kind": "call", "subject": subject, "due_at": "2031-04-02T10:00",
         "owner_id": str(a.owner_id), "links": f"companies:{company_id}"},
    )  # fmt: skip
    assert response.status_code == 303
    detail = client.get(response.headers["Location"])
    body = page_text(detail)
    assert subject in body and company_name in body and "Wed 02 Apr 2031, 10:00" in body
    done = auth.post(
        response.headers["Location"] + "/complete", {"outcome": "Wants a demo next week"}
    )
    assert done.status_code == 303
    body = page_text(client.get(response.headers["Location"]))
    assert "Wants a demo next week" in body and "Done" in body


def test_the_form_shows_errors_next_to_fields(client, auth, tenants):
    a, _b = tenants
    auth.login_as(a)
    response = auth.post(
        f"/{a.slug}/activities/",
        {
            "kind": "task",
            "subject": "",
            "due_at": "2031-04-02T10:00",
            "ends_at": "2031-04-01T10:00",
        },
    )
    body = page_text(response)
    assert response.status_code == 422
    assert error_for(body, "subject") == "Say what it is about."
    assert error_for(body, "ends_at") == "The end must come after the start."


def test_due_reminders_are_listed_and_counted_in_the_header(client, auth, app, tenants):
    a, b = tenants
    subject = f"Ring back {secrets.token_hex(3)}"
    past = (utcnow() - dt.timedelta(minutes=5)).isoformat()
    make_activity(app, a, subject=subject, remind_at=past, due_at=utcnow().isoformat())
    auth.login_as(a)
    body = page_text(client.get(f"/{a.slug}/activities/"))
    due_section = body.split('id="due-reminders"', 1)[1].split("</section>", 1)[0]
    assert subject in due_section
    count = int(re.search(r'class="count">(\d+)<', body).group(1))
    assert count >= 1
    # The calendar page carries the same count in its header.
    calendar = page_text(client.get(f"/{a.slug}/activities/calendar"))
    assert f'class="count">{count}<' in calendar
    auth.logout()
    auth.login_as(b)
    assert subject not in page_text(client.get(f"/{b.slug}/activities/"))
    auth.logout()
    # Snoozed, it leaves the list until its new time.
    auth.login_as(a)
    activity_id = re.search(r"/activities/([0-9a-f-]{36})/snooze", due_section).group(1)
    snoozed = auth.post(f"/{a.slug}/activities/{activity_id}/snooze", {}, follow=True)
    assert "reminding you again at" in page_text(snoozed)
    due_now = page_text(snoozed).split('id="due-reminders"', 1)[1].split("</section>", 1)[0]
    assert subject not in due_now


def test_calendar_week_and_month_show_activities_with_navigation(client, auth, app, tenants):
    a, b = tenants
    subject = f"Board meeting {secrets.token_hex(3)}"
    activity_id = make_activity(
        app, a, kind="meeting", subject=subject, due_at="2031-07-16T14:00",
        ends_at="2031-07-16T15:00",
    )  # fmt: skip
    auth.login_as(a)
    week = page_text(client.get(f"/{a.slug}/activities/calendar?view=week&date=2031-07-17"))
    assert "Week of 14 Jul 2031" in week
    cell = week.split('data-date="2031-07-16"', 1)[1].split("</td>", 1)[0]
    assert subject in cell and "14:00" in cell and activity_id in cell
    assert "date=2031-07-07" in week and "date=2031-07-21" in week  # previous / next week
    month = page_text(client.get(f"/{a.slug}/activities/calendar?view=month&date=2031-07-01"))
    assert "July 2031" in month and subject in month
    assert 'data-date="2031-06-30"' in month and 'data-date="2031-08-03"' in month
    everyone = page_text(
        client.get(f"/{a.slug}/activities/calendar?view=week&date=2031-07-16&scope=everyone")
    )
    assert subject in everyone
    # "My team": everyone sharing a team with me, me included (when the teams feature is there).
    team = client.get(f"/{a.slug}/activities/calendar?view=week&date=2031-07-16&scope=team")
    assert team.status_code == 200 and subject in page_text(team)
    auth.logout()
    auth.login_as(b)
    other = page_text(
        client.get(f"/{b.slug}/activities/calendar?view=week&date=2031-07-16&scope=everyone")
    )
    assert subject not in other
    assert client.get(f"/{b.slug}/activities/{activity_id}").status_code == 404


def test_visit_check_in_without_javascript_records_the_time(client, auth, app, tenants):
    a, _b = tenants
    visit_id = make_activity(app, a, kind="visit", due_at="2031-01-06T09:00")
    auth.login_as(a)
    page = page_text(client.get(f"/{a.slug}/activities/{visit_id}"))
    assert "Check in" in page
    response = auth.post(f"/{a.slug}/activities/{visit_id}/check-in", {"outcome": "Order taken"})
    assert response.status_code == 303
    body = page_text(client.get(f"/{a.slug}/activities/{visit_id}"))
    assert "Checked in" in body and "no location" in body and "Order taken" in body


def test_the_composer_logs_a_done_call_on_a_record_and_returns_there(client, auth, app, tenants):
    a, _b = tenants
    company_id, _name = make_company(app, a)
    auth.login_as(a)
    subject = f"Logged call {secrets.token_hex(3)}"
    back = f"/{a.slug}/companies/{company_id}"
    response = auth.post(
        f"/{a.slug}/activities/",
        {"kind": "call", "subject": subject, "links": f"companies:{company_id}",
         "owner_id": str(a.owner_id), "done": "on", "outcome": "Left a voicemail",
         "next": back},
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"].endswith(back)
    with app.app_context(), tenant_session(a.ref) as s:
        activity = s.query(Activity).filter_by(subject=subject).one()
        assert activity.status == "done" and activity.outcome == "Left a voicemail"
    record_page = page_text(client.get(back))
    assert "Log an activity" in record_page and "Add a note or a file" in record_page
    assert f"Call: {subject}: Left a voicemail" in record_page  # on the company's timeline


def test_delete_asks_first(client, auth, app, tenants):
    a, _b = tenants
    activity_id = make_activity(app, a)
    auth.login_as(a)
    confirm = page_text(client.get(f"/{a.slug}/activities/{activity_id}/delete"))
    assert "Delete task" in confirm and "cancel it instead" in confirm
    assert auth.post(f"/{a.slug}/activities/{activity_id}/delete", {}).status_code == 303
    assert client.get(f"/{a.slug}/activities/{activity_id}").status_code == 404


def test_the_list_has_an_empty_state_for_a_new_workspace(client, auth, new_tenant):
    fresh = new_tenant("Quiet Co")
    auth.login_as(fresh)
    body = page_text(client.get(f"/{fresh.slug}/activities/"))
    assert "Nothing on your list" in body and "No reminders are due" in body
    assert "No visit plans yet" in page_text(client.get(f"/{fresh.slug}/visits/"))


def test_the_table_filters_chooses_columns_and_exports_what_it_shows(client, auth, app, tenants):
    a, b = tenants
    tag = secrets.token_hex(3)
    with app.app_context(), tenant_session(a.ref) as s:
        for i, kind in enumerate(("call", "meeting", "call")):
            services.create_activity(
                s,
                {"kind": kind, "subject": f"Table {tag} {i}", "owner_id": str(a.owner_id),
                 "due_at": f"2031-03-0{i + 1}T10:00"},
            )  # fmt: skip
    auth.login_as(a)
    base = f"/{a.slug}/activities/table?applied=1&q=Table {tag}"
    calls = page_text(client.get(base + "&ff=kind&fo=eq&fv=call&col=subject&col=kind&col=due_at"))
    found = re.findall(rf">(Table {tag} \d)</a>", calls)
    assert sorted(found) == [f"Table {tag} 0", f"Table {tag} 2"]
    assert "Call" in calls  # the kind's label from the picklist
    exported = client.get(
        f"/{a.slug}/activities/table/export.csv?applied=1&q=Table {tag}"
        "&ff=kind&fo=eq&fv=call&col=subject&col=kind"
    )
    assert exported.status_code == 200
    rows = exported.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()  # Excel BOM
    assert rows[0].split(",")[:2] == ["Subject", "Kind"] and len(rows) == 3
    auth.logout()
    auth.login_as(b)
    other = page_text(client.get(f"/{b.slug}/activities/table?q=Table {tag}"))
    assert re.findall(rf">(Table {tag} \d)</a>", other) == []
