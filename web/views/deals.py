"""Deals in the browser: the kanban board, the list, create, show (timeline, contacts), edit, move.

A card moves in two ways that end in the same service call: dragged (``static/kanban.js`` posts
to ``move`` with the CSRF token in ``X-CSRF-Token`` and gets JSON back) or through the card's own
small "Move to…" form, which needs no JavaScript and works from the keyboard.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask import session as browser_session

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.queries import company_choices
from rapport.tenants.deals import queries, services
from rapport.tenants.deals.models import Deal
from rapport.tenants.deals.schemas import DEAL_FIELDS
from rapport.tenants.picklists import queries as picklists
from rapport.tenants.pipelines import queries as pipeline_queries
from rapport.web import listing
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("deals", __name__, "/deals")

LABELS = {
    "name": "Name", "company_id": "Company", "amount": "Amount", "currency": "Currency",
    "expected_close_date": "Expected close", "owner_id": "Owner", "stage": "Stage",
    "status": "Status", "lost_reason": "Lost reason", "pipeline_id": "Pipeline",
    "stage_id": "Stage", "contact": "Contact", "role": "Role",
}  # fmt: skip
DEFAULT_CURRENCY = "EUR"


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _get(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_deal(tenant_db(), deal_id)
    except NotFound:
        abort(404)


def _owners() -> list[tuple[uuid.UUID, str]]:
    return [(user.id, user.name or user.email) for _m, user in members.members_of(g.workspace.id)]


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in (*DEAL_FIELDS, "stage_id")}
    return {**form, "custom": custom_from_form("deals")}


def _check_owner(form: dict[str, str]) -> None:
    owner = form.get("owner_id") or ""
    if owner and owner not in {str(user_id) for user_id, _ in _owners()}:
        raise ValidationFailed({"owner_id": ["Choose an owner from the list."]})


def _form(template: str, status: int = 200, **context):  # type: ignore[no-untyped-def]
    session = tenant_db()
    context.setdefault("errors", {})
    pipeline = pipeline_queries.default_pipeline(session)
    stages = [
        s
        for p in pipeline_queries.list_pipelines(session)
        for s in pipeline_queries.pipeline_stages(session, p.id)
        if s.kind == "open"
    ]
    return render_template(
        template,
        labels=LABELS,
        companies=company_choices(session),
        owners=_owners(),
        stages=stages,
        pipeline=pipeline,
        **context,
    ), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    session = tenant_db()
    pipelines = pipeline_queries.list_pipelines(session)
    chosen = request.args.get("pipeline")
    pipeline = next((p for p in pipelines if str(p.id) == chosen), None)
    if chosen and pipeline is None:
        abort(404)
    pipeline = pipeline or (pipelines[0] if pipelines else None)
    columns = queries.board(session, pipeline) if pipeline else []
    return render_template(
        "deals/board.html",
        pipelines=pipelines,
        pipeline=pipeline,
        columns=columns,
        undo=_pop_undo(),
    )


def _status_filter() -> list[tuple[str, str, str]]:
    """The list's status picker (kept for links made before filters existed)."""
    status = request.args.get("status")
    return [("status", "eq", status)] if status in ("open", "won", "lost") else []


def list_spec() -> listing.ListSpec:
    """The deals list (the board is the other view of deals)."""
    return listing.ListSpec(
        record_type="deals",
        endpoint="deals.listing",
        routes="deals.list",
        singular="deal",
        plural="deals",
        title_column="name",
        detail=lambda deal: url_for("deals.detail", deal_id=deal.id),
        default_columns=("name", "company_id", "stage_id", "status", "amount", "currency",
                         "expected_close_date", "owner_id", "updated_at"),
        default_sort="-updated_at",
        search=lambda q: Deal.name.icontains(q, autoescape=True),
        search_placeholder="Search deals by name",
        labels=LABELS,
        legacy_filters=_status_filter,
        formats={"lost_reason": lambda value: picklists.label(tenant_db(), "loss_reason", value)},
    )  # fmt: skip


@bp.get("/list", endpoint="listing")
def list_view():  # type: ignore[no-untyped-def]
    return listing.render_list(list_spec(), "deals/list.html")


