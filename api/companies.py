"""Companies over REST: list, read, create, change, delete, through the web's services."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.api.records import (
    FILTERS_DOC,
    ListArgs,
    RecordFields,
    check_if_match,
    page_body,
    page_schema,
    record_page,
    record_response,
)
from rapport.platform.db import get_or_not_found
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies import queries, services
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import CompanySchema, plain_text
from rapport.tenants.fields.filters import filter_clause

blp = api_blueprint(
    "api_companies", __name__, url_prefix="/api/v1/companies", description="Companies (accounts)."
)


class CompanyRecordSchema(RecordFields, CompanySchema):
    """A company as the API returns it."""


CompanyPageSchema = page_schema("CompanyPageSchema", CompanyRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": CompanySchema}}}


def custom_filters() -> dict[str, str]:
    """``custom.<api_name>=value`` query arguments: filters on filterable custom fields."""
    return {
        key.removeprefix("custom."): value
        for key, value in request.args.items()
        if key.startswith("custom.")
    }


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("CompanyInput", schema=CompanySchema)
    spec.components.schema("Company", schema=CompanyRecordSchema)
    spec.components.schema("CompanyPage", schema=CompanyPageSchema)


_REPRESENTATION = CompanyRecordSchema()  # built once: building a schema costs more than a dump


def represent(company: Company) -> dict[str, Any]:
    return _REPRESENTATION.dump(company)


def _locked(session: Session, company_id: uuid.UUID) -> Company:
    return get_or_not_found(session, Company, company_id, "company", for_update=True)


@blp.route("")
class Companies(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.doc(**FILTERS_DOC)
    @blp.response(200, CompanyPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List companies (search, filter[<field>][<op>], sort by any field)"""
        session = tenant_db()
        stmt = select(Company)
        for api_name, value in custom_filters().items():
            stmt = stmt.where(filter_clause(session, "companies", api_name, value))
        q = plain_text(args["q"] or "").strip()
        if q:
            stmt = stmt.where(queries.search_filter(q))
        page, sort = record_page(
            session, "companies", stmt, Company.id, args, default_sort=queries.DEFAULT_SORT
        )
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_BODY)
    @blp.response(201, CompanyRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a company"""
        company = services.create_company(tenant_db(), errors.json_body())
        return record_response(represent(company), 201)


@blp.route("/<uuid:company_id>")
class CompanyById(MethodView):
    @blp.response(200, CompanyRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, company_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a company"""
        company = queries.get_company(tenant_db(), company_id)
        return record_response(represent(company))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, CompanyRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, company_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of a company"""
        session = tenant_db()
        check_if_match(represent(_locked(session, company_id)))
        company = services.update_company(session, company_id, errors.json_body(), partial=True)
        return record_response(represent(company))

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, company_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a company (its contacts remain, without a company)"""
        session = tenant_db()
        check_if_match(represent(_locked(session, company_id)))
        services.delete_company(session, company_id)
