"""The per-tenant OpenAPI document, served to a key at ``GET /api/v1/openapi.json``.

The shared part is built once from the registered resources; each request copies it and lets the
hooks in ``DOCUMENT_HOOKS`` shape it for the key's tenant (custom fields as typed properties,
disabled modules removed), so those features plug in without touching this module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify

from rapport.api import idempotency
from rapport.api.auth import api_blueprint
from rapport.api.records import add_filter_parameters
from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import current_tenant, tenant_db

Document = dict[str, Any]


def _custom_fields(document: Document, _tenant: TenantRef) -> None:
    from rapport.tenants.fields.openapi import describe

    describe(document, tenant_db())


def _picklists(document: Document, _tenant: TenantRef) -> None:
    from rapport.tenants.picklists.openapi import describe

    describe(document, tenant_db())


def _modules(document: Document, _tenant: TenantRef) -> None:
    """Leave out the operations of switched-off modules."""
    from rapport.tenants.modules import services as modules
    from rapport.tenants.modules.catalog import MODULES

    session = tenant_db()
    gone = {
        name.removeprefix(BLUEPRINT_PREFIX)
        for module in MODULES
        if not modules.is_enabled(session, module.key)
        for name in module.api_blueprints
    }
    if not gone:
        return
    paths = document.get("paths", {})
    for path in list(paths):
        operations = paths[path]
        for method in list(operations):
            operation = operations[method]
            if isinstance(operation, dict) and set(operation.get("tags", ())) & gone:
                del operations[method]
        if not any(isinstance(o, dict) and "responses" in o for o in operations.values()):
            del paths[path]
    document["tags"] = [t for t in document.get("tags", []) if t["name"] not in gone]


def _hidden_fields(document: Document, _tenant: TenantRef) -> None:
    """Leave out the properties the key's role may not see or set."""
    from rapport.tenants import records
    from rapport.tenants.roles import access

    session = tenant_db()
    schemas = document.get("components", {}).get("schemas", {})
    for kind in records.all_types():
        hidden = access.hidden(session, kind.name)
        if not hidden or not kind.components:
            continue
        for component in kind.components:
            schema = schemas.get(component, {})
            properties = schema.get("properties", {})
            custom = properties.get("custom", {}).get("properties", {})
            for name in hidden:
                properties.pop(name, None)
                custom.pop(name, None)
            if "required" in schema:
                schema["required"] = [r for r in schema["required"] if r not in hidden]


#: Called in order with (document, tenant); each may change the document in place.
DOCUMENT_HOOKS: list[Callable[[Document, TenantRef], None]] = [
    _custom_fields,
    _picklists,
    _modules,
    _hidden_fields,
]
BLUEPRINT_PREFIX = "api_"

blp = api_blueprint("api_meta", __name__, url_prefix="/api/v1")


def base_document() -> Document:
    """The document every tenant starts from (cached per application)."""
    cached = current_app.extensions.get("rapport.api_document")
    if cached is None:
        api = current_app.extensions["rapport.api"]
        cached = _tidy(api.spec.to_dict())
        current_app.extensions["rapport.api_document"] = cached
    return cached


def _tidy(document: Document) -> Document:
    idempotency.document(document)
    add_filter_parameters(document)
    # smorest tags operations with the blueprint's name; integrators should read "companies".
    for tag in document.get("tags", []):
        tag["name"] = tag["name"].removeprefix(BLUEPRINT_PREFIX)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "tags" in operation:
                operation["tags"] = [t.removeprefix(BLUEPRINT_PREFIX) for t in operation["tags"]]
    return document


def document_for(tenant: TenantRef) -> Document:
    """This tenant's document."""
    document = copy.deepcopy(base_document())
    document["info"]["x-tenant"] = tenant.slug
    for hook in DOCUMENT_HOOKS:
        hook(document, tenant)
    return document


@blp.route("/openapi.json")
def openapi_json():  # type: ignore[no-untyped-def]
    """The OpenAPI document of the key's tenant"""
    return jsonify(document_for(current_tenant()))
