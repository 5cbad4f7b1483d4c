"""Saved list views over REST: read them and run them.

A saved view belongs to one person, who may share it with the workspace. A key sees what the
member who created it sees (``ApiKey.created_by``): their own views and the shared ones; a key
made by the CLI has no creator and sees the shared ones. Running a view returns the records page
its filters and sort give, through the same filter machinery as the list endpoints and the key's
role; "me" in a view's filters means the key's creator, as in the browser it means whoever opens
the view (a CLI key, acting for nobody, reads it as the view's owner). Views are
read only here: they are a person's preference, saved where that person works.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.api import activities, companies, contacts, deals, errors, leads
from rapport.api.auth import api_blueprint, current_key
from rapport.api.records import FILTERS_DOC, ListArgs, PageMeta, page_body, record_page
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import filtering, records
from rapport.tenants.paging import SortOption, keyset_page
from rapport.tenants.views.models import SavedView
from rapport.tenants.views.queries import get_view, visible_to

blp = api_blueprint(
    "api_views",
    __name__,
    url_prefix="/api/v1/views",
    description="Saved list views (the key creator's and the shared ones): read and run them.",
)

Represent = Callable[[Session, list[Any]], list[dict[str, Any]]]


def _each(represent: Callable[[Any], dict[str, Any]]) -> Represent:
    return lambda _session, items: [represent(item) for item in items]


def _contacts(session: Session, items: list[Any]) -> list[dict[str, Any]]:
    return [contacts.represent(full) for full in contacts.Full.many(session, items)]


#: How each record type's page is returned (its API representation) and its list's default
#: order. A record type registered later must be added here: running its views answers 422 until.
RECORD_TYPES: dict[str, tuple[Represent, str]] = {
    "companies": (_each(companies.represent), "name"),
    "contacts": (_contacts, "name"),
    "deals": (_each(deals.represent), "-updated_at"),
    "leads": (_each(leads.represent), "-created_at"),
    "activities": (_each(activities.represent), "due_at"),
}


class FilterSchema(ma.Schema):
    field = ma.fields.String(required=True)
    op = ma.fields.String(required=True, metadata={"enum": list(filtering.OPERATORS)})
    value = ma.fields.String(required=True)


class ViewSchema(ma.Schema):
    """A saved view: a record type's list with filters, sort and columns."""

    id = ma.fields.UUID(dump_only=True)
    record_type = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    filters = ma.fields.Function(
        lambda view: [{"field": f, "op": o, "value": v} for f, o, v in view.filters or []],
        metadata={"type": "array", "items": {"$ref": "#/components/schemas/ViewFilter"}},
    )
    sort = ma.fields.String(dump_only=True, allow_none=True)
    columns = ma.fields.List(ma.fields.String(), dump_only=True)
    is_default = ma.fields.Boolean(dump_only=True)
    shared = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Shared with everyone in the workspace."}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ViewListArgs(ListArgs):
    record_type = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=40),
        metadata={"description": "Only the views of this list (companies, contacts…)."},
    )
    sort = ma.fields.String(
        load_default="name", metadata={"description": "name or updated_at; - for descending."}
    )


class ViewRunArgs(ListArgs):
    sort = ma.fields.String(
        load_default=None,
        metadata={"description": "Another order than the view's; prefix - for descending."},
    )


class ViewPageSchema(PageMeta):
    items = ma.fields.List(ma.fields.Nested(ViewSchema), required=True)


class ViewRunSchema(PageMeta):
    """One page of the records a view selects, in the record type's own representation."""

    view_id = ma.fields.UUID(required=True)
    record_type = ma.fields.String(required=True)
    items = ma.fields.List(
        ma.fields.Dict(),
        required=True,
        metadata={"items": {"oneOf": [
            {"$ref": "#/components/schemas/Company"}, {"$ref": "#/components/schemas/Contact"},
            {"$ref": "#/components/schemas/Deal"}, {"$ref": "#/components/schemas/Lead"},
            {"$ref": "#/components/schemas/Activity"},
        ]}},
    )  # fmt: skip


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("ViewFilter", schema=FilterSchema)
    spec.components.schema("View", schema=ViewSchema)
    spec.components.schema("ViewPage", schema=ViewPageSchema)
    spec.components.schema("ViewRun", schema=ViewRunSchema)


def _owner() -> uuid.UUID | None:
    return current_key().created_by


def _view(session: Session, view_id: uuid.UUID) -> SavedView:
    return get_view(session, _owner(), view_id)


@blp.route("")
class Views(MethodView):
    @blp.arguments(ViewListArgs, location="query")
    @blp.response(200, ViewPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List the saved views the key's creator sees: theirs and the shared ones"""
        session = tenant_db()
        stmt = select(SavedView).where(visible_to(_owner()))
        if args["record_type"]:
            stmt = stmt.where(SavedView.record_type == args["record_type"])
        q = (args["q"] or "").strip()
        if q:
            stmt = stmt.where(SavedView.name.icontains(q, autoescape=True))
        keys = {"name": func.lower(SavedView.name), "updated_at": SavedView.updated_at}
        sort = SortOption.parse(args["sort"], tuple(keys), "name")
        page = keyset_page(
            session, stmt, key=keys[sort.key], id_col=SavedView.id, sort=sort,
            cursor=args["cursor"], limit=args["limit"],
        )  # fmt: skip
        return page_body(page, sort, page.items)


@blp.route("/<uuid:view_id>")
@blp.response(200, ViewSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
def view_by_id(view_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Read a saved view"""
    return _view(tenant_db(), view_id)


@blp.route("/<uuid:view_id>/records")
@blp.arguments(ViewRunArgs, location="query")
@blp.doc(**FILTERS_DOC)
@blp.response(200, ViewRunSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def run_view(args: dict[str, Any], view_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Run a saved view: the records its filters select, in its order (filter[...] narrows)"""
    session = tenant_db()
    view = _view(session, view_id)
    known = RECORD_TYPES.get(view.record_type)
    if known is None or not records.exists(view.record_type):
        errors.fail(422, f"Views of {view.record_type} cannot be run through the API.")
    represent, default_sort = known
    try:
        conditions = filtering.parse(
            session, view.record_type, [(str(f), str(o), str(v)) for f, o, v in view.filters]
        )
    except ValidationFailed as exc:
        errors.fail(
            422,
            "This view's filters no longer fit the list's fields; change the view.",
            errors={"view": exc.errors},
        )
    model = records.get(view.record_type).model
    stmt = filtering.apply(
        session, view.record_type, select(model), conditions, me=_owner() or view.user_id
    )
    order = {**args, "sort": args["sort"] or view.sort}
    page, sort = record_page(
        session, view.record_type, stmt, model.id, order, default_sort=default_sort,
        me=view.user_id,
    )  # fmt: skip
    body = page_body(page, sort, represent(session, page.items))
    return {**body, "view_id": view.id, "record_type": view.record_type}
