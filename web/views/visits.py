"""Visit plans in the browser: the plans, one plan (customers, upcoming visits), create, edit,
delete, and the adherence report per rep (managers see every rep; others see their own)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.platform.timezones import zone_names
from rapport.tenants import records
from rapport.tenants.activities.links import get_record, record_label, record_url
from rapport.tenants.visits import queries, services
from rapport.tenants.visits.models import CUSTOMER_TYPES, WEEKDAYS
from rapport.tenants.visits.schemas import PLAN_FIELDS
from rapport.web import timezones
from rapport.web.auth import current_user
from rapport.web.views.activities import header_context
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("visits", __name__, "/visits")

LABELS = {
    "name": "Name", "owner_id": "Rep", "every": "Every", "unit": "Unit", "weekdays": "On",
    "starts_on": "First day", "horizon_days": "Plan ahead (days)", "visit_time": "Time",
    "timezone": "Time zone",
    "duration_minutes": "Duration (minutes)", "active": "Active", "record_id": "Customer",
}  # fmt: skip
WEEKDAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
CUSTOMER_LIMIT = 500


def _get(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return services.get_plan(tenant_db(), plan_id)
    except NotFound:
        abort(404)


def _owners() -> list[tuple[uuid.UUID, str]]:
    return [(user.id, user.name or user.email) for _m, user in members.members_of(g.workspace.id)]


def _is_manager() -> bool:
    return g.membership.role in ("owner", "admin", "manager")


def _form_data(zone: str | None = None) -> dict[str, Any]:
    """The plan form's fields; a form without a zone keeps ``zone`` (else the viewer's)."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in PLAN_FIELDS}
    form["timezone"] = form["timezone"] or zone or timezones.zone_name()
    form["weekdays"] = request.form.getlist("weekdays")
    form["active"] = bool(request.form.get("active"))
    owner = form.get("owner_id") or ""
    if owner and owner not in {str(user_id) for user_id, _ in _owners()}:
        raise ValidationFailed({"owner_id": ["Choose a rep from the list."]})
    return form


