"""Companies in the browser: list, create, show (with contacts and timeline), edit, delete."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies import queries, services
from rapport.tenants.companies.schemas import (
    CHANNELS,
    CLASSIFICATIONS,
    COMPANY_FIELDS,
    SIZES,
    countries,
)
from rapport.tenants.picklists import queries as picklists
from rapport.tenants.search import queries as search_queries
from rapport.web import listing
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("companies", __name__, "/companies")

LABELS = {
    "name": "Name", "website": "Website", "domain": "Domain", "industry": "Industry",
    "phone": "Phone", "city": "City", "country": "Country", "notes": "Notes",
    "parent_id": "Parent company", "size": "Size", "classification": "Classification",
    "street": "Street", "postal_code": "Postal code", "region": "Region / state",
    "preferred_channel": "Preferred channel", "do_not_email": "Do not email",
    "do_not_call": "Do not call", "owner_id": "Owner", "team": "Account team",
}  # fmt: skip


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in COMPANY_FIELDS}
    return {**form, "custom": custom_from_form("companies")}


def _get(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_company(tenant_db(), company_id)
    except NotFound:
        abort(404)


def owners() -> list[tuple[str, str]]:
    """(user id, name) of the workspace's members, for owner and team pickers."""
    return [
        (str(user.id), user.name or user.email) for _m, user in members.members_of(g.workspace.id)
    ]


def _form(template: str, status: int = 200, **context):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    company = context.get("company")
    parents = [
        (str(i), name)
        for i, name in queries.company_choices(tenant_db())
        if company is None or i != company.id
    ]
    return render_template(
        template,
        countries=countries(),
        labels=LABELS,
        parents=parents,
        owners=owners(),
        sizes=SIZES,
        classifications=CLASSIFICATIONS,
        channels=CHANNELS,
        **context,
    ), status


def list_spec() -> listing.ListSpec:
    """The companies list: its default columns and sort, and how a row links to its company."""
    return listing.ListSpec(
        record_type="companies",
        endpoint="companies.index",
        routes="companies.list",
        singular="company",
        plural="companies",
        title_column="name",
        detail=lambda company: url_for("companies.detail", company_id=company.id),
        default_columns=("name", "domain", "city", "country", "owner_id", "created_at",
                         "updated_at"),
        default_sort="name",
        search=lambda q: search_queries.record_filter("companies", q),
        search_placeholder="Search companies by name, domain or city",
        labels={**LABELS, "parent_id": "Parent company"},
        formats={"industry": lambda value: picklists.label(tenant_db(), "industry", value)},
    )  # fmt: skip


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return listing.render_list(list_spec(), "companies/index.html")


listing.add_routes(bp, list_spec)


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form = {"owner_id": str(g.membership.user_id), "parent_id": request.args.get("parent_id")}
    return _form("companies/form.html", form=form, company=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        company = services.create_company(tenant_db(), form)
    except ValidationFailed as exc:
        return _form("companies/form.html", 422, form=form, company=None, errors=exc.errors)
    flash(f"Company “{company.name}” created.", "success")
    return redirect(url_for(".detail", company_id=company.id), 303)


def _detail(company, status: int = 200, errors: dict | None = None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    names = dict(owners())
    return render_template(
        "companies/detail.html",
        company=company,
        contacts=queries.company_contacts(session, company.id),
        linked=queries.linked_contacts(session, company.id),
        ancestors=queries.ancestors(session, company),
        children=queries.children(session, company.id),
        team=queries.team(session, company.id),
        member_names=names,
        owners=owners(),
        owner=names.get(str(company.owner_id)) if company.owner_id else None,
        labels=LABELS,
        country_names=dict(countries()),
        sizes=dict(SIZES),
        classifications=dict(CLASSIFICATIONS),
        channels=dict(CHANNELS),
        errors=errors or {},
    ), status


@bp.get("/<uuid:company_id>")
def detail(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_get(company_id))


@bp.post("/<uuid:company_id>/team")
def add_team_member(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    form = {"user_id": request.form.get("user_id", ""), "role": request.form.get("role", "")}
    try:
        services.add_team_member(tenant_db(), company.id, form)
    except ValidationFailed as exc:
        return _detail(company, 422, errors=exc.errors)
    except Conflict as exc:
        return _detail(company, 409, errors={"user_id": [exc.message]})
    flash("Added to the account team.", "success")
    return redirect(url_for(".detail", company_id=company.id), 303)


@bp.post("/<uuid:company_id>/team/<uuid:member_id>/remove")
def remove_team_member(company_id: uuid.UUID, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    try:
        services.remove_team_member(tenant_db(), company.id, member_id)
    except NotFound:
        abort(404)
    flash("Removed from the account team.", "success")
    return redirect(url_for(".detail", company_id=company.id), 303)


@bp.get("/<uuid:company_id>/edit")
def edit(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    form = {name: getattr(company, name) for name in COMPANY_FIELDS}
    form["custom"] = company.custom
    for key in ("parent_id", "owner_id"):
        form[key] = str(form[key]) if form[key] else ""
    return _form("companies/form.html", form=form, company=company)


@bp.post("/<uuid:company_id>/edit")
def update(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    form = _form_data()
    try:
        services.update_company(tenant_db(), company.id, form)
    except ValidationFailed as exc:
        return _form("companies/form.html", 422, form=form, company=company, errors=exc.errors)
    flash("Changes saved.", "success")
    return redirect(url_for(".detail", company_id=company.id), 303)


@bp.get("/<uuid:company_id>/delete")
def confirm_delete(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    contacts = queries.count_contacts(tenant_db(), company.id)
    return render_template("companies/delete.html", company=company, contacts=contacts)


@bp.post("/<uuid:company_id>/delete")
def delete(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    name = company.name
    kept = services.delete_company(tenant_db(), company.id)
    message = f"Company “{name}” deleted."
    if kept == 1:
        message += " Its contact remains, without a company."
    elif kept:
        message += f" Its {kept} contacts remain, without a company."
    flash(message, "success")
    return redirect(url_for(".index"), 303)
