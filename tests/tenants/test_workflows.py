"""Workflows: saved only when every row is valid, run once per event through the record services,
all or nothing, audited as the workflow, billed only when they run, and never in a loop."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import events
from rapport.tenants.activities.models import Activity, ActivityLink
from rapport.tenants.contacts import services as contacts
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals import services as deals
from rapport.tenants.fields import services as fields
from rapport.tenants.modules import services as modules
from rapport.tenants.pipelines.queries import default_pipeline, pipeline_stages
from rapport.tenants.workflows import queries, services
from rapport.tenants.workflows.models import Workflow, WorkflowRun

TIER = {
    "record_type": "contacts",
    "api_name": "tier",
    "label": "Tier",
    "type": "single_select",
    "options": "bronze | Bronze\nsilver | Silver\ngold | Gold",
}
SEATS = {"record_type": "contacts", "api_name": "seats", "label": "Seats", "type": "integer"}


def _setup(app, tenant, *definitions) -> None:
    with app.app_context(), tenant_session(tenant.ref) as s:
        for data in definitions:
            fields.create_field(s, data)


def _workflow(app, tenant, **data) -> uuid.UUID:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return services.create_workflow(s, {"name": f"wf {secrets.token_hex(2)}", **data}).id


def _contact(app, tenant, **data) -> uuid.UUID:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return contacts.create_contact(s, {"first_name": "Ada", "last_name": "Lovelace", **data}).id


def _runs(app, tenant, workflow_id) -> list[WorkflowRun]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        rows = s.scalars(select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id)).all()
        s.expunge_all()
        return list(rows)


def _billed(app, tenant) -> list[OutboxEntry]:
    """The tenant's workflows-queue outbox rows: what metering bills as workflow runs."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        rows = s.scalars(select(OutboxEntry).where(OutboxEntry.queue == "workflows")).all()
        s.expunge_all()
        return list(rows)


