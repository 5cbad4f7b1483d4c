"""Picklists settings (admins only): one page per list, to add, rename, recolour, reorder, retire
and restore its options. Also the template helpers every page uses to show a picked value."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.picklists import queries, services
from rapport.tenants.picklists.lists import LISTS
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("picklists", __name__, "/settings/picklists")
MEANING_LABELS = {
    "open": "Open (still being worked)",
    "qualified": "Qualified (ready to convert)",
    "disqualified": "Disqualified",
    "converted": "Converted",
}


@bp.app_template_global()
def picklist_label(list_key: str, value: Any) -> str:
    """What a page shows for a stored value: its option's label (retired ones included)."""
    return queries.label(tenant_db(), list_key, value)


@bp.app_template_global()
def picklist_options(list_key: str, current: Any = None) -> list[tuple[str, str]]:
    """(value, label) a form offers: the current options, plus the record's retired one."""
    return queries.pairs(tenant_db(), list_key, current)


@bp.before_request
def _admins_only() -> None:
    require_role(*MANAGERS)


def _list_key(list_key: str) -> str:
    if list_key not in LISTS:
        abort(404)
    return list_key


def _page(list_key: str, status: int = 200, errors: dict[str, Any] | None = None, target: str = ""):  # type: ignore[no-untyped-def]
    session = tenant_db()
    return render_template(
        "picklists/list.html",
        lists=LISTS,
        spec=LISTS[list_key],
        options=queries.options(session, list_key, retired=True),
        meanings=MEANING_LABELS,
        errors=errors or {},
        target=target,
        values=request.form if status != 200 else {},
    ), status


@bp.get("/", endpoint="index")
def index():  # type: ignore[no-untyped-def]
    session = tenant_db()
    counts = {
        key: sum(1 for o in queries.options(session, key, retired=True) if not o.retired)
        for key in LISTS
    }
    return render_template("picklists/index.html", lists=LISTS, counts=counts)


@bp.get("/<list_key>")
def show(list_key: str):  # type: ignore[no-untyped-def]
    return _page(_list_key(list_key))


def _act(list_key: str, operation: Callable[[], Any], success: str, target: str = ""):  # type: ignore[no-untyped-def]
    """Run one service call; 404 for ids of nothing here, the page again with errors (422/409)."""
    try:
        operation()
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        return _page(list_key, 422, exc.errors, target)
    except Conflict as exc:
        return _page(list_key, 409, {"_form": [exc.message]}, target)
    flash(success, "success")
    return redirect(url_for(".show", list_key=list_key), 303)


def _option(list_key: str, option_id: uuid.UUID) -> None:
    """404 unless the option exists and belongs to this list (checked before any change)."""
    try:
        option = queries.get_option(tenant_db(), option_id)
    except NotFound:
        abort(404)
    if option.list_key != list_key:
        abort(404)


@bp.post("/<list_key>")
def add(list_key: str):  # type: ignore[no-untyped-def]
    _list_key(list_key)
    data = {k: request.form.get(k, "") for k in ("label", "value", "colour", "meaning")}
    return _act(
        list_key, lambda: services.add_option(tenant_db(), list_key, data), "Option added.", "new"
    )


@bp.post("/<list_key>/<uuid:option_id>")
def update(list_key: str, option_id: uuid.UUID):  # type: ignore[no-untyped-def]
    _list_key(list_key)
    _option(list_key, option_id)
    keys = ("label", "colour", "meaning") if LISTS[list_key].meanings else ("label", "colour")
    data = {k: request.form.get(k, "") for k in keys}
    return _act(
        list_key,
        lambda: services.update_option(tenant_db(), option_id, data),
        "Option saved.",
        str(option_id),
    )


@bp.post("/<list_key>/<uuid:option_id>/shift")
def shift(list_key: str, option_id: uuid.UUID):  # type: ignore[no-untyped-def]
    _list_key(list_key)
    _option(list_key, option_id)
    offset = -1 if request.form.get("direction") == "up" else 1
    return _act(
        list_key, lambda: services.shift_option(tenant_db(), option_id, offset), "Order saved."
    )


@bp.post("/<list_key>/<uuid:option_id>/retire")
def retire(list_key: str, option_id: uuid.UUID):  # type: ignore[no-untyped-def]
    _list_key(list_key)
    _option(list_key, option_id)
    return _act(
        list_key,
        lambda: services.retire_option(tenant_db(), option_id),
        "Option retired: records that have it keep it; it is no longer offered.",
    )


@bp.post("/<list_key>/<uuid:option_id>/restore")
def restore(list_key: str, option_id: uuid.UUID):  # type: ignore[no-untyped-def]
    _list_key(list_key)
    _option(list_key, option_id)
    return _act(
        list_key, lambda: services.restore_option(tenant_db(), option_id), "Option restored."
    )
