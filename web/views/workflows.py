"""Workflows in the browser (roles that administer): the list, the builder, the run log.

The builder is one server-rendered form: condition and action rows are numbered inputs
(``condition-<n>-field``...), blank rows are ignored, and "Add a row" or a change of record type
re-renders the form with what was typed, without saving. A failed save re-renders it too, with
each message next to its row.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import filtering, records
from rapport.tenants.activities.models import LINKABLE_TYPES
from rapport.tenants.modules import services as modules
from rapport.tenants.picklists.queries import pairs
from rapport.tenants.pipelines.queries import list_pipelines, pipeline_stages
from rapport.tenants.workflows import actions, queries, services
from rapport.tenants.workflows import jobs as _jobs  # noqa: F401  (its subscriber starts runs)
from rapport.tenants.workflows.models import DELETED, RUN_STATES, TRIGGER_LABELS, Workflow
from rapport.web.auth import current_user
from rapport.web.workspace import require_admin, workspace_blueprint

bp = workspace_blueprint("workflows", __name__, "/settings/workflows")

#: The inputs of an action row (each type reads its own; the email's subject is named apart so
#: the form works without JavaScript, which only hides the other types' inputs).
ACTION_SETTINGS = (
    "field",
    "value",
    "subject",
    "kind",
    "due_in_days",
    "assignee",
    "to",
    "address",
    "email_subject",
    "body",
    "owner_id",
)
MAX_ROWS = services.MAX_ROWS


@bp.before_request
def _admins_only() -> None:
    if g.get("membership") is not None:
        require_admin()


def _workflow(workflow_id: uuid.UUID) -> Workflow:
    try:
        return queries.get_workflow(tenant_db(), workflow_id)
    except NotFound:
        abort(404)


# -- the form -----------------------------------------------------------------------------------
def _form_rows(prefix: str, names: tuple[str, ...], key: str) -> list[dict[str, str]]:
    """The numbered rows of the form that were filled in (``key`` blank: the row is empty)."""
    rows = []
    for n in range(MAX_ROWS + 5):
        row = {name: request.form.get(f"{prefix}-{n}-{name}", "") for name in names}
        if row[key].strip():
            rows.append(row)
    return rows


def _posted() -> dict[str, Any]:
    return {
        "name": request.form.get("name", ""),
        "record_type": request.form.get("record_type", ""),
        "trigger": request.form.get("trigger", ""),
        "watched": request.form.getlist("watched"),
        "conditions": _form_rows("condition", ("field", "op", "value"), "field"),
        "actions": _form_rows("action", ("type", *ACTION_SETTINGS), "type"),
    }


def _to_service(form: dict[str, Any]) -> dict[str, Any]:
    """The builder's rows as the service takes them."""
    rows = []
    for row in form["actions"]:
        if row["type"] == actions.UPDATE:
            values = {row["field"]: row["value"]} if row["field"].strip() else {}
            rows.append({"type": actions.UPDATE, "values": values})
        elif row["type"] == actions.ASSIGN:
            rows.append({"type": actions.ASSIGN, "owner_id": row["owner_id"]})
        elif row["type"] == actions.EMAIL:
            to = row["address"] if row["to"] == "address" else row["to"]
            rows.append(
                {
                    "type": actions.EMAIL,
                    "to": to,
                    "subject": row["email_subject"],
                    "body": row["body"],
                }
            )
        else:
            rows.append(
                {
                    "type": row["type"],
                    "subject": row["subject"],
                    "kind": row["kind"],
                    "due_in_days": row["due_in_days"],
                    "assignee": row["assignee"],
                }
            )
    return {**form, "actions": rows}


