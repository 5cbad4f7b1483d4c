"""Companies in the browser: list, create, show (with contacts and history), edit, delete."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies import queries, services
from rapport.tenants.companies.schemas import COMPANY_FIELDS, countries
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("companies", __name__, "/companies")

LABELS = {
    "name": "Name", "website": "Website", "domain": "Domain", "industry": "Industry",
    "phone": "Phone", "city": "City", "country": "Country", "notes": "Notes",
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


def _form(template: str, status: int = 200, **context):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    return render_template(template, countries=countries(), labels=LABELS, **context), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "").strip()[:200]
    # custom.<api_name>=value narrows the list on a filterable custom field.
    custom = {
        k.removeprefix("custom."): v
        for k, v in request.args.items()
        if k.startswith("custom.") and v
    }
    try:
        page, sort = queries.list_companies(
            tenant_db(),
            q=q,
            sort=request.args.get("sort"),
            cursor=request.args.get("cursor"),
            custom=custom,
        )
    except ValidationFailed as exc:
        abort(400, description=next(iter(exc.errors.values()))[0])
    return render_template("companies/index.html", page=page, sort=sort, q=q)


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    return _form("companies/form.html", form={}, company=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        company = services.create_company(tenant_db(), form)
    except ValidationFailed as exc:
        return _form("companies/form.html", 422, form=form, company=None, errors=exc.errors)
    flash(f"Company “{company.name}” created.", "success")
    return redirect(url_for(".detail", company_id=company.id), 303)


@bp.get("/<uuid:company_id>")
def detail(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    company = _get(company_id)
    return render_template(
        "companies/detail.html",
        company=company,
        contacts=queries.company_contacts(session, company.id),
        entries=queries.company_history(session, company.id),
        labels=LABELS,
        country_names=dict(countries()),
    )


@bp.get("/<uuid:company_id>/edit")
def edit(company_id: uuid.UUID):  # type: ignore[no-untyped-def]
    company = _get(company_id)
    form = {name: getattr(company, name) for name in COMPANY_FIELDS}
    form["custom"] = company.custom
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