def test_a_bad_workflow_is_refused_naming_each_row_and_field_and_nothing_is_saved(
    app, tenants, new_tenant
):
    ws = new_tenant("Builder")
    _setup(
        app,
        ws,
        TIER,
        SEATS,
        {**SEATS, "api_name": "code", "label": "Code", "type": "text", "required": True},
    )
    bad = {
        "name": "Broken",
        "record_type": "contacts",
        "trigger": "created",
        "conditions": [
            {"field": "custom.nope", "op": "eq", "value": "x"},
            {"field": "custom.seats", "op": "contains", "value": "3"},
        ],
        "actions": [
            {"type": "update", "values": {"custom.tier": "platinum"}},
            {"type": "update", "values": {"custom.seats": "many"}},
            {"type": "update", "values": {"custom.code": ""}},
            {"type": "update", "values": {"last_name": ""}},
            {"type": "task", "subject": "Call", "kind": "carrier pigeon"},
        ],
    }
    with app.app_context(), tenant_session(ws.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            services.create_workflow(s, bad)
        errors = caught.value.errors
        assert "conditions.0.custom.nope" in errors
        assert "conditions.1.custom.seats" in errors
        assert "does not apply" in errors["conditions.1.custom.seats"][0]
        assert errors["actions.0.custom.tier"] == ["Choose one of the options."]
        assert errors["actions.1.custom.seats"] == ["Enter a whole number."]
        assert errors["actions.2.custom.code"] == ["This field is required."]
        assert "actions.3.last_name" in errors
        assert "actions.4.kind" in errors
        with pytest.raises(ValidationFailed) as caught:
            services.create_workflow(
                s,
                {
                    **bad,
                    "record_type": "deals",
                    "trigger": "deleted",
                    "conditions": [],
                    "actions": [{"type": "update", "values": {"name": "x"}}],
                },
            )
        assert "actions.0.type" in caught.value.errors  # a deleted record only gets emails
        with pytest.raises(ValidationFailed) as caught:
            services.create_workflow(s, {**bad, "trigger": "stage_changed"})
        assert "trigger" in caught.value.errors  # contacts have no stages
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.scalars(select(Workflow)).all() == []


def test_a_contact_workflow_sets_a_field_and_creates_a_task_as_the_workflow(
    app, tenants, new_tenant
):
    a, b = new_tenant("Flow A"), new_tenant("Flow B")
    for ws in (a, b):
        _setup(app, ws, TIER)
    wf = _workflow(
        app,
        a,
        name="Tier new contacts",
        record_type="contacts",
        trigger="created",
        actions=[
            {"type": "update", "values": {"custom.tier": "gold"}},
            {
                "type": "task",
                "subject": "Welcome {{ first_name }}",
                "kind": "call",
                "due_in_days": "2",
                "assignee": "owner",
            },
        ],
    )
    wf_b = _workflow(
        app,
        b,
        record_type="contacts",
        trigger="created",
        actions=[{"type": "update", "values": {"custom.tier": "bronze"}}],
    )
    contact_id = _contact(app, a, owner_id=str(a.owner_id))
    with app.app_context(), tenant_session(a.ref) as s:
        contact = s.get(Contact, contact_id)
        assert contact.custom["tier"] == "gold"
        (task,) = s.scalars(
            select(Activity)
            .join(ActivityLink, ActivityLink.activity_id == Activity.id)
            .where(ActivityLink.record_type == "contacts", ActivityLink.record_id == contact_id)
        ).all()
        assert (task.subject, task.kind, task.owner_id) == ("Welcome Ada", "call", a.owner_id)
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "contact.updated", AuditEntry.target_id == str(contact_id)
            )
        ).one()
        assert (entry.actor_type, entry.actor_id, entry.actor_label) == (
            "workflow",
            str(wf),
            "Tier new contacts",
        )
        assert entry.changes["custom.tier"] == [None, "gold"]
    (run,) = _runs(app, a, wf)
    assert run.status == "succeeded" and run.record_id == contact_id
    assert [c["action"] for c in run.changes] == ["update", "task"]
    assert len(_billed(app, a)) == 1
    # Tenant B: same event types, its own workflow; A's contact never reaches it.
    assert _runs(app, b, wf_b) == []
    b_contact = _contact(app, b)
    with app.app_context(), tenant_session(b.ref) as s:
        assert s.get(Contact, b_contact).custom["tier"] == "bronze"
        assert s.get(Contact, contact_id) is None
    assert [r.record_id for r in _runs(app, b, wf_b)] == [b_contact]


def test_conditions_not_met_queue_no_run_and_change_nothing(app, tenants, new_tenant):
    ws = new_tenant("Picky")
    _setup(app, ws, TIER, SEATS)
    wf = _workflow(
        app,
        ws,
        record_type="contacts",
        trigger="saved",
        conditions=[
            {"field": "custom.seats", "op": "gte", "value": "100"},
            {"field": "last_name", "op": "contains", "value": "love"},
        ],
        actions=[{"type": "update", "values": {"custom.tier": "gold"}}],
    )
    small = _contact(app, ws, custom={"seats": 12})
    with app.app_context(), tenant_session(ws.ref) as s:
        assert "tier" not in s.get(Contact, small).custom
    assert _runs(app, ws, wf) == [] and _billed(app, ws) == []
    # The update that makes them hold runs it ("created or updated").
    with app.app_context(), tenant_session(ws.ref) as s:
        contacts.update_contact(s, small, {"custom": {"seats": 150}}, partial=True)
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.get(Contact, small).custom["tier"] == "gold"
    assert [r.status for r in _runs(app, ws, wf)] == ["succeeded"]
    assert len(_billed(app, ws)) == 1


