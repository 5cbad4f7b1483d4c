"""Contacts in the browser: list, create, show (with history), edit, delete."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.queries import company_choices
from rapport.tenants.contacts import queries, services
from rapport.tenants.contacts.schemas import CONTACT_FIELDS
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("contacts", __name__, "/contacts")

LABELS = {
    "first_name": "First name", "last_name": "Last name", "email": "Email", "phone": "Phone",
    "title": "Job title", "company_id": "Company",
}  # fmt: skip


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in CONTACT_FIELDS}
    return {**form, "custom": custom_from_form("contacts")}


def _get(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_contact(tenant_db(), contact_id)
    except NotFound:
        abort(404)


def _form(status: int = 200, **context):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    companies = company_choices(tenant_db())
    return render_template(
        "contacts/form.html", companies=companies, labels=LABELS, **context
    ), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "").strip()[:200]
    page, sort = queries.list_contacts(
        tenant_db(), q=q, sort=request.args.get("sort"), cursor=request.args.get("cursor")
    )
    return render_template(
        "contacts/index.html", page=page, sort=sort, q=q, full_name=queries.full_name
    )


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    return _form(form={"company_id": request.args.get("company_id", "")}, contact=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        contact = services.create_contact(tenant_db(), form)
    except ValidationFailed as exc:
        return _form(422, form=form, contact=None, errors=exc.errors)
    flash(f"Contact “{queries.full_name(contact)}” created.", "success")
    return redirect(url_for(".detail", contact_id=contact.id), 303)


@bp.get("/<uuid:contact_id>")
def detail(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    contact = _get(contact_id)
    entries = queries.contact_history(session, contact.id)
    return render_template(
        "contacts/detail.html",
        contact=contact,
        name=queries.full_name(contact),
        company=queries.contact_company(session, contact),
        entries=entries,
        labels=LABELS,
        names={"company_id": queries.company_names_in(session, entries)},
    )


@bp.get("/<uuid:contact_id>/edit")
def edit(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    form = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    form["custom"] = contact.custom
    form["company_id"] = str(contact.company_id) if contact.company_id else ""
    return _form(form=form, contact=contact)


@bp.post("/<uuid:contact_id>/edit")
def update(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    form = _form_data()
    try:
        services.update_contact(tenant_db(), contact.id, form)
    except ValidationFailed as exc:
        return _form(422, form=form, contact=contact, errors=exc.errors)
    flash("Changes saved.", "success")
    return redirect(url_for(".detail", contact_id=contact.id), 303)


@bp.get("/<uuid:contact_id>/delete")
def confirm_delete(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    return render_template("contacts/delete.html", contact=contact, name=queries.full_name(contact))


@bp.post("/<uuid:contact_id>/delete")
def delete(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    name = queries.full_name(contact)
    services.delete_contact(tenant_db(), contact.id)
    flash(f"Contact “{name}” deleted.", "success")
    return redirect(url_for(".index"), 303)
