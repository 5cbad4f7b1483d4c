"""Activities in the browser: the list with due reminders, the calendar, create/show/edit,
complete with an outcome, cancel/reopen, delete, and the visit check-in.

Dates and times are shown and entered in UTC for now. A form may come from a record's page (the
timeline composer, ``activities/_composer.html``): it then carries the record as ``link`` and a
``next`` address inside the workspace to return to.
"""

from __future__ import annotations

import calendar as cal
import datetime as dt
import importlib
import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.activities import queries, services
from rapport.tenants.activities.links import get_record, record_label, record_url
from rapport.tenants.activities.models import ACTIVITY_STATUSES, LINKABLE_TYPES, Activity
from rapport.tenants.activities.schemas import ACTIVITY_FIELDS, REMIND_CHOICES
from rapport.tenants.picklists import queries as picklists
from rapport.web import listing, timezones
from rapport.web.auth import current_user
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("activities", __name__, "/activities")

LABELS = {
    "kind": "Kind", "subject": "Subject", "description": "Description", "due_at": "Starts / due",
    "ends_at": "Ends", "all_day": "All day", "remind_at": "Remind at", "owner_id": "Owner",
    "links": "Concerns", "outcome": "Outcome", "remind_before": "Remind me",
}  # fmt: skip


def _kinds() -> dict[str, str]:
    """Activity type -> label, from the tenant's picklist (retired types included: records keep
    them)."""
    return picklists.labels(tenant_db(), "activity_type")


RECORD_LIMIT = 300