def test_a_value_that_became_invalid_fails_the_run_and_changes_nothing(app, tenants, new_tenant):
    ws = new_tenant("Retired")
    _setup(app, ws, TIER)
    wf = _workflow(
        app,
        ws,
        record_type="contacts",
        trigger="created",
        actions=[
            {"type": "task", "subject": "Check the tier"},
            {"type": "update", "values": {"custom.tier": "silver"}},
        ],
    )
    with app.app_context(), tenant_session(ws.ref) as s:
        field = next(f for f in fields.fields_for(s, "contacts") if f.api_name == "tier")
        fields.update_field(
            s,
            field.id,
            {
                "label": "Tier",
                "type": "single_select",
                "options": "bronze | Bronze\nsilver | Silver | | retired\ngold | Gold",
            },
        )
    contact_id = _contact(app, ws)
    (run,) = _runs(app, ws, wf)
    assert run.status == "failed"
    assert "custom.tier" in run.message and "retired" in run.message
    with app.app_context(), tenant_session(ws.ref) as s:
        assert "tier" not in s.get(Contact, contact_id).custom
        # All or nothing: the task of the first action went with the refused update.
        assert s.scalars(select(Activity)).all() == []
        assert not s.scalars(select(AuditEntry).where(AuditEntry.actor_type == "workflow")).all()


def test_a_workflow_does_not_trigger_itself_and_chains_stop_at_depth_three(
    app, tenants, new_tenant
):
    ws = new_tenant("Loops")
    letters = [
        {**SEATS, "api_name": f"step_{n}", "label": n.upper(), "type": "text"} for n in "abcd"
    ]
    _setup(app, ws, *letters)
    own = _workflow(
        app,
        ws,
        record_type="contacts",
        trigger="updated",
        watched=["title"],
        actions=[{"type": "update", "values": {"title": "Reviewed"}}],
    )
    contact_id = _contact(app, ws)
    with app.app_context(), tenant_session(ws.ref) as s:
        contacts.update_contact(s, contact_id, {"title": "CTO"}, partial=True)
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.get(Contact, contact_id).title == "Reviewed"
    assert len(_runs(app, ws, own)) == 1
    # a -> b -> c -> d: each workflow watches the field the previous one set.
    chain = [
        _workflow(
            app,
            ws,
            record_type="contacts",
            trigger="created",
            actions=[{"type": "update", "values": {"custom.step_a": "1"}}],
        )
    ]
    for before, after in ("ab", "bc", "cd"):
        chain.append(
            _workflow(
                app,
                ws,
                record_type="contacts",
                trigger="updated",
                watched=[f"custom.step_{before}"],
                actions=[{"type": "update", "values": {f"custom.step_{after}": "1"}}],
            )
        )
    second = _contact(app, ws)
    with app.app_context(), tenant_session(ws.ref) as s:
        custom = s.get(Contact, second).custom
    assert custom == {
        "step_a": "1",
        "step_b": "1",
        "step_c": "1",
    }  # the fourth would be a fourth link: stopped
    assert [len(_runs(app, ws, w)) for w in chain] == [1, 1, 1, 0]
    assert [_runs(app, ws, w)[0].depth for w in chain[:3]] == [1, 2, 3]


def test_a_redelivered_event_runs_each_workflow_once(app, tenants, new_tenant):
    ws = new_tenant("Twice")
    _setup(app, ws, SEATS)
    wf = _workflow(
        app,
        ws,
        record_type="contacts",
        trigger="created",
        actions=[{"type": "task", "subject": "Once"}],
    )
    contact_id = _contact(app, ws)
    with app.app_context(), tenant_session(ws.ref) as s:
        row = next(
            r
            for r in s.scalars(
                select(OutboxEntry).where(OutboxEntry.job == events.record_event.job_name)
            )
            if r.payload["record_id"] == str(contact_id) and r.payload["type"] == "contact.created"
        )
        payload = {k: v for k, v in row.payload.items() if not k.startswith("_")}
    for _ in range(2):  # at least once: the event job may run again
        with app.app_context(), tenant_session(ws.ref) as s:
            events.record_event(s, ws.ref, **payload)
    assert len(_runs(app, ws, wf)) == 1
    assert len(_billed(app, ws)) == 1
    with app.app_context(), tenant_session(ws.ref) as s:
        assert [a.subject for a in s.scalars(select(Activity))] == ["Once"]


