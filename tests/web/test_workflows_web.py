"""Workflows in the browser: the builder saves whole or shows each error next to its row, the list
switches them on and off, the run log shows what ran; admins only; gone with the module."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.contacts import services as contacts
from rapport.tenants.contacts.models import Contact
from rapport.tenants.fields import services as fields
from rapport.tenants.modules import services as modules
from rapport.tenants.workflows import queries, services
from rapport.tenants.workflows.models import FAILED, SUCCEEDED, Workflow, WorkflowRun
from tests.conftest import add_member


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def select_values(body: str, name: str) -> list[str]:
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
    assert match, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def _row(body: str, row_id: str) -> str:
    """The HTML of one builder row, up to the next row."""
    start = body.index(f'id="{row_id}"')
    following = re.search(r'id="(?:action|condition)-\d+"', body[start + 10 :])
    return body[start : start + 10 + following.start()] if following else body[start:]


def _workflow_id(app, tenant, name: str) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return str(s.scalars(select(Workflow.id).where(Workflow.name == name)).one())


BUILDER = {
    "name": "VIP contacts",
    "record_type": "contacts",
    "trigger": "created",
    "condition-0-field": "last_name",
    "condition-0-op": "eq",
    "condition-0-value": "Hopper",
    "action-0-type": "update",
    "action-0-field": "custom.tier",
    "action-0-value": "gold",
    "action-1-type": "task",
    "action-1-subject": "Call {{ first_name }}",
    "action-1-kind": "call",
    "action-1-due_in_days": "1",
    "action-1-assignee": "owner",
}


def test_an_admin_builds_a_workflow_sees_errors_by_row_switches_it_and_reads_its_runs(
    app, client, auth, tenants, new_tenant
):
    ws = new_tenant("Builder web")
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "api_name": "tier",
                "label": "Tier",
                "type": "single_select",
                "options": "silver\ngold",
            },
        )
    auth.login_as(ws)
    base = f"/{ws.slug}/settings/workflows"
    assert "Workflows" in page_text(client.get(f"/{ws.slug}/settings/"))
    builder = page_text(client.get(base + "/new?record_type=contacts"))
    assert "custom.tier" in select_values(builder, "action-0-field")
    assert "last_name" in select_values(builder, "condition-0-field")

    bad = auth.post(base + "/new", {**BUILDER, "action-0-value": "platinum"})
    assert bad.status_code == 422
    body = page_text(bad)
    assert "Choose one of the options." in _row(body, "action-0")
    assert "Choose one of the options." not in _row(body, "action-1")
    assert 'value="Call {{ first_name }}"' in body  # nothing typed is lost
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.scalars(select(Workflow)).all() == []

    # "Add a row" re-renders with one more empty row, saving nothing.
    more = auth.post(base + "/new", {**BUILDER, "add": "condition"})
    assert more.status_code == 200 and 'name="condition-2-field"' in page_text(more)

    saved = auth.post(base + "/new", BUILDER)
    assert saved.status_code == 303
    wf = _workflow_id(app, ws, "VIP contacts")
    listed = page_text(client.get(base + "/"))
    assert "VIP contacts" in listed and "Active" in listed and "Never" in listed

    with app.app_context(), tenant_session(ws.ref) as s:
        contact_id = contacts.create_contact(s, {"first_name": "Grace", "last_name": "Hopper"}).id
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.get(Contact, contact_id).custom["tier"] == "gold"
    log = page_text(client.get(f"{base}/{wf}/runs"))
    assert "Succeeded" in log and f"/{ws.slug}/contacts/{contact_id}" in log
    assert "Created the task “Call Grace”" in log
    listed = page_text(client.get(base + "/"))
    assert re.search(r'class="workflow-runs"><a [^>]*>1</a>', listed)

    assert auth.post(f"{base}/{wf}/deactivate", {}).status_code == 303
    assert "Off" in page_text(client.get(base + "/"))
    with app.app_context(), tenant_session(ws.ref) as s:
        quiet = contacts.create_contact(s, {"first_name": "Grace", "last_name": "Hopper"}).id
    with app.app_context(), tenant_session(ws.ref) as s:
        assert "tier" not in s.get(Contact, quiet).custom
    assert auth.post(f"{base}/{wf}/activate", {}).status_code == 303

    edited = auth.post(f"{base}/{wf}", {**BUILDER, "name": "VIPs"})
    assert edited.status_code == 303
    assert "VIPs" in page_text(client.get(base + "/"))
    assert "Delete “VIPs”?" in page_text(client.get(f"{base}/{wf}/delete"))
    assert auth.post(f"{base}/{wf}/delete", {}).status_code == 303
    assert client.get(f"{base}/{wf}").status_code == 404


def test_members_who_do_not_administer_are_refused(app, client, auth, tenants):
    a, _b = tenants
    rep = add_member(app, a, "sales_rep")
    auth.login_as(rep)
    assert client.get(f"/{a.slug}/settings/workflows/").status_code == 403
    assert client.get(f"/{a.slug}/settings/workflows/new").status_code == 403


def test_switched_off_modules_hide_their_triggers_and_the_workflows_pages(
    app, client, auth, tenants, new_tenant
):
    ws = new_tenant("Modules web")
    auth.login_as(ws)
    base = f"/{ws.slug}/settings/workflows"
    deal_flow = {
        "name": "Deal flow",
        "record_type": "deals",
        "trigger": "stage_changed",
        "action-0-type": "email",
        "action-0-to": "owner",
        "action-0-email_subject": "Moved: {{ name }}",
        "action-0-body": "{{ link }}",
    }
    assert auth.post(base + "/new", deal_flow).status_code == 303
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "sales", False)
    assert "deals" not in select_values(page_text(client.get(base + "/new")), "record_type")
    assert "Paused" in page_text(client.get(base + "/"))
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "workflows", False)
    assert client.get(base + "/").status_code == 404
    assert client.get(base + "/new").status_code == 404


def _run_rows(body: str) -> list[str]:
    """The run ids a run-log page lists, top to bottom."""
    return re.findall(r'data-run-id="([^"]+)"', body)


def _older_link(body: str) -> str | None:
    found = re.search(r'<a href="([^"]+)">Older runs ›</a>', body)
    return html.unescape(found.group(1)) if found else None


def test_the_run_log_pages_back_newest_first_and_keeps_its_status_filter(
    app, client, auth, tenants, new_tenant
):
    tenant = new_tenant("Run log")
    _a, b = tenants
    page = queries.RUN_PAGE
    count = 2 * page + 10  # a third of them failed: 37 failed, 73 succeeded
    started = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    with app.app_context(), tenant_session(tenant.ref) as s:
        workflow = services.create_workflow(
            s,
            {
                "name": "Tag new contacts",
                "record_type": "contacts",
                "trigger": "created",
                "actions": [{"type": "update", "values": {"title": "Customer"}}],
            },
        )
        workflow_id = workflow.id
        runs = []
        for i in range(count):  # ids are time-ordered: each run is newer than the one before
            run = WorkflowRun(
                workflow_id=workflow_id, event_id=f"event-{i}", event_type="contact.created",
                record_type="contacts", record_id=None,
                status=FAILED if i % 3 == 0 else SUCCEEDED,
                message="Title: too long." if i % 3 == 0 else None,
                started_at=started + dt.timedelta(minutes=i),
            )  # fmt: skip
            s.add(run)
            s.flush()
            runs.append((str(run.id), run.status))
    newest_first = [run_id for run_id, _status in reversed(runs)]
    auth.login_as(tenant)
    path = f"/{tenant.slug}/settings/workflows/{workflow_id}/runs"

    first = client.get(path).get_data(as_text=True)
    assert _run_rows(first) == newest_first[:page]
    second = client.get(_older_link(first)).get_data(as_text=True)
    assert _run_rows(second) == newest_first[page : 2 * page]  # it goes on where it stopped
    third = client.get(_older_link(second)).get_data(as_text=True)
    assert _run_rows(third) == newest_first[2 * page :]
    assert _older_link(third) is None  # the last page

    failed = [run_id for run_id, status in reversed(runs) if status == FAILED]
    failed_page = client.get(path, query_string={"status": FAILED}).get_data(as_text=True)
    assert _run_rows(failed_page) == failed  # fewer than a page
    assert 'aria-current="true">Failed</a>' in failed_page
    assert _older_link(failed_page) is None
    succeeded = [run_id for run_id, status in reversed(runs) if status == SUCCEEDED]
    succeeded_page = client.get(path, query_string={"status": SUCCEEDED}).get_data(as_text=True)
    assert _run_rows(succeeded_page) == succeeded[:page]
    more = _older_link(succeeded_page)
    assert more is not None and "status=succeeded" in more
    rest = client.get(more).get_data(as_text=True)
    assert _run_rows(rest) == succeeded[page:]  # still only the succeeded ones
    assert 'aria-current="true">Succeeded</a>' in rest and _older_link(rest) is None
    assert client.get(path, query_string={"status": "lost"}).status_code == 400

    auth.logout()  # another workspace's admin cannot read the log
    auth.login_as(b)
    assert client.get(path.replace(tenant.slug, b.slug)).status_code == 404


def test_control_characters_in_the_builder_are_refused_next_to_the_field(
    app, client, auth, new_tenant
):
    ws = new_tenant("Control chars")
    auth.login_as(ws)
    response = auth.post(
        f"/{ws.slug}/settings/workflows/new",
        {"name": "Bad\x00name", "record_type": "contacts", "trigger": "created"},
    )
    assert response.status_code == 422
    assert "Remove the control characters" in response.get_data(as_text=True)
