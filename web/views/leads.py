"""Leads in the browser: list ("my leads", status, search), create, show, edit, qualify, delete,
convert (with duplicate candidates to merge into) and the settings of the public
capture form. Every way in creates leads through ``services.create_lead``, which routes them."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.queries import record_history
from rapport.tenants.companies.schemas import countries
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal
from rapport.tenants.leads import queries, services
from rapport.tenants.leads.schemas import LEAD_FIELDS, RATINGS
from rapport.tenants.picklists import queries as picklists
from rapport.tenants.picklists.services import default_value
from rapport.tenants.pipelines import queries as pipeline_queries
from rapport.tenants.search import queries as search_queries
from rapport.tenants.teams.queries import team_choices
from rapport.web import listing
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("leads", __name__, "/leads")

LABELS = {
    "first_name": "First name", "last_name": "Last name", "company_name": "Company",
    "title": "Title", "email": "Email", "phone": "Phone", "website": "Website",
    "industry": "Industry", "country": "Country", "region": "Region", "city": "City",
    "source": "Source", "status": "Status", "rating": "Rating", "owner_id": "Owner",
    "team_id": "Team", "description": "Description", "company_id": "Company",
    "contact_id": "Contact", "deal_id": "Deal",
}  # fmt: skip
DEFAULT_CURRENCY = "EUR"


def _owners() -> list[tuple[uuid.UUID, str]]:
    return [(user.id, user.name or user.email) for _m, user in members.members_of(g.workspace.id)]


def _get(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_lead(tenant_db(), lead_id)
    except NotFound:
        abort(404)


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in LEAD_FIELDS}
    return {**form, "custom": custom_from_form("leads")}


def _check_owner(form: dict[str, Any]) -> None:
    owner = form.get("owner_id") or ""
    if owner and owner not in {str(user_id) for user_id, _ in _owners()}:
        raise ValidationFailed({"owner_id": ["Choose an owner from the list."]})


def _choices(form: dict[str, Any] | None = None) -> dict[str, Any]:
    session, form = tenant_db(), form or {}
    converted = picklists.with_meaning(session, "lead_status", "converted")
    statuses = picklists.pairs(session, "lead_status", form.get("status"))
    return {
        "labels": LABELS,
        "countries": countries(),
        "statuses": [s for s in statuses if s[0] not in converted],
        "sources": picklists.pairs(session, "lead_source", form.get("source")),
        "industries": picklists.pairs(session, "industry", form.get("industry")),
        "ratings": RATINGS,
        "owners": _owners(),
        "teams": team_choices(tenant_db()),
    }


def _form(template: str, status: int = 200, **context):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    return render_template(template, **_choices(context.get("form")), **context), status


def _quick_filters() -> list[tuple[str, str, str]]:
    """The status quick filter (``?status=open`` or one status) as a filter of the list."""
    status = request.args.get("status") or ""
    session = tenant_db()
    if status == "open":
        still_open = picklists.with_meaning(session, "lead_status", "open", "qualified")
        return [("status", "in", ",".join(still_open))]
    if status in picklists.labels(session, "lead_status"):
        return [("status", "eq", status)]
    return []


def list_spec() -> listing.ListSpec:
    """The leads list: newest first, with the person (or company) a lead is named after."""
    return listing.ListSpec(
        record_type="leads",
        endpoint="leads.index",
        routes="leads.list",
        singular="lead",
        plural="leads",
        title_column="name",
        detail=lambda lead: url_for("leads.detail", lead_id=lead.id),
        default_columns=("name", "company_name", "email", "status", "rating", "owner_id",
                         "created_at"),
        default_sort="-created_at",
        search=lambda q: search_queries.record_filter("leads", q),
        search_placeholder="Search leads by name, company, email or city",
        extras=(listing.Extra("name", "Name", queries.display_name),),
        labels=LABELS,
        legacy_filters=_quick_filters,
        formats={
            "status": lambda value: picklists.label(tenant_db(), "lead_status", value),
            "source": lambda value: picklists.label(tenant_db(), "lead_source", value),
            "industry": lambda value: picklists.label(tenant_db(), "industry", value),
            "rating": lambda value: dict(RATINGS).get(value, value),
        },
    )  # fmt: skip


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return listing.render_list(
        list_spec(),
        "leads/index.html",
        statuses=picklists.pairs(tenant_db(), "lead_status", retired=True),
        status=request.args.get("status") or "",
        owner=request.args.get("owner") or "",
    )


listing.add_routes(bp, list_spec)


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form = {"status": default_value(tenant_db(), "lead_status")}
    return _form("leads/form.html", form=form, lead=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        _check_owner(form)
        lead = services.create_lead(tenant_db(), form)
    except ValidationFailed as exc:
        return _form("leads/form.html", 422, form=form, lead=None, errors=exc.errors)
    message = f"Lead “{queries.display_name(lead)}” created."
    if lead.owner_id and not form.get("owner_id"):
        message += f" Assigned to {dict(_owners()).get(lead.owner_id, 'a team member')}."
    flash(message, "success")
    return redirect(url_for(".detail", lead_id=lead.id), 303)


@bp.get("/<uuid:lead_id>")
def detail(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    lead = _get(lead_id)
    teams = dict(team_choices(session))
    return render_template(
        "leads/detail.html",
        lead=lead,
        name=queries.display_name(lead),
        owner=dict(_owners()).get(lead.owner_id) if lead.owner_id else None,
        team=teams.get(lead.team_id) if lead.team_id else None,
        company=session.get(Company, lead.converted_company_id)
        if lead.converted_company_id
        else None,
        contact=session.get(Contact, lead.converted_contact_id)
        if lead.converted_contact_id
        else None,
        deal=session.get(Deal, lead.converted_deal_id) if lead.converted_deal_id else None,
        entries=record_history(session, "lead", lead.id),
        labels=LABELS,
        country_names=dict(countries()),
        status_names=picklists.labels(session, "lead_status"),
        source_names=picklists.labels(session, "lead_source"),
        industry_names=picklists.labels(session, "industry"),
        qualify=[
            (value, label)
            for value, label in picklists.pairs(session, "lead_status")
            if value not in picklists.with_meaning(session, "lead_status", "converted")
        ],
        rating_names=dict(RATINGS),
    )


@bp.get("/<uuid:lead_id>/edit")
def edit(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    if lead.converted_at is not None:
        flash("This lead was converted; change the company, contact or deal instead.", "error")
        return redirect(url_for(".detail", lead_id=lead.id), 303)
    form = {name: getattr(lead, name) for name in LEAD_FIELDS}
    form["custom"] = lead.custom
    return _form("leads/form.html", form=form, lead=lead)


@bp.post("/<uuid:lead_id>/edit")
def update(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    form = _form_data()
    try:
        _check_owner(form)
        services.update_lead(tenant_db(), lead.id, form)
    except ValidationFailed as exc:
        return _form("leads/form.html", 422, form=form, lead=lead, errors=exc.errors)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", lead_id=lead.id), 303)
    flash("Changes saved.", "success")
    return redirect(url_for(".detail", lead_id=lead.id), 303)


@bp.post("/<uuid:lead_id>/status")
def set_status(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    status = request.form.get("status", "")
    try:
        services.qualify_lead(tenant_db(), lead.id, status)
    except ValidationFailed as exc:
        flash(next(iter(exc.errors.values()))[0], "error")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        label = picklists.label(tenant_db(), "lead_status", status).lower()
        flash(f"Lead marked {label}.", "success")
    return redirect(url_for(".detail", lead_id=lead.id), 303)


@bp.get("/<uuid:lead_id>/delete")
def confirm_delete(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    return render_template("leads/delete.html", lead=lead, name=queries.display_name(lead))


@bp.post("/<uuid:lead_id>/delete")
def delete(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    name = queries.display_name(lead)
    services.delete_lead(tenant_db(), lead.id)
    flash(f"Lead “{name}” deleted.", "success")
    return redirect(url_for(".index"), 303)


# -- import ---------------------------------------------------------------------------------------
@bp.get("/import")
def import_form():  # type: ignore[no-untyped-def]
    """Leads are imported like every record type (the old address still leads there)."""
    return redirect(url_for("imports.index", record_type="leads"), 303)


# -- conversion -----------------------------------------------------------------------------------
def _convert_page(lead, status: int = 200, errors: dict | None = None, form: dict | None = None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    errors = errors or {}
    found = queries.duplicates(session, lead)
    stages = [
        (p, s)
        for p in pipeline_queries.list_pipelines(session)
        for s in pipeline_queries.pipeline_stages(session, p.id)
        if s.kind == "open"
    ]
    company_names = queries.company_names(
        session, {c.record.company_id for c in found.contacts if c.record.company_id}
    )
    if form is None:
        form = {
            # Suggest merging when there is exactly one strong candidate; people can change it.
            "company": str(found.companies[0].record.id)
            if len(found.companies) == 1
            else ("new" if lead.company_name else ""),
            "contact": str(found.contacts[0].record.id) if len(found.contacts) == 1 else "new",
            "deal_name": f"{lead.company_name or queries.display_name(lead)} deal",
            "currency": DEFAULT_CURRENCY,
        }
    return render_template(
        "leads/convert.html",
        lead=lead,
        name=queries.display_name(lead),
        duplicates=found,
        company_names=company_names,
        stages=stages,
        form=form,
        errors=errors,
        company_errors=[m for k, v in errors.items() if k.startswith("company") for m in v],
        deal_errors=[m for k, v in errors.items() if k.startswith("deal") for m in v],
    ), status


@bp.get("/<uuid:lead_id>/convert")
def convert_form(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    if lead.converted_at is not None:
        flash("This lead was already converted.", "error")
        return redirect(url_for(".detail", lead_id=lead.id), 303)
    return _convert_page(lead)


@bp.post("/<uuid:lead_id>/convert")
def convert(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    lead = _get(lead_id)
    form = {
        key: request.form.get(key, "")
        for key in ("company", "contact", "with_deal", "deal_name", "amount", "currency",
                    "stage_id")
    }  # fmt: skip
    deal = None
    if form["with_deal"]:
        deal = {"name": form["deal_name"], "amount": form["amount"],
                "currency": form["currency"], "stage_id": form["stage_id"]}  # fmt: skip
    try:
        services.convert_lead(
            tenant_db(), lead.id, company=form["company"] or None, contact=form["contact"],
            deal=deal,
        )  # fmt: skip
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for(".detail", lead_id=lead.id), 303)
    except ValidationFailed as exc:
        # The failed attempt may have flushed rows: nothing of it may commit.
        g.rollback_only = True
        tenant_db().rollback()
        return _convert_page(_get(lead_id), 422, errors=exc.errors, form=form)
    flash(f"Lead “{queries.display_name(lead)}” converted.", "success")
    return redirect(url_for(".detail", lead_id=lead.id), 303)


# -- the public capture form's settings -----------------------------------------------------------
@bp.get("/capture-form")
def capture_form():  # type: ignore[no-untyped-def]
    form = queries.lead_form(tenant_db())
    return _capture_page(form)


def _capture_page(form, status: int = 200, errors: dict | None = None, data: dict | None = None):  # type: ignore[no-untyped-def]
    slug = g.workspace.slug
    if data is None:
        data = {
            "enabled": form.enabled if form else True,
            "allowed_return_urls": "\n".join(form.allowed_return_urls or ()) if form else "",
            "thank_you": (form.thank_you or "") if form else "",
        }
    return render_template(
        "leads/capture.html",
        data=data,
        errors=errors or {},
        form_url=url_for("lead_forms.capture", slug=slug, _external=True),
        script_url=url_for("lead_forms.script", slug=slug, _external=True),
        can_edit=g.membership.role in MANAGERS,
    ), status


@bp.post("/capture-form")
def save_capture_form():  # type: ignore[no-untyped-def]
    require_role(*MANAGERS)
    data = {key: request.form.get(key, "") for key in ("enabled", "allowed_return_urls",
                                                        "thank_you")}  # fmt: skip
    try:
        services.save_lead_form(tenant_db(), data)
    except ValidationFailed as exc:
        return _capture_page(None, 422, errors=exc.errors, data=data)
    flash("Capture form settings saved.", "success")
    return redirect(url_for(".capture_form"), 303)
