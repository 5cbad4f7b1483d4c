"""Contacts in the browser: list, create, show (with its timeline), edit, delete."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.queries import company_choices
from rapport.tenants.contacts import queries, services
from rapport.tenants.contacts.schemas import CONTACT_FIELDS
from rapport.tenants.search import queries as search_queries
from rapport.web import listing
from rapport.web.views.companies import owners
from rapport.web.views.fields import custom_from_form
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("contacts", __name__, "/contacts")

LABELS = {
    "first_name": "First name", "last_name": "Last name", "email": "Email", "phone": "Phone",
    "title": "Job title", "company_id": "Company", "department": "Department",
    "do_not_call": "Do not call", "do_not_email": "Do not email", "owner_id": "Owner",
    "other_emails": "Other emails", "other_phones": "Other phones",
    "other_companies": "Other companies",
}  # fmt: skip


def _rows(values: list[str], labels: list[str], key: str) -> list[dict[str, Any]]:
    return [
        {key: value, "label": labels[i] if i < len(labels) else ""}
        for i, value in enumerate(values)
        if value.strip()
    ]


def _form_data() -> dict[str, Any]:
    """Only the fields of the form: anything else a browser sends is not ours to store."""
    form: dict[str, Any] = {name: request.form.get(name, "") for name in CONTACT_FIELDS}
    get = request.form.getlist
    form["other_emails"] = _rows(get("other_email"), get("other_email_label"), "email")
    form["other_phones"] = _rows(get("other_phone"), get("other_phone_label"), "phone")
    roles = get("link_role")
    form["links"] = [
        {"company_id": cid, "role": roles[i] if i < len(roles) else ""}
        for i, cid in enumerate(get("link_company"))
        if cid
    ]
    return {**form, "custom": custom_from_form("contacts")}


def _input(form: dict[str, Any]) -> dict[str, Any]:
    """The service's input: the primary email and phone first in their lists, then the others."""
    data = {k: v for k, v in form.items() if k not in ("other_emails", "other_phones", "links")}
    for key, others in (("email", form["other_emails"]), ("phone", form["other_phones"])):
        primary = [{key: form[key], "is_primary": True}] if form.get(key) else []
        data[f"{key}s"] = primary + others
    data["companies"] = form["links"]
    return data


def _errors(form: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Errors of the primary email / phone shown next to those fields, not in the lists."""
    out = dict(errors)
    for key in ("email", "phone"):
        item = f"{key}s.0.{key}"
        if form.get(key) and item in out:
            out[key] = out.pop(item)
    return out


def _get(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_contact(tenant_db(), contact_id)
    except NotFound:
        abort(404)


def _form(status: int = 200, **context):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    companies = company_choices(tenant_db())
    return render_template(
        "contacts/form.html", companies=companies, labels=LABELS, owners=owners(), **context
    ), status


def list_spec() -> listing.ListSpec:
    """The contacts list: by name (last, first) unless the person sorts otherwise."""
    return listing.ListSpec(
        record_type="contacts",
        endpoint="contacts.index",
        routes="contacts.list",
        singular="contact",
        plural="contacts",
        title_column="name",
        detail=lambda contact: url_for("contacts.detail", contact_id=contact.id),
        default_columns=("name", "email", "company_id", "title", "created_at", "updated_at"),
        default_sort="name",
        # The search index, not a substring scan of every contact (see bench/README.md).
        search=lambda q: search_queries.record_filter("contacts", q),
        search_placeholder="Search contacts by name, email or title",
        extras=(listing.Extra("name", "Name", queries.full_name),),
        labels=LABELS,
    )


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return listing.render_list(list_spec(), "contacts/index.html")


listing.add_routes(bp, list_spec)


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    form = {"company_id": request.args.get("company_id", ""), "owner_id": str(g.membership.user_id)}
    return _form(form=form, contact=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    try:
        contact = services.create_contact(tenant_db(), _input(form))
    except ValidationFailed as exc:
        return _form(422, form=form, contact=None, errors=_errors(form, exc.errors))
    flash(f"Contact “{queries.full_name(contact)}” created.", "success")
    return redirect(url_for(".detail", contact_id=contact.id), 303)


@bp.get("/<uuid:contact_id>")
def detail(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    contact = _get(contact_id)
    return render_template(
        "contacts/detail.html",
        contact=contact,
        name=queries.full_name(contact),
        company=queries.contact_company(session, contact),
        other_companies=queries.other_companies(session, contact.id),
        emails=queries.emails_of(session, contact),
        phones=queries.phones_of(session, contact),
        may_email=queries.can_email(contact),
        may_call=queries.can_call(contact),
        owner=dict(owners()).get(str(contact.owner_id)) if contact.owner_id else None,
        labels=LABELS,
    )


@bp.get("/<uuid:contact_id>/edit")
def edit(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    form = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    form["custom"] = contact.custom
    form["company_id"] = str(contact.company_id) if contact.company_id else ""
    form["owner_id"] = str(contact.owner_id) if contact.owner_id else ""
    session = tenant_db()
    form["other_emails"] = [
        {"email": r.email, "label": r.label} for r in queries.emails_of(session, contact)
        if not r.is_primary
    ]  # fmt: skip
    form["other_phones"] = [
        {"phone": r.phone, "label": r.label} for r in queries.phones_of(session, contact)
        if not r.is_primary
    ]  # fmt: skip
    form["links"] = [
        {"company_id": str(c.id), "role": role}
        for c, role in queries.other_companies(session, contact.id)
    ]
    return _form(form=form, contact=contact)


@bp.post("/<uuid:contact_id>/edit")
def update(contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
    contact = _get(contact_id)
    form = _form_data()
    try:
        services.update_contact(tenant_db(), contact.id, _input(form))
    except ValidationFailed as exc:
        return _form(422, form=form, contact=contact, errors=_errors(form, exc.errors))
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
