"""Search in the browser: the results page, the top bar's suggestions, and the timeline panel.

``init_app`` also wires what every page needs from this feature: the search index's session hook
(so every flush keeps the index current) and the ``timeline(...)`` template global that the
detail pages' timeline panel reads.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, current_app, jsonify, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.search import index
from rapport.tenants.search import queries as search_queries
from rapport.tenants.search.documents import searchable_types
from rapport.tenants.search.tokens import QueryTerm
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("search", __name__, "/search")

PER_PAGE = 20
MAX_PAGE = 50
SUGGESTIONS = 8

#: Record type → (detail endpoint, its id argument).
DETAIL = {
    "companies": ("companies.detail", "company_id"),
    "contacts": ("contacts.detail", "contact_id"),
    "deals": ("deals.detail", "deal_id"),
    "leads": ("leads.detail", "lead_id"),
}


def record_url(record_type: str, record_id: uuid.UUID) -> str | None:
    """The page of a record, if that record type's page exists in this deployment."""
    endpoint, arg = DETAIL.get(record_type, (None, None))
    if endpoint is None or endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **{arg: record_id})
    except BuildError:  # the page exists but takes other arguments: show the hit unlinked
        return None


def type_labels() -> dict[str, str]:
    labels = records.labels()
    return {name: labels.get(name, name.title()) for name in searchable_types()}


def singular(record_type: str) -> str:
    try:
        return records.get(record_type).singular.capitalize()
    except KeyError:
        return record_type


def highlight(text: str | None, terms: list[QueryTerm]) -> Markup:
    """``text`` escaped, with the parts the query matched in ``<mark>``."""
    if not text:
        return Markup("")
    patterns = sorted({re.escape(t.token) for t in terms if t.token}, key=len, reverse=True)
    if not patterns:
        return escape(text)
    # Words match at their start (prefix search); CJK pairs anywhere.
    regex = re.compile("|".join(patterns), re.IGNORECASE)
    out, last = [], 0
    for match in regex.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>%s</mark>") % text[match.start() : match.end()])
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _selected_types() -> list[str]:
    known = searchable_types()
    return [t for t in request.args.getlist("type") if t in known]


@bp.get("/")
def index_page():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "").strip()[: search_queries.MAX_QUERY]
    types = _selected_types()
    try:
        page = min(max(1, int(request.args.get("page", 1))), MAX_PAGE)
    except ValueError:
        page = 1
    session = tenant_db()
    results = search_queries.search(
        session, q, types=types, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    context = search_queries.describe(session, results.hits)
    hits = [
        {
            "hit": hit,
            "url": record_url(hit.record_type, hit.record_id),
            "context": context.get(hit.record_id),
        }
        for hit in results.hits
        if hit.record_id in context
    ]
    return render_template(
        "search/index.html",
        q=q,
        results=results,
        hits=hits,
        types=types,
        labels=type_labels(),
        singular=singular,
        highlight=highlight,
        page=page,
        per_page=PER_PAGE,
        has_next=results.more and page < MAX_PAGE,
    )


@bp.get("/suggest")
def suggest():  # type: ignore[no-untyped-def]
    """The top hits as JSON, for the search box's list of suggestions."""
    q = request.args.get("q", "").strip()[: search_queries.MAX_QUERY]
    session = tenant_db()
    results = search_queries.search(session, q, limit=SUGGESTIONS, with_counts=False)
    context = search_queries.describe(session, results.hits)
    items = []
    for hit in results.hits:
        if hit.record_id not in context:
            continue
        items.append(
            {
                "type": hit.record_type,
                "type_label": singular(hit.record_type),
                "title": hit.title,
                "subtitle": context[hit.record_id] or hit.subtitle,
                "url": record_url(hit.record_type, hit.record_id),
            }
        )
    more_url = url_for(".index_page", q=q) if q else None
    return jsonify(query=q, items=items, all_results_url=more_url)


def init_app(app: Flask) -> None:
    """Keep the search index current on every tenant flush; give templates the timeline."""
    index.install_hook()
    app.jinja_env.globals.update(timeline=timeline_for)


# -- the timeline panel of the detail pages ------------------------------------------------------
TIMELINE_STEP = 20


def _here(**changes: object) -> str:
    """This page's address with some query parameters changed (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value if isinstance(value, list) else [value]  # type: ignore[assignment]
    return url_for(request.endpoint or "home.index", **(request.view_args or {}), **args) + (
        "#timeline"
    )


def timeline_for(record_type: str, record_id: uuid.UUID | str) -> dict[str, object]:
    """What ``timeline/_panel.html`` shows for one record on the current page."""
    from rapport.tenants.timeline import queries as timeline_queries

    try:
        limit = int(request.args.get("timeline_limit", TIMELINE_STEP))
    except ValueError:
        limit = TIMELINE_STEP
    kinds = [k for k in request.args.getlist("timeline_kind") if k]
    key = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id))
    result = timeline_queries.timeline(tenant_db(), record_type, key, kinds=kinds, limit=limit)
    entries = []
    for entry in result.entries:
        url = entry.url
        if url is None and entry.meta.get("record_type") and entry.meta.get("record_id"):
            url = record_url(
                str(entry.meta["record_type"]), uuid.UUID(str(entry.meta["record_id"]))
            )
        entries.append({"entry": entry, "url": url})
    filters = [{"kind": None, "label": "Everything", "url": _here(timeline_kind=None,
               timeline_limit=None), "active": not result.selected}]  # fmt: skip
    for kind, label in result.kinds.items():
        filters.append(
            {
                "kind": kind,
                "label": label,
                "url": _here(timeline_kind=kind, timeline_limit=None),
                "active": result.selected == [kind],
            }
        )
    return {
        "record_type": record_type,
        "record_id": key,
        "entries": entries,
        "filters": filters,
        "kinds": result.kinds,
        "selected": result.selected,
        "more_url": _here(timeline_limit=str(result.limit + TIMELINE_STEP))
        if result.more
        else None,
    }
