"""Batch create and update: up to 100 companies or contacts per call, each with its own result.

Every item runs in its own SAVEPOINT, so an item that fails (invalid, missing) is undone alone and
the others stay; the request then commits once. The answer is a multi-status body with HTTP 200:
one ``{index, status, id?, message?, errors?}`` per item, in the order sent, where ``status`` is
what the single-record call would have answered (201 created, 200 updated, 404, 409, 422).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.platform.errors import DomainError, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.schemas import load
from rapport.tenants.contacts import services as contact_services

MAX_ITEMS = 100

blp = api_blueprint(
    "api_batch",
    __name__,
    url_prefix="/api/v1",
    description=f"Create or update up to {MAX_ITEMS} records per call.",
)


class BatchSchema(ma.Schema):
    """The items to write: an item with ``id`` updates that record, one without creates one."""

    items = ma.fields.List(
        ma.fields.Dict(keys=ma.fields.String()),
        required=True,
        validate=ma.validate.Length(
            min=1, max=MAX_ITEMS, error=f"Send from 1 to {MAX_ITEMS} items."
        ),
    )


class ItemResultSchema(ma.Schema):
    index = ma.fields.Integer(required=True)
    status = ma.fields.Integer(required=True, metadata={"enum": [200, 201, 404, 409, 422]})
    id = ma.fields.UUID()
    message = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class BatchResultSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(ItemResultSchema), required=True)
    succeeded = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("BatchInput", schema=BatchSchema)
    spec.components.schema("BatchResult", schema=BatchResultSchema)


Creator = Callable[[Session, dict[str, Any]], Any]
Updater = Callable[..., Any]


def _write_one(
    session: Session, index: int, item: dict[str, Any], create: Creator, update: Updater
) -> dict[str, Any]:
    data = dict(item)
    raw_id = data.pop("id", None)
    try:
        record_id = uuid.UUID(str(raw_id)) if raw_id is not None else None
    except ValueError:
        return {"index": index, "status": 422, "message": "Invalid id.",
                "errors": {"id": ["Not a valid record id."]}}  # fmt: skip
    try:
        with session.begin_nested():
            if record_id is None:
                record = create(session, data)
            else:
                record = update(session, record_id, data, partial=True)
    except ValidationFailed as exc:
        return {"index": index, "status": 422, "message": exc.message, "errors": exc.errors}
    except DomainError as exc:
        return {"index": index, "status": exc.status, "message": exc.message}
    return {"index": index, "status": 201 if record_id is None else 200, "id": record.id}


def _batch(create: Creator, update: Updater) -> dict[str, Any]:
    items = load(BatchSchema(), errors.json_body())["items"]
    session = tenant_db()
    results = [_write_one(session, i, item, create, update) for i, item in enumerate(items)]
    failed = sum(1 for r in results if r["status"] >= 400)
    return {"results": results, "succeeded": len(results) - failed, "failed": failed}


def _body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"Items are {name} fields; add id to update that record.",
        "content": {"application/json": {"schema": BatchSchema}},
    }


@blp.route("/companies/batch", methods=["POST"])
@blp.doc(requestBody=_body("company"))
@blp.response(200, BatchResultSchema)
@blp.alt_response(422, response="DEFAULT_ERROR")
def companies_batch():  # type: ignore[no-untyped-def]
    """Create or update up to 100 companies; one result per item"""
    return _batch(company_services.create_company, company_services.update_company)


@blp.route("/contacts/batch", methods=["POST"])
@blp.doc(requestBody=_body("contact"))
@blp.response(200, BatchResultSchema)
@blp.alt_response(422, response="DEFAULT_ERROR")
def contacts_batch():  # type: ignore[no-untyped-def]
    """Create or update up to 100 contacts; one result per item"""
    return _batch(contact_services.create_contact, contact_services.update_contact)
