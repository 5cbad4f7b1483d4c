"""The list views of every record type: filter bar, sort, columns, keyset paging, saved views, CSV.

A list module declares a :class:`ListSpec` and calls :func:`add_routes`, which adds the routes a
list needs to its blueprint (the list itself, its CSV export, saving and deleting views). What a
list shows comes from the query string, so every state is a link people can share or bookmark:

``ff`` / ``fo`` / ``fv``  repeated: a filter's field, operator and value (tenants.filtering)
``sort``                  a field, ``-`` first for descending
``col``                   repeated: the columns shown, in order
``q``                     the list's own quick search
``view``                  a saved view of the user's; its filters, sort and columns apply unless
                          ``applied`` says the person changed them on the page
``cursor``                the keyset position

With none of these, the user's default view applies, or else the list's defaults. The CSV export
takes the same arguments and writes exactly the rows (all of them), columns and order shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from rapport.platform.db import TenantBase
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import filtering, records
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.fields import lookup
from rapport.tenants.fields.validation import display
from rapport.tenants.paging import Page, SortOption, keyset_page
from rapport.tenants.roles import access
from rapport.tenants.views import export, queries, services
from rapport.tenants.views.models import SavedView
from rapport.web import timezones

MAX_Q = 200
#: The list counts its rows up to this many, then says "10,000+": an exact count reads every
#: matching row on every page, the largest cost of a page over a big tenant.
COUNT_CAP = 10_000
#: The ``owner`` shortcut's value for records nobody owns.
UNASSIGNED = "unassigned"


@dataclasses.dataclass(frozen=True)
class Extra:
    """A column that is not one field (a contact's full name): shown, sortable if sort_key knows
    it, never a filter."""

    key: str
    label: str
    value: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class ListSpec:
    """How one record type's list looks by default and links to its records."""

    record_type: str
    endpoint: str  # the list's endpoint, "companies.index"
    routes: str  # the prefix of the endpoints add_routes made: "companies.list"
    singular: str
    plural: str
    title_column: str  # the column whose cell links to the record
    detail: Callable[[Any], str]  # the record's page
    default_columns: tuple[str, ...]
    default_sort: str
    search: Callable[[str], ColumnElement[bool]] | None = None
    search_placeholder: str = "Search"
    extras: tuple[Extra, ...] = ()
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Narrows the base statement from other query arguments (the deals list's ``status``).
    legacy_filters: Callable[[], list[tuple[str, str, str]]] | None = None
    #: How a built-in column's stored value reads, by column key (a status's label).
    formats: dict[str, Callable[[Any], str]] = dataclasses.field(default_factory=dict)

    @property
    def model(self) -> Any:
        return records.get(self.record_type).model


@dataclasses.dataclass(frozen=True)
class ColumnDef:
    key: str
    label: str
    kind: str
    sortable: bool
    field: filtering.FilterField | None = None
    extra: Extra | None = None


@dataclasses.dataclass
class ListState:
    """What the person asked the list to show."""

    filters: list[tuple[str, str, str]]
    sort: str
    columns: list[str]
    q: str
    view: SavedView | None = None
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def args(self, **overrides: Any) -> dict[str, Any]:
        """The query arguments that show this state (for links and forms)."""
        args: dict[str, Any] = {
            "applied": 1,
            "ff": [f for f, _o, _v in self.filters],
            "fo": [o for _f, o, _v in self.filters],
            "fv": [v for _f, _o, v in self.filters],
            "sort": self.sort,
            "col": list(self.columns),
            "q": self.q or None,
            "view": self.view.id if self.view is not None else None,
        }
        args.update(overrides)
        return args


# -- reading the state -----------------------------------------------------------------------------
def _user_id() -> uuid.UUID:
    return g.membership.user_id


def columns_of(session: Session, spec: ListSpec) -> dict[str, ColumnDef]:
    """Every column the list can show, by key: its extras, the record's fields, custom fields."""
    out: dict[str, ColumnDef] = {}
    for extra in spec.extras:
        sortable = filtering.sortable(session, spec.record_type, extra.key)
        out[extra.key] = ColumnDef(extra.key, extra.label, "text", sortable, extra=extra)
    for field in filtering.available_fields(session, spec.record_type):
        label = spec.labels.get(field.key, field.label)
        out[field.key] = ColumnDef(field.key, label, field.kind, True, field=field)
    return out


def _state_from_view(spec: ListSpec, view: SavedView) -> ListState:
    filters = [(str(f), str(o), str(v)) for f, o, v in view.filters or []]
    columns = list(view.columns or spec.default_columns)
    return ListState(filters, view.sort or spec.default_sort, columns, "", view)


def read_state(session: Session, spec: ListSpec) -> ListState:
    """The list's state from the query string, a saved view, or the defaults."""
    args = request.args
    view: SavedView | None = None
    if args.get("view"):
        try:
            view = queries.get_view(session, _user_id(), args["view"], spec.record_type)
        except NotFound:
            abort(404)
    elif not args.get("applied") and not args.get("q") and not args.get("sort"):
        view = queries.default_view(session, _user_id(), spec.record_type)
    if view is not None and not args.get("applied"):
        state = _state_from_view(spec, view)
    else:
        fields, ops, values = args.getlist("ff"), args.getlist("fo"), args.getlist("fv")
        filters = []
        for index, key in enumerate(fields[: services.MAX_FILTERS]):
            op = ops[index] if index < len(ops) else "eq"
            value = values[index] if index < len(values) else ""
            # A row left blank in the filter bar is no filter.
            if key and (value.strip() or op == "is_null"):
                filters.append((key, op, value))
        columns = [c for c in args.getlist("col") if c][: services.MAX_COLUMNS]
        state = ListState(
            filters,
            args.get("sort") or spec.default_sort,
            columns or list(spec.default_columns),
            "",
            view,
        )
    # The "my records", "unassigned" and owner shortcuts are filters like any other.
    owner = filtering.ME if args.get("mine") else args.get("owner", "").strip()
    shortcut = ("owner_id", "is_null", "yes") if owner == UNASSIGNED else ("owner_id", "eq", owner)
    if owner and shortcut not in state.filters:
        state.filters.append(shortcut)
    if spec.legacy_filters is not None:
        state.filters += spec.legacy_filters()
    state.q = plain_text(args.get("q", "")).strip()[:MAX_Q]
    return state


def _checked(session: Session, spec: ListSpec, state: ListState) -> list[filtering.Condition]:
    """The filters that hold up; each one that does not is reported and left out."""
    conditions = []
    for item in state.filters:
        try:
            conditions += filtering.parse(session, spec.record_type, [item])
        except ValidationFailed as exc:
            for key, messages in exc.errors.items():
                state.errors.setdefault(key, []).extend(messages)
    return conditions


def _order(session: Session, spec: ListSpec, state: ListState) -> tuple[SortOption, Any]:
    token = state.sort
    if not filtering.sortable(session, spec.record_type, token):
        state.errors.setdefault("sort", []).append("There is no such field to sort by.")
        token = spec.default_sort
    state.sort = token
    option = SortOption(token.lstrip("-"), token.startswith("-"))
    return option, filtering.sort_key(session, spec.record_type, option.key)


def statement(session: Session, spec: ListSpec, state: ListState) -> Select[Any]:
    """The rows the state selects, unordered."""
    stmt = select(spec.model)
    if state.q and spec.search is not None:
        stmt = stmt.where(spec.search(state.q))
    return filtering.apply(
        session, spec.record_type, stmt, _checked(session, spec, state), me=_user_id()
    )


# -- showing values --------------------------------------------------------------------------------
def _model_of_table(table: Any) -> Any:
    for mapper in TenantBase.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


class Cells:
    """Turns records into the text of their cells, with the names behind ids looked up in bulk."""

    def __init__(
        self,
        session: Session,
        columns: Sequence[ColumnDef],
        formats: dict[str, Callable[[Any], str]] | None = None,
    ) -> None:
        self.session = session
        self.columns = columns
        self.formats = formats or {}
        self._members: dict[str, str] | None = None
        self._names: dict[str, dict[str, str]] = {}

    def members(self) -> dict[str, str]:
        if self._members is None:
            self._members = {
                str(user.id): user.name or user.email
                for _m, user in members.members_of(g.workspace.id)
            }
        return self._members

    def prepare(self, rows: Sequence[Any]) -> None:
        """Load the names of the records the rows point at (companies, stages, lookups...)."""
        for column in self.columns:
            field = column.field
            if field is not None and field.custom is not None and field.custom.type == "lookup":
                self._prepare_lookup(column.key, field.custom, rows)
                continue
            if field is None or field.column is None or field.kind != "uuid":
                continue
            (col,) = field.column.property.columns
            fks = list(col.foreign_keys)
            if not fks:
                continue
            target = _model_of_table(fks[0].column.table)
            if target is None or not hasattr(target, "name"):
                continue
            ids = {getattr(r, field.key) for r in rows} - {None}
            ids -= {uuid.UUID(k) for k in self._names.get(column.key, {})}
            if ids:
                found = self.session.execute(
                    select(target.id, target.name).where(target.id.in_(ids))
                ).all()
                names = self._names.setdefault(column.key, {})
                names.update({str(i): n for i, n in found})

    def _prepare_lookup(self, key: str, custom: Any, rows: Sequence[Any]) -> None:
        names = self._names.setdefault(key, {})
        ids = {str(v) for r in rows if (v := (r.custom or {}).get(custom.api_name))} - set(names)
        if ids:
            names.update(lookup.labels(self.session, lookup.target_of(custom), ids))

    def text(self, record: Any, column: ColumnDef) -> str:
        if column.extra is not None:
            return _plain(column.extra.value(record))
        field = column.field
        assert field is not None
        if field.custom is not None:
            value = (record.custom or {}).get(field.custom.api_name)
            if value is None or value == []:
                return ""
            if field.custom.type == "user":
                return self.members().get(str(value), str(value))
            if field.custom.type == "lookup":
                return self._names.get(column.key, {}).get(str(value), lookup.DELETED)
            return display(field.custom, value)
        value = getattr(record, field.key)
        if value is None:
            return ""
        if field.key == "owner_id":
            return self.members().get(str(value), "a former member")
        if field.kind == "uuid":
            return self._names.get(field.key, {}).get(str(value), str(value))
        if field.key in self.formats:
            return self.formats[field.key](value)
        return _plain(value)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return timezones.localtime(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# -- the routes ------------------------------------------------------------------------------------
def _chosen_columns(available: dict[str, ColumnDef], state: ListState) -> list[ColumnDef]:
    chosen = [available[key] for key in state.columns if key in available]
    unknown = [key for key in state.columns if key not in available]
    if unknown:
        state.errors.setdefault("columns", []).append(f"No longer available: {', '.join(unknown)}.")
    if not chosen:
        chosen = [available[k] for k in ("name", "created_at") if k in available]
    return chosen


def render_list(spec: ListSpec, template: str = "views/list.html", **context: Any) -> Any:
    """The list page of ``spec``."""
    session = tenant_db()
    state = read_state(session, spec)
    available = columns_of(session, spec)
    columns = _chosen_columns(available, state)
    order, key = _order(session, spec, state)
    stmt = statement(session, spec, state)
    page: Page[Any] = keyset_page(
        session,
        stmt,
        key=key,
        id_col=spec.model.id,
        sort=order,
        cursor=request.args.get("cursor"),
        count_cap=COUNT_CAP,
    )
    cells = Cells(session, columns, spec.formats)
    cells.prepare(page.items)
    rows = [(record, [cells.text(record, c) for c in columns]) for record in page.items]
    views = queries.views_for(session, _user_id(), spec.record_type)
    owners = sorted(cells.members().items(), key=lambda item: item[1].lower())
    filterable = [c for c in available.values() if c.field is not None]
    return render_template(
        template,
        spec=spec,
        state=state,
        page=page,
        order=order,
        columns=columns,
        available=list(available.values()),
        filterable=filterable,
        rows=rows,
        views=views,
        me=_user_id(),
        owners=owners,
        operators=filtering.OPERATOR_LABELS,
        kind_operators=filtering.KIND_OPERATORS,
        **context,
    )


def export_csv(spec: ListSpec) -> Response:
    """Every row of the current view as CSV: its columns, in its order, streamed."""
    session = tenant_db()
    if not access.can(session, spec.record_type, "export"):
        abort(403, description=f"Your role may not export {spec.record_type}.")
    state = read_state(session, spec)
    columns = _chosen_columns(columns_of(session, spec), state)
    _order_option, key = _order(session, spec, state)
    desc = state.sort.startswith("-")
    stmt = statement(session, spec, state)
    if state.errors.keys() - {"columns"}:
        # Never export something other than what the person asked for.
        abort(400, description="; ".join(m for ms in state.errors.values() for m in ms))
    ordered = stmt.order_by(
        key.desc() if desc else key.asc(),
        spec.model.id.desc() if desc else spec.model.id.asc(),
    )
    cells = Cells(session, columns, spec.formats)
    cells.members()  # read from the control plane now, before the response starts
    timezones.zone()  # likewise the viewer's zone (the rows are written after the request)

    def rows() -> Iterator[list[str]]:
        # The request's boundary has already ended the session's transaction by the time the
        # body streams; this read-only one is the stream's own, and the stream ends it.
        try:
            result = session.execute(ordered.execution_options(yield_per=export.BATCH))
            for batch in result.scalars().partitions():
                cells.prepare(batch)
                for record in batch:
                    yield [cells.text(record, c) for c in columns]
        finally:
            session.rollback()
            session.close()

    lines = export.csv_lines([c.label for c in columns], rows())
    name = f"{spec.record_type}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _posted_state(spec: ListSpec) -> dict[str, Any]:
    form = request.form
    filters = [
        [f, o, v]
        for f, o, v in zip(form.getlist("ff"), form.getlist("fo"), form.getlist("fv"), strict=False)
        if f
    ]
    return {
        "name": form.get("name", ""),
        "filters": filters,
        "sort": form.get("sort") or spec.default_sort,
        "columns": [c for c in form.getlist("col") if c],
        "is_default": form.get("is_default") == "on",
        "shared": form.get("shared") == "on",
        "extra_columns": [e.key for e in spec.extras],
    }


def save_view(spec: ListSpec) -> Any:
    data = _posted_state(spec)
    try:
        view = services.save_view(tenant_db(), _user_id(), spec.record_type, data)
    except ValidationFailed as exc:
        flash(
            "The view was not saved: " + " ".join(m for ms in exc.errors.values() for m in ms),
            "error",
        )
        return redirect(url_for(spec.endpoint), 303)
    flash(f"View “{view.name}” saved.", "success")
    return redirect(url_for(spec.endpoint, view=view.id), 303)


def delete_view(spec: ListSpec, view_id: uuid.UUID) -> Any:
    try:
        name = services.delete_view(tenant_db(), _user_id(), view_id)
    except NotFound:
        abort(404)
    flash(f"View “{name}” deleted.", "success")
    return redirect(url_for(spec.endpoint, applied=1), 303)


def add_routes(
    bp: Blueprint, spec_factory: Callable[[], ListSpec], base: str = "", name: str = "list"
) -> None:
    """Add the export and saved-view routes of a list to its blueprint, under ``base``.

    Their endpoints are ``<blueprint>.<name>_export``, ``_save_view`` and ``_delete_view``: the
    spec's ``routes`` is ``<blueprint>.<name>``.
    """

    def export_route():  # type: ignore[no-untyped-def]
        return export_csv(spec_factory())

    def save_route():  # type: ignore[no-untyped-def]
        return save_view(spec_factory())

    def delete_route(view_id: uuid.UUID):  # type: ignore[no-untyped-def]
        return delete_view(spec_factory(), view_id)

    bp.add_url_rule(f"{base}/export.csv", f"{name}_export", export_route, methods=["GET"])
    bp.add_url_rule(f"{base}/views", f"{name}_save_view", save_route, methods=["POST"])
    bp.add_url_rule(
        f"{base}/views/<uuid:view_id>/delete",
        f"{name}_delete_view",
        delete_route,
        methods=["POST"],
    )