def _render_form(status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    return render_template(
        "visits/form.html", labels=LABELS, owners=_owners(), weekdays=WEEKDAY_LABELS,
        zones=zone_names(), **header_context(), **context,
    ), status  # fmt: skip


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return render_template(
        "visits/index.html",
        plans=queries.list_plans(tenant_db()),
        owners=dict(_owners()),
        weekdays=WEEKDAY_LABELS,
        **header_context(),
    )


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    user = current_user()
    form = {"owner_id": str(user.id) if user else "", "every": 1, "unit": "weeks",
            "starts_on": utcnow().date().isoformat(), "horizon_days": 28, "visit_time": "09:00",
            "timezone": timezones.zone_name(),
            "duration_minutes": 60, "active": True, "weekdays": []}  # fmt: skip
    return _render_form(form=form, plan=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form: dict[str, Any] = {}
    try:
        form = _form_data()
        plan = services.create_plan(tenant_db(), form)
    except ValidationFailed as exc:
        form = form or {k: request.form.get(k, "") for k in PLAN_FIELDS}
        return _render_form(422, form=form, plan=None, errors=exc.errors)
    flash(f"Visit plan “{plan.name}” created. Now add the customers to visit.", "success")
    return redirect(url_for(".detail", plan_id=plan.id), 303)


def customer_choices(
    exclude: set[tuple[str, uuid.UUID]],
) -> list[tuple[str, list[tuple[str, str]]]]:
    session = tenant_db()
    groups = []
    for name in CUSTOMER_TYPES:
        kind = records.get(name)
        rows = session.scalars(select(kind.model).limit(CUSTOMER_LIMIT))
        choices = sorted(
            (
                (f"{name}:{row.id}", record_label(row))
                for row in rows
                if (name, row.id) not in exclude
            ),
            key=lambda c: c[1].lower(),
        )
        if choices:
            groups.append((kind.label, choices))
    return groups


def _detail(plan, status: int = 200, errors: dict | None = None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    customers = services.plan_customers(session, plan.id)
    labels = {}
    for c in customers:
        try:
            labels[c.id] = record_label(get_record(session, c.record_type, c.record_id))
        except NotFound:
            labels[c.id] = "(deleted)"
    today = utcnow().date()
    upcoming = queries.plan_visits(session, plan.id, today - dt.timedelta(days=7),
                                   today + dt.timedelta(days=plan.horizon_days))  # fmt: skip
    return render_template(
        "visits/detail.html",
        plan=plan,
        customers=customers,
        customer_labels=labels,
        choices=customer_choices({(c.record_type, c.record_id) for c in customers}),
        visits=upcoming,
        today=today,
        owner=dict(_owners()).get(plan.owner_id),
        weekdays=WEEKDAY_LABELS,
        record_url=record_url,
        errors=errors or {},
        **header_context(),
    ), status


@bp.get("/<uuid:plan_id>")
def detail(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_get(plan_id))


@bp.get("/<uuid:plan_id>/edit")
def edit(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    form = {name: getattr(plan, name) for name in PLAN_FIELDS}
    form["weekdays"] = [d for d in plan.weekdays.split(",") if d]
    form["visit_time"] = plan.visit_time.strftime("%H:%M") if plan.visit_time else ""
    return _render_form(form=form, plan=plan)


@bp.post("/<uuid:plan_id>/edit")
def update(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    form: dict[str, Any] = {}
    try:
        form = _form_data(plan.timezone)
        services.update_plan(tenant_db(), plan.id, form)
    except ValidationFailed as exc:
        form = form or {k: request.form.get(k, "") for k in PLAN_FIELDS}
        return _render_form(422, form=form, plan=plan, errors=exc.errors)
    flash("Plan saved; its visits were brought up to date.", "success")
    return redirect(url_for(".detail", plan_id=plan.id), 303)


@bp.get("/<uuid:plan_id>/delete")
def confirm_delete(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("visits/delete.html", plan=_get(plan_id), **header_context())


@bp.post("/<uuid:plan_id>/delete")
def delete(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    name = plan.name
    services.delete_plan(tenant_db(), plan.id)
    flash(f"Visit plan “{name}” deleted; its upcoming open visits were removed.", "success")
    return redirect(url_for(".index"), 303)


@bp.post("/<uuid:plan_id>/customers")
def add_customer(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    record_type, _, record_id = request.form.get("customer", "").partition(":")
    try:
        if not record_id:
            raise ValidationFailed({"record_id": ["Choose a company or contact to visit."]})
        services.add_customer(tenant_db(), plan.id, record_type, record_id)
    except ValidationFailed as exc:
        return _detail(plan, 422, errors=exc.errors)
    except Conflict as exc:
        return _detail(plan, 409, errors={"record_id": [exc.message]})
    flash("Customer added; the visits are planned.", "success")
    return redirect(url_for(".detail", plan_id=plan.id), 303)


@bp.post("/<uuid:plan_id>/customers/<uuid:customer_id>/remove")
def remove_customer(plan_id: uuid.UUID, customer_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    try:
        services.remove_customer(tenant_db(), plan.id, customer_id)
    except (NotFound, ValidationFailed):
        abort(404)
    flash("Customer removed from the plan, with its upcoming open visits.", "success")
    return redirect(url_for(".detail", plan_id=plan.id), 303)


@bp.post("/<uuid:plan_id>/generate")
def generate(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    plan = _get(plan_id)
    created, removed = services.generate(tenant_db(), plan)
    flash(f"Visits brought up to date: {created} added, {removed} removed.", "success")
    return redirect(url_for(".detail", plan_id=plan.id), 303)


def _date_arg(name: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(request.args.get(name, "")[:10])
    except ValueError:
        return default


@bp.get("/adherence")
def adherence():  # type: ignore[no-untyped-def]
    today = utcnow().date()
    start = _date_arg("start", today - dt.timedelta(days=30))
    end = _date_arg("end", today)
    rows = queries.adherence(tenant_db(), start, end, today=today)
    if not _is_manager():
        user = current_user()
        rows = [r for r in rows if user is not None and r.owner_id == user.id]
    return render_template(
        "visits/adherence.html",
        rows=rows,
        start=start,
        end=end,
        owners=dict(_owners()),
        manager=_is_manager(),
        **header_context(),
    )