def _won_stage(s):
    pipeline = default_pipeline(s)
    return next(st for st in pipeline_stages(s, pipeline.id) if st.kind == "won")


def test_a_stage_change_emails_once_and_is_not_billed_without_a_workflow(
    app, tenants, new_tenant, smtp
):
    ws = new_tenant("Stages")
    address = f"sales-{secrets.token_hex(3)}@example.com"
    with app.app_context(), tenant_session(ws.ref) as s:
        deal_id = deals.create_deal(s, {"name": "Big one", "currency": "EUR", "amount": "1250"}).id
        won_id = _won_stage(s).id
    with app.app_context(), tenant_session(ws.ref) as s:
        deals.move_deal(s, deal_id, won_id)  # no workflow yet: a stage move bills nothing
    assert _billed(app, ws) == []
    with app.app_context(), tenant_session(ws.ref) as s:
        deal_id = deals.create_deal(
            s, {"name": "Bigger one", "currency": "EUR", "amount": "9000"}
        ).id
    wf = _workflow(
        app,
        ws,
        record_type="deals",
        trigger="stage_changed",
        conditions=[{"field": "status", "op": "eq", "value": "won"}],
        actions=[
            {
                "type": "email",
                "to": address,
                "subject": "Won: {{ name }}",
                "body": "{{ name }} closed for {{ amount }} {{ currency }}.\n{{ link }}",
            }
        ],
    )
    with app.app_context(), tenant_session(ws.ref) as s:
        deals.move_deal(s, deal_id, won_id)
    (mail,) = smtp.to(address)
    assert str(mail["Subject"]) == "Won: Bigger one"
    body = smtp.text(mail)
    assert "Bigger one closed for 9000.00 EUR." in body and f"/{ws.slug}/deals/{deal_id}" in body
    (run,) = _runs(app, ws, wf)
    assert run.status == "succeeded" and run.event_type == "deal.stage_changed"
    # The run job delivered again: no second email.
    with app.app_context(), tenant_session(ws.ref) as s:
        (row,) = _billed(app, ws)
        from rapport.tenants.workflows.jobs import run_workflow

        run_workflow(s, ws.ref, **{k: v for k, v in row.payload.items() if not k.startswith("_")})
    assert len(smtp.to(address)) == 1


def test_switched_off_modules_pause_workflows(app, tenants, new_tenant):
    ws = new_tenant("Paused")
    wf = _workflow(
        app,
        ws,
        record_type="deals",
        trigger="created",
        actions=[{"type": "update", "values": {"name": "Renamed"}}],
    )
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "sales", False)
    with app.app_context(), tenant_session(ws.ref) as s:
        from rapport.tenants.deals.models import Deal

        assert queries.paused(s, s.get(Workflow, wf))
        with pytest.raises(ValidationFailed) as caught:
            services.create_workflow(
                s, {"name": "x", "record_type": "deals", "trigger": "created", "actions": []}
            )
        assert "record_type" in caught.value.errors
        deal_id = deals.create_deal(s, {"name": "Quiet", "currency": "EUR"}).id
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.get(Deal, deal_id).name == "Quiet"
    assert _runs(app, ws, wf) == [] and _billed(app, ws) == []
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "sales", True)
        modules.switch(s, "workflows", False)
    with app.app_context(), tenant_session(ws.ref) as s:
        deal_id = deals.create_deal(s, {"name": "Still quiet", "currency": "EUR"}).id
    assert _runs(app, ws, wf) == [] and _billed(app, ws) == []