def _from_workflow(workflow: Workflow) -> dict[str, Any]:
    """A saved workflow as the builder's rows (an update of several fields: one row each)."""
    rows: list[dict[str, str]] = []
    for action in workflow.actions or []:
        blank = dict.fromkeys(ACTION_SETTINGS, "")
        if action["type"] == actions.UPDATE:
            for field, value in (action.get("values") or {}).items():
                rows.append(
                    {
                        **blank,
                        "type": actions.UPDATE,
                        "field": field,
                        "value": "" if value is None else str(value),
                    }
                )
        elif action["type"] == actions.EMAIL:
            to = str(action.get("to") or actions.OWNER)
            fixed = to != actions.OWNER and not to.startswith(actions.FIELD_PREFIX)
            rows.append(
                {
                    **blank,
                    "type": actions.EMAIL,
                    "to": "address" if fixed else to,
                    "address": to if fixed else "",
                    "email_subject": action.get("subject", ""),
                    "body": action.get("body", ""),
                }
            )
        else:
            rows.append({**blank, **{k: str(v) for k, v in action.items() if v is not None}})
    return {
        "name": workflow.name,
        "record_type": workflow.record_type,
        "trigger": workflow.trigger,
        "watched": list(workflow.watched or []),
        "conditions": [dict(c) for c in workflow.conditions or []],
        "actions": rows,
    }


def _row_errors(errors: dict[str, list[str]], part: str) -> dict[int, list[str]]:
    """Messages per row number, from keys such as ``conditions.2.custom.region``."""
    found: dict[int, list[str]] = {}
    for key, messages in errors.items():
        head, _, rest = key.partition(".")
        number = rest.partition(".")[0]
        if head == part and number.isdigit():
            found.setdefault(int(number), []).extend(messages)
    return found