listing.add_routes(bp, list_spec, "/list")


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form = {"currency": DEFAULT_CURRENCY, "stage_id": request.args.get("stage_id", "")}
    return _form("deals/form.html", form=form, deal=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        _check_owner(form)
        deal = services.create_deal(tenant_db(), form)
    except ValidationFailed as exc:
        return _form("deals/form.html", 422, form=form, deal=None, errors=exc.errors)
    flash(f"Deal “{deal.name}” created.", "success")
    return redirect(url_for(".detail", deal_id=deal.id), 303)


def _detail(deal, status: int = 200, errors: dict | None = None, form: dict | None = None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    owners = dict(_owners())
    return render_template(
        "deals/detail.html",
        deal=deal,
        company=session.get(Company, deal.company_id) if deal.company_id else None,
        stage=pipeline_queries.get_stage(session, deal.stage_id),
        pipeline=pipeline_queries.get_pipeline(session, deal.pipeline_id),
        stages=pipeline_queries.pipeline_stages(session, deal.pipeline_id),
        owner=owners.get(deal.owner_id) if deal.owner_id else None,
        contacts=queries.deal_contacts(session, deal.id),
        contact_choices=queries.contact_choices(session),
        labels=LABELS,
        errors=errors or {},
        form=form or {},
        undo=_pop_undo(deal.id),
    ), status


@bp.get("/<uuid:deal_id>")
def detail(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_get(deal_id))


@bp.get("/<uuid:deal_id>/edit")
def edit(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    form = {name: getattr(deal, name) for name in DEAL_FIELDS}
    form["custom"] = deal.custom
    return _form("deals/form.html", form=form, deal=deal)


@bp.post("/<uuid:deal_id>/edit")
def update(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    form = {name: request.form.get(name, "") for name in DEAL_FIELDS}
    form["custom"] = custom_from_form("deals")
    try:
        _check_owner(form)
        services.update_deal(tenant_db(), deal.id, form)
    except ValidationFailed as exc:
        return _form("deals/form.html", 422, form=form, deal=deal, errors=exc.errors)
    flash("Changes saved.", "success")
    return redirect(url_for(".detail", deal_id=deal.id), 303)


@bp.get("/<uuid:deal_id>/delete")
def confirm_delete(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("deals/delete.html", deal=_get(deal_id))


@bp.post("/<uuid:deal_id>/delete")
def delete(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    name = deal.name
    services.delete_deal(tenant_db(), deal.id)
    flash(f"Deal “{name}” deleted.", "success")
    return redirect(url_for(".index"), 303)


def _safe_next(default: str) -> str:
    target = request.form.get("next", "")
    # Only paths inside this workspace: never an absolute or protocol-relative address.
    if target.startswith(f"/{g.workspace.slug}/") and not target.startswith("//"):
        return target
    return default


# -- undoing a stage move -------------------------------------------------------------------------
#: Where the last stage move of this browser session came from, shown once as "Undo" on the next
#: board or deal page (a drag reloads the board, so both ways of moving end there).
UNDO_KEY = "deal_undo"


def _offer_undo(deal: Deal, before: dict[str, Any]) -> None:
    session = tenant_db()
    browser_session[UNDO_KEY] = {
        **before,
        "stage_name": pipeline_queries.get_stage(session, uuid.UUID(before["stage_id"])).name,
        "deal_id": str(deal.id),
        "deal_name": deal.name,
        "to_stage_id": str(deal.stage_id),
    }


def _pop_undo(deal_id: uuid.UUID | None = None) -> dict[str, Any] | None:
    """The undo to offer on this page (once), if the last move was of this deal (or any)."""
    offer = browser_session.get(UNDO_KEY)
    if not offer or (deal_id is not None and offer.get("deal_id") != str(deal_id)):
        return None
    browser_session.pop(UNDO_KEY, None)
    return offer


@bp.post("/<uuid:deal_id>/move/undo")
def undo_move(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Move the deal back where it was, through the same service as any move."""
    deal = _get(deal_id)
    back = _safe_next(url_for(".index", pipeline=deal.pipeline_id))
    if str(deal.stage_id) != request.form.get("to_stage_id", ""):
        # Someone (or another tab) moved it since: going "back" now would undo their move.
        flash(f"“{deal.name}” has moved since; nothing was undone.", "error")
        return redirect(back, 303)
    raw_position = request.form.get("position", "").strip()
    try:
        services.move_deal(
            tenant_db(),
            deal.id,
            request.form.get("stage_id", ""),
            int(raw_position) if raw_position.isdigit() else None,
            lost_reason=request.form.get("lost_reason") or None,
        )
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        flash("The move could not be undone: " + next(iter(exc.errors.values()))[0], "error")
        return redirect(back, 303)
    stage = pipeline_queries.get_stage(tenant_db(), deal.stage_id)
    flash(f"Move undone: “{deal.name}” is back in {stage.name}.", "success")
    return redirect(back, 303)


@bp.post("/<uuid:deal_id>/move")
def move(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    before = {
        "stage_id": str(deal.stage_id),
        "position": deal.position,
        "lost_reason": deal.lost_reason or "",
    }
    raw_position = request.form.get("position", "").strip()
    try:
        position = int(raw_position) if raw_position else None
    except ValueError:
        position = None
    try:
        services.move_deal(
            tenant_db(),
            deal.id,
            request.form.get("stage_id", ""),
            position,
            lost_reason=request.form.get("lost_reason") or None,
        )
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        if _wants_json():
            return jsonify(message=exc.message, errors=exc.errors), 422
        form = {"stage_id": request.form.get("stage_id", ""),
                "lost_reason": request.form.get("lost_reason", "")}  # fmt: skip
        return _detail(deal, 422, errors=exc.errors, form=form)
    stage = pipeline_queries.get_stage(tenant_db(), deal.stage_id)
    if str(stage.id) != before["stage_id"]:
        _offer_undo(deal, before)
    if _wants_json():
        return jsonify(deal_id=str(deal.id), stage_id=str(stage.id), status=deal.status)
    flash(f"“{deal.name}” moved to {stage.name}.", "success")
    board = url_for(".index", pipeline=deal.pipeline_id)
    return redirect(_safe_next(board), 303)


@bp.post("/<uuid:deal_id>/contacts")
def add_contact(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    form = {"contact_id": request.form.get("contact_id", ""),
            "role": request.form.get("role", "")}  # fmt: skip
    try:
        services.add_contact(tenant_db(), deal.id, form)
    except ValidationFailed as exc:
        return _detail(deal, 422, errors=exc.errors, form=form)
    except Conflict as exc:
        return _detail(deal, 409, errors={"contact_id": [exc.message]}, form=form)
    flash("Contact added.", "success")
    return redirect(url_for(".detail", deal_id=deal.id), 303)


@bp.post("/<uuid:deal_id>/contacts/<uuid:link_id>/remove")
def remove_contact(deal_id: uuid.UUID, link_id: uuid.UUID):  # type: ignore[no-untyped-def]
    deal = _get(deal_id)
    try:
        services.remove_contact(tenant_db(), deal.id, link_id)
    except NotFound:
        abort(404)
    flash("Contact removed from the deal.", "success")
    return redirect(url_for(".detail", deal_id=deal.id), 303)
