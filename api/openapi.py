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


#: Called in order with (document, tenant); each may change the document in place.
DOCUMENT_HOOKS: list[Callable[[Document, TenantRef], None]] = [_custom_fields]
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