# -- helpers -------------------------------------------------------------------------------------
def _get(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_activity(tenant_db(), activity_id)
    except NotFound:
        abort(404)


def _me() -> uuid.UUID:
    user = current_user()
    assert user is not None  # the workspace blueprint requires a signed-in member
    return user.id


def _owners() -> list[tuple[uuid.UUID, str]]:
    return [(user.id, user.name or user.email) for _m, user in members.members_of(g.workspace.id)]


def _check_owner(form: dict[str, Any]) -> None:
    owner = form.get("owner_id") or ""
    if owner and owner not in {str(user_id) for user_id, _ in _owners()}:
        raise ValidationFailed({"owner_id": ["Choose an owner from the list."]})


def _team_member_ids() -> Any:
    """``teams.queries.team_member_ids`` when the teams feature provides it, else None."""
    try:
        module = importlib.import_module("rapport.tenants.teams.queries")
    except ImportError:
        return None
    return getattr(module, "team_member_ids", None)


def _scopes() -> list[tuple[str, str]]:
    scopes = [("mine", "Mine")]
    if _team_member_ids() is not None:
        scopes.append(("team", "My team"))
    return [*scopes, ("everyone", "Everyone")]


def _owner_filter(scope: str) -> list[uuid.UUID] | None:
    if scope == "everyone":
        return None
    finder = _team_member_ids()
    if scope == "team" and finder is not None:
        return list({_me(), *finder(tenant_db(), _me())})
    return [_me()]


def _safe_next(default: str) -> str:
    target = request.form.get("next", "") or request.args.get("next", "")
    # Only paths inside this workspace: never an absolute or protocol-relative address.
    if target.startswith(f"/{g.workspace.slug}/") and not target.startswith("//"):
        return target
    return default


def record_choices(chosen: set[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Linkable records for the "Concerns" picker, grouped by type: (label, [(value, name)]).

    The first ``RECORD_LIMIT`` of each type, plus the ones already chosen.
    """
    session = tenant_db()
    groups = []
    for name in LINKABLE_TYPES:
        if not records.exists(name):
            continue
        kind = records.get(name)
        rows = list(session.scalars(select(kind.model).limit(RECORD_LIMIT)))
        seen = {str(row.id) for row in rows}
        for value in chosen:
            record_type, _, record_id = value.partition(":")
            if record_type == name and record_id not in seen:
                try:
                    rows.append(get_record(session, record_type, record_id))
                except NotFound:
                    continue
        choices = sorted(((f"{name}:{row.id}", record_label(row)) for row in rows),
                         key=lambda c: c[1].lower())  # fmt: skip
        if choices:
            groups.append((kind.label, choices))
    return groups


def _links_from_form() -> list[dict[str, str]]:
    links = []
    for value in request.form.getlist("links"):
        record_type, _, record_id = value.partition(":")
        if record_type and record_id:
            links.append({"record_type": record_type, "record_id": record_id})
    return links


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in ACTIVITY_FIELDS}
    for name in ("due_at", "ends_at", "remind_at"):  # the browser's pickers carry no zone
        form[name] = timezones.from_input(form[name])
    form["all_day"] = bool(request.form.get("all_day"))
    if request.form.get("remind_before", "") != "":
        form["remind_before"] = request.form["remind_before"]
        form.pop("remind_at")
    form["links"] = _links_from_form()
    form["custom"] = custom_from_form("activities")
    return form


def _render_form(template: str, status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    chosen = {f"{link.get('record_type')}:{link.get('record_id')}"
              for link in context["form"].get("links") or []}  # fmt: skip
    return render_template(
        template,
        labels=LABELS,
        kinds=picklists.pairs(tenant_db(), "activity_type", context["form"].get("kind")),
        owners=_owners(),
        record_groups=record_choices(chosen),
        chosen=chosen,
        remind_choices=REMIND_CHOICES,
        **context,
    ), status


def _local(value: dt.datetime | None) -> str:
    """A value for a ``datetime-local`` input (in the viewer's zone)."""
    return timezones.to_input(value)


def header_context() -> dict[str, Any]:
    """What every activities page's header shows: the count of the user's due reminders."""
    return {"due_count": queries.count_due_reminders(tenant_db(), _me())}


# -- the list --------------------------------------------------------------------------------------
@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    session = tenant_db()
    scope = request.args.get("scope", "mine")
    if scope not in dict(_scopes()):
        scope = "mine"
    status = request.args.get("status", "open")
    if status not in ACTIVITY_STATUSES:
        status = "open"
    kind = request.args.get("kind") or None
    kinds = _kinds()
    if kind not in kinds:
        kind = None
    items = queries.list_activities(session, owners=_owner_filter(scope), status=status, kind=kind)
    due = queries.due_reminders(session, _me())
    links = queries.links_of(session, [a.id for a in items + due])
    labels = queries.link_labels(session, [link for ls in links.values() for link in ls])
    return render_template(
        "activities/index.html",
        items=items,
        due=due,
        links=links,
        link_labels=labels,
        scope=scope,
        scopes=_scopes(),
        status=status,
        kind=kind,
        kinds=kinds,
        owners=dict(_owners()),
        now=utcnow(),
        record_url=record_url,
        **header_context(),
    )


# -- the table: every activity through the shared list (filters, columns, views, CSV) ------------
def _status_filter() -> list[tuple[str, str, str]]:
    status = request.args.get("status")
    return [("status", "eq", status)] if status in ACTIVITY_STATUSES else []


def table_spec() -> listing.ListSpec:
    """Every activity as a table (the agenda at ``index`` is the day-to-day view)."""
    return listing.ListSpec(
        record_type="activities",
        endpoint="activities.table",
        routes="activities.list",
        singular="activity",
        plural="activities",
        title_column="subject",
        detail=lambda activity: url_for("activities.detail", activity_id=activity.id),
        default_columns=("subject", "kind", "due_at", "status", "owner_id", "outcome"),
        default_sort="-due_at",
        search=lambda q: Activity.subject.icontains(q, autoescape=True),
        search_placeholder="Search activities by subject",
        labels=LABELS,
        legacy_filters=_status_filter,
        formats={"kind": lambda value: picklists.label(tenant_db(), "activity_type", value)},
    )  # fmt: skip


@bp.get("/table", endpoint="table")
def table_view():  # type: ignore[no-untyped-def]
    return listing.render_list(table_spec(), "activities/table.html", **header_context())


listing.add_routes(bp, table_spec, "/table")


# -- create, show, edit, delete --------------------------------------------------------------------
@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form: dict[str, Any] = {"kind": request.args.get("kind", "task"), "owner_id": str(_me())}
    link = request.args.get("link", "")
    if link:
        form["links"] = [dict(zip(("record_type", "record_id"), link.split(":", 1), strict=False))]
    if request.args.get("date"):
        form["due_at"] = f"{request.args['date'][:10]}T09:00"
    return _render_form("activities/form.html", form=form, activity=None,
                        next=_safe_next(""), **header_context())  # fmt: skip


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        _check_owner(form)
        activity = services.create_activity(tenant_db(), form)
        if request.form.get("done"):  # logged after the fact (the timeline composer)
            services.complete_activity(tenant_db(), activity.id,
                                       {"outcome": request.form.get("outcome", "")})  # fmt: skip
    except ValidationFailed as exc:
        return _render_form("activities/form.html", 422, form=form, activity=None,
                            errors=exc.errors, next=_safe_next(""), **header_context())  # fmt: skip
    flash(f"{_kinds().get(activity.kind, 'Activity')} “{activity.subject}” saved.", "success")
    return redirect(_safe_next(url_for(".detail", activity_id=activity.id)), 303)


def _detail(activity, status: int = 200, errors: dict | None = None, form: dict | None = None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    links = services.activity_links(session, activity.id)
    owners = dict(_owners())
    return render_template(
        "activities/detail.html",
        activity=activity,
        links=links,
        link_labels=queries.link_labels(session, links),
        record_url=record_url,
        owner=owners.get(activity.owner_id) if activity.owner_id else None,
        kinds=_kinds(),
        labels=LABELS,
        errors=errors or {},
        form=form or {},
        **header_context(),
    ), status


@bp.get("/<uuid:activity_id>")
def detail(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_get(activity_id))


@bp.get("/<uuid:activity_id>/edit")
def edit(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    form: dict[str, Any] = {name: getattr(activity, name) for name in ACTIVITY_FIELDS}
    for name in ("due_at", "ends_at", "remind_at"):
        form[name] = _local(form[name])
    form["links"] = [{"record_type": link.record_type, "record_id": str(link.record_id)}
                     for link in services.activity_links(tenant_db(), activity.id)]  # fmt: skip
    form["custom"] = activity.custom
    return _render_form("activities/form.html", form=form, activity=activity, next="",
                        **header_context())  # fmt: skip


@bp.post("/<uuid:activity_id>/edit")
def update(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    form = _form_data()
    try:
        _check_owner(form)
        services.update_activity(tenant_db(), activity.id, form)
    except ValidationFailed as exc:
        return _render_form("activities/form.html", 422, form=form, activity=activity,
                            errors=exc.errors, next="", **header_context())  # fmt: skip
    flash("Changes saved.", "success")
    return redirect(url_for(".detail", activity_id=activity.id), 303)


@bp.get("/<uuid:activity_id>/delete")
def confirm_delete(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("activities/delete.html", activity=_get(activity_id),
                           kinds=_kinds(), **header_context())  # fmt: skip


@bp.post("/<uuid:activity_id>/delete")
def delete(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    subject = activity.subject
    services.delete_activity(tenant_db(), activity.id)
    flash(f"“{subject}” deleted.", "success")
    return redirect(url_for(".index"), 303)


# -- status changes and the check-in -------------------------------------------------------------
@bp.post("/<uuid:activity_id>/complete")
def complete(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    form = {"outcome": request.form.get("outcome", "")}
    try:
        services.complete_activity(tenant_db(), activity.id, form)
    except ValidationFailed as exc:
        return _detail(activity, 422, errors=exc.errors, form=form)
    except Conflict as exc:
        return _detail(activity, 409, errors={"outcome": [exc.message]}, form=form)
    flash(f"“{activity.subject}” marked done.", "success")
    return redirect(_safe_next(url_for(".detail", activity_id=activity.id)), 303)


@bp.post("/<uuid:activity_id>/cancel")
def cancel(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    services.cancel_activity(tenant_db(), activity.id)
    flash(f"“{activity.subject}” canceled.", "success")
    return redirect(url_for(".detail", activity_id=activity.id), 303)


@bp.post("/<uuid:activity_id>/reopen")
def reopen(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    services.reopen_activity(tenant_db(), activity.id)
    flash(f"“{activity.subject}” reopened.", "success")
    return redirect(url_for(".detail", activity_id=activity.id), 303)


@bp.post("/<uuid:activity_id>/snooze")
def snooze(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Remind again in an hour (a new reminder: emailed again then)."""
    activity = _get(activity_id)
    later = (utcnow() + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    services.update_activity(
        tenant_db(), activity.id, {"remind_at": later.isoformat()}, partial=True
    )
    flash(f"“{activity.subject}”: reminding you again at {later:%H:%M} UTC.", "success")
    return redirect(_safe_next(url_for(".index")), 303)


@bp.post("/<uuid:activity_id>/check-in")
def check_in(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    activity = _get(activity_id)
    form = {name: request.form.get(name, "")
            for name in ("outcome", "latitude", "longitude", "accuracy")}  # fmt: skip
    try:
        services.check_in(tenant_db(), activity.id, {**form, "complete": True})
    except ValidationFailed as exc:
        return _detail(activity, 422, errors=exc.errors, form=form)
    except Conflict as exc:
        return _detail(activity, 409, errors={"_form": [exc.message]}, form=form)
    where = " with your location" if activity.latitude is not None else ""
    flash(f"Checked in at {activity.checked_in_at:%H:%M} UTC{where}.", "success")
    return redirect(url_for(".detail", activity_id=activity.id), 303)


# -- the calendar ----------------------------------------------------------------------------------
def _parse_day(raw: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat((raw or "")[:10])
    except ValueError:
        return timezones.today()


@bp.get("/calendar")
def calendar():  # type: ignore[no-untyped-def]
    view = request.args.get("view", "week")
    if view not in ("week", "month"):
        view = "week"
    scope = request.args.get("scope", "mine")
    if scope not in dict(_scopes()):
        scope = "mine"
    day = _parse_day(request.args.get("date"))
    if view == "week":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
        prev_day, next_day = first - dt.timedelta(days=7), first + dt.timedelta(days=7)
        title = f"Week of {first:%d %b %Y}"
        month_start = None
    else:
        month_start = day.replace(day=1)
        month_end = month_start.replace(day=cal.monthrange(day.year, day.month)[1])
        first = month_start - dt.timedelta(days=month_start.weekday())
        last = month_end + dt.timedelta(days=6 - month_end.weekday())
        prev_day = (month_start - dt.timedelta(days=1)).replace(day=1)
        next_day = month_end + dt.timedelta(days=1)
        title = f"{month_start:%B %Y}"
    start = timezones.local_midnight(first)
    end = timezones.local_midnight(last + dt.timedelta(days=1))
    items = queries.in_range(tenant_db(), start, end, owners=_owner_filter(scope))
    by_day: dict[dt.date, list[Any]] = {}
    for activity in items:
        by_day.setdefault(timezones.local(activity.due_at).date(), []).append(activity)
    for day_items in by_day.values():
        day_items.sort(key=lambda a: (not a.all_day, a.due_at))
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    return render_template(
        "activities/calendar.html",
        view=view,
        scope=scope,
        scopes=_scopes(),
        title=title,
        weeks=weeks,
        by_day=by_day,
        month_start=month_start,
        today=timezones.today(),
        anchor=day,
        prev_day=prev_day,
        next_day=next_day,
        kinds=_kinds(),
        owners=dict(_owners()),
        **header_context(),
    )