def _value_choices(
    session: Any, fields: list[filtering.FilterField], people: list[tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """(value, label) suggestions for condition values: options of selects, and for ids the
    members, pipelines and stages they name (typing an id is no one's job)."""
    pipelines = list_pipelines(session)
    by_key: dict[str, list[tuple[str, str]]] = {
        "pipeline_id": [(str(p.id), p.name) for p in pipelines],
        "stage_id": [
            (str(stage.id), f"{p.name}: {stage.name}")
            for p in pipelines
            for stage in pipeline_stages(session, p.id)
        ],
    }
    found = {}
    for field in fields:
        if field.options:
            found[field.key] = field.options
        elif field.kind == "uuid" and (field.key == "owner_id" or field.custom is not None):
            found[field.key] = people
        elif field.key in by_key:
            found[field.key] = by_key[field.key]
    return found


def _choices(record_type: str, trigger: str) -> dict[str, Any]:
    """What the pickers offer for this record type and trigger."""
    session = tenant_db()
    offered = modules.record_types(session)
    kinds = [(k.name, k.label) for k in records.all_types() if k.name in offered]
    if record_type not in offered:
        record_type = kinds[0][0] if kinds else ""
    if not record_type:
        return {"record_types": [], "record_type": ""}
    condition_fields = filtering.available_fields(session, record_type)
    people = [
        (str(user.id), user.name or user.email) for _m, user in members.members_of(g.workspace.id)
    ]
    action_types = [
        (t, label)
        for t, label in actions.ACTION_LABELS.items()
        if (trigger != DELETED or t == actions.EMAIL)
        and (t != actions.TASK or record_type in LINKABLE_TYPES)
    ]
    return {
        "record_types": kinds,
        "record_type": record_type,
        "triggers": [(t, TRIGGER_LABELS[t]) for t in services.triggers_for(record_type)],
        "condition_fields": condition_fields,
        "value_choices": _value_choices(session, condition_fields, people),
        "operators": filtering.OPERATOR_LABELS,
        "watchable": services.watchable_fields(session, record_type),
        "editable": actions.editable_fields(session, record_type),
        "email_fields": actions.email_fields(session, record_type),
        "action_types": action_types,
        "activity_types": pairs(session, "activity_type"),
        "members": people,
        "template_names": actions.template_names(session, record_type),
    }


def _builder(
    form: dict[str, Any],
    *,
    workflow: Workflow | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
    errors = errors or {}
    choices = _choices(form.get("record_type", ""), form.get("trigger", ""))
    form = {**form, "record_type": choices["record_type"]}
    extra = 2 if request.form.get("add") == "condition" else 1
    condition_slots = max(len(form["conditions"]) + extra, 1)
    extra = 2 if request.form.get("add") == "action" else 1
    action_slots = max(len(form["actions"]) + extra, 1)
    return (
        render_template(
            "workflows/builder.html",
            workflow=workflow,
            form=form,
            errors=errors,
            condition_errors=_row_errors(errors, "conditions"),
            action_errors=_row_errors(errors, "actions"),
            condition_slots=min(condition_slots, MAX_ROWS),
            action_slots=min(action_slots, MAX_ROWS),
            **choices,
        ),
        status,
    )


def _rethink() -> bool:
    """Whether the form was posted to add a row or change the record type (not to save)."""
    return bool(request.form.get("add") or request.form.get("refresh"))


# -- pages ----------------------------------------------------------------------------------------
@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    session = tenant_db()
    workflows = queries.list_workflows(session)
    labels = records.labels()
    return render_template(
        "workflows/index.html",
        workflows=workflows,
        summaries=queries.summaries(session),
        paused={w.id for w in workflows if queries.paused(session, w)},
        labels=labels,
        triggers=TRIGGER_LABELS,
    )


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form = {
        "name": "",
        "record_type": request.args.get("record_type", ""),
        "trigger": "created",
        "watched": [],
        "conditions": [],
        "actions": [],
    }
    return _builder(form)


@bp.post("/new")
def create():  # type: ignore[no-untyped-def]
    form = _posted()
    if _rethink():
        return _builder(form)
    user = current_user()
    try:
        workflow = services.create_workflow(
            tenant_db(), _to_service(form), created_by=user.id if user else None
        )
    except ValidationFailed as exc:
        tenant_db().rollback()
        return _builder(form, errors=exc.errors, status=422)
    flash(f"Workflow “{workflow.name}” saved; it runs from now on.", "success")
    return redirect(url_for("workflows.index"), 303)


@bp.get("/<uuid:workflow_id>")
def edit(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = _workflow(workflow_id)
    return _builder(_from_workflow(workflow), workflow=workflow)


@bp.post("/<uuid:workflow_id>")
def update(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = _workflow(workflow_id)
    form = _posted()
    if _rethink():
        return _builder(form, workflow=workflow)
    try:
        services.update_workflow(tenant_db(), workflow.id, _to_service(form))
    except ValidationFailed as exc:
        tenant_db().rollback()
        return _builder(form, workflow=_workflow(workflow_id), errors=exc.errors, status=422)
    flash("Workflow saved.", "success")
    return redirect(url_for("workflows.index"), 303)


@bp.post("/<uuid:workflow_id>/activate")
def activate(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = _workflow(workflow_id)
    try:
        services.set_active(tenant_db(), workflow.id, True)
    except ValidationFailed as exc:
        tenant_db().rollback()
        workflow = _workflow(workflow_id)
        return _builder(_from_workflow(workflow), workflow=workflow, errors=exc.errors, status=422)
    flash(f"“{workflow.name}” is on.", "success")
    return redirect(url_for("workflows.index"), 303)


@bp.post("/<uuid:workflow_id>/deactivate")
def deactivate(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = services.set_active(tenant_db(), _workflow(workflow_id).id, False)
    flash(f"“{workflow.name}” is off: it does not run until you switch it on.", "success")
    return redirect(url_for("workflows.index"), 303)


@bp.get("/<uuid:workflow_id>/delete")
def confirm_delete(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("workflows/delete.html", workflow=_workflow(workflow_id))


@bp.post("/<uuid:workflow_id>/delete")
def delete(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = _workflow(workflow_id)
    name = workflow.name
    services.delete_workflow(tenant_db(), workflow.id)
    flash(f"Workflow “{name}” deleted.", "success")
    return redirect(url_for("workflows.index"), 303)


@bp.get("/<uuid:workflow_id>/runs")
def runs(workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    workflow = _workflow(workflow_id)
    before = None
    if request.args.get("before"):
        try:
            before = uuid.UUID(request.args["before"])
        except ValueError:
            abort(400)
    status = request.args.get("status") or None
    if status is not None and status not in RUN_STATES:
        abort(400)
    page = queries.list_runs(tenant_db(), workflow.id, before=before, status=status)
    paused = queries.paused(tenant_db(), workflow)
    labels = (
        {}
        if paused
        else {f.key: f.label for f in filtering.available_fields(tenant_db(), workflow.record_type)}
    )
    return render_template(
        "workflows/runs.html",
        workflow=workflow,
        runs=page,
        next_before=page[-1].id if len(page) == queries.RUN_PAGE else None,
        status=status,
        statuses=RUN_STATES,
        paused=paused,
        labels=labels,
        kind=records.get(workflow.record_type) if records.exists(workflow.record_type) else None,
    )