def test_saving_switching_and_deleting_are_audited(app, tenants, new_tenant):
    ws = new_tenant("Audited")
    wf = _workflow(
        app,
        ws,
        name="Greeter",
        record_type="contacts",
        trigger="created",
        actions=[{"type": "task", "subject": "Say hello"}],
    )
    with app.app_context(), tenant_session(ws.ref) as s:
        services.update_workflow(
            s,
            wf,
            {
                "name": "Greeter 2",
                "record_type": "contacts",
                "trigger": "created",
                "actions": [{"type": "task", "subject": "Say hello"}],
            },
        )
        services.set_active(s, wf, False)
        services.set_active(s, wf, True)
        services.delete_workflow(s, wf)
    with app.app_context(), tenant_session(ws.ref) as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.target_id == str(wf)).order_by(AuditEntry.seq)
        ).all()
        assert [e.action for e in entries] == [
            "workflow.created",
            "workflow.updated",
            "workflow.deactivated",
            "workflow.activated",
            "workflow.deleted",
        ]
        assert entries[1].changes == {"name": ["Greeter", "Greeter 2"]}
        assert s.get(Workflow, wf) is None


def test_a_plan_whose_workflow_runs_are_used_up_runs_no_more(app, tenants, new_tenant):
    from rapport.billing.access import load_subscription
    from rapport.billing.plans import plan_or_trial
    from rapport.platform.db import utcnow
    from rapport.platform.ids import new_id
    from rapport.tenants.workflows.jobs import run_workflow

    ws = new_tenant("Capped")
    wf = _workflow(
        app,
        ws,
        record_type="contacts",
        trigger="created",
        actions=[{"type": "task", "subject": "Hi"}],
    )
    with app.app_context():
        cap = plan_or_trial(load_subscription(ws.ref.id).plan).hard_cap("workflow_runs")
    assert cap  # a trial has no card on file: nothing beyond what it includes
    now = utcnow()
    with app.app_context(), tenant_session(ws.ref) as s:
        s.add_all(
            OutboxEntry(id=new_id(), queue="workflows", job=run_workflow.job_name, payload={},
                        event_key=f"earlier-run:{n}", created_at=now, done_at=now, attempts=1)
            for n in range(cap)
        )  # fmt: skip
    contact_id = _contact(app, ws)
    (run,) = _runs(app, ws, wf)
    assert run.status == "skipped" and "used up" in run.message and run.record_id == contact_id
    assert len(_billed(app, ws)) == cap  # the refused run was not queued, so not billed
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.scalars(select(Activity)).all() == []


def test_completing_an_activity_runs_a_workflow_watching_its_status(app, tenants, new_tenant):
    from rapport.tenants.activities import services as activities

    ws = new_tenant("Follow ups")
    _setup(app, ws, {"record_type": "activities", "api_name": "reviewed", "label": "Reviewed",
                     "type": "checkbox"})  # fmt: skip
    wf = _workflow(
        app, ws, record_type="activities", trigger="updated", watched=["status"],
        conditions=[{"field": "status", "op": "eq", "value": "done"}],
        actions=[{"type": "update", "values": {"custom.reviewed": True}}],
    )  # fmt: skip
    with app.app_context(), tenant_session(ws.ref) as s:
        done = activities.create_activity(s, {"kind": "call", "subject": "Call back"}).id
        dropped = activities.create_activity(s, {"kind": "call", "subject": "Call again"}).id
    with app.app_context(), tenant_session(ws.ref) as s:
        activities.complete_activity(s, done, {"outcome": "Reached"})
        activities.cancel_activity(s, dropped)
    with app.app_context(), tenant_session(ws.ref) as s:
        assert s.get(Activity, done).custom.get("reviewed") is True
        assert not (s.get(Activity, dropped).custom or {}).get("reviewed")
    assert [r.record_id for r in _runs(app, ws, wf)] == [done]
