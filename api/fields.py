"""Custom field definitions over REST: every key reads them; admin keys create, change, archive.

Definitions change through the same services as the settings pages, so the same validation,
audit entries and cache invalidation apply; a change shows in this tenant's OpenAPI document on
the next request.
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from rapport.api import errors
from rapport.api.auth import api_blueprint, current_key
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.fields import services
from rapport.tenants.fields.models import FieldDefinition
from rapport.tenants.fields.queries import get_definition
from rapport.tenants.fields.validation import TYPES

blp = api_blueprint(
    "api_fields",
    __name__,
    url_prefix="/api/v1/fields",
    description="Custom field definitions (admin keys change them).",
)

#: The settings an admin may change after creation (record type, API name and type stay).
CHANGEABLE = (
    "label", "help_text", "required", "unique", "filterable", "default", "min_value",
    "max_value", "min_length", "max_length", "pattern", "options", "section",
)  # fmt: skip


class OptionSchema(ma.Schema):
    value = ma.fields.String(required=True)
    label = ma.fields.String()
    colour = ma.fields.String(allow_none=True, metadata={"example": "#3366cc"})
    retired = ma.fields.Boolean()


class FieldPatchSchema(ma.Schema):
    """The settings of a field that can change (documentation of the PATCH body)."""

    label = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    help_text = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))
    required = ma.fields.Boolean()
    unique = ma.fields.Boolean()
    filterable = ma.fields.Boolean(
        metadata={"description": "Filterable fields get an index and a filter[custom.…] filter."}
    )
    default = ma.fields.Raw(allow_none=True)
    min_value = ma.fields.Float(allow_none=True)
    max_value = ma.fields.Float(allow_none=True)
    min_length = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(0, 10_000))
    max_length = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(1, 10_000))
    pattern = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    options = ma.fields.List(
        ma.fields.Nested(OptionSchema),
        allow_none=True,
        metadata={"description": "Select options in display order; retire, never remove."},
    )
    section = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=100))


class FieldInputSchema(FieldPatchSchema):
    """A new field (documentation of the POST body)."""

    record_type = ma.fields.String(
        required=True, metadata={"description": "companies, contacts, deals, leads…"}
    )
    api_name = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$"),
        metadata={"description": "Key in the records' custom object; never changes."},
    )
    label = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(TYPES))
    target = ma.fields.String(
        metadata={"description": "Record lookups only: the record type (companies, deals…) "
                  "whose record ids the field holds."}
    )  # fmt: skip


class FieldRecordSchema(ma.Schema):
    """A field definition as the API returns it."""

    id = ma.fields.UUID(dump_only=True)
    record_type = ma.fields.String(dump_only=True)
    api_name = ma.fields.String(dump_only=True)
    label = ma.fields.String(dump_only=True)
    help_text = ma.fields.String(dump_only=True, allow_none=True)
    type = ma.fields.String(dump_only=True, metadata={"enum": list(TYPES)})
    required = ma.fields.Boolean(dump_only=True)
    unique = ma.fields.Boolean(dump_only=True)
    filterable = ma.fields.Boolean(dump_only=True)
    default = ma.fields.Raw(dump_only=True, allow_none=True)
    min_value = ma.fields.Decimal(dump_only=True, as_string=True, allow_none=True,
                                  metadata={"type": "string", "format": "decimal"})  # fmt: skip
    max_value = ma.fields.Decimal(dump_only=True, as_string=True, allow_none=True,
                                  metadata={"type": "string", "format": "decimal"})  # fmt: skip
    min_length = ma.fields.Integer(dump_only=True, allow_none=True)
    max_length = ma.fields.Integer(dump_only=True, allow_none=True)
    pattern = ma.fields.String(dump_only=True, allow_none=True)
    options = ma.fields.List(ma.fields.Nested(OptionSchema), dump_only=True)
    target = ma.fields.Function(
        lambda f: (f.config or {}).get("target") if f.type == "lookup" else None,
        dump_only=True,
        allow_none=True,
        metadata={"type": "string", "description": "Record lookups: the record type pointed at."},
    )
    section = ma.fields.String(dump_only=True, allow_none=True)
    position = ma.fields.Integer(dump_only=True)
    archived = ma.fields.Function(lambda f: f.archived_at is not None, dump_only=True,
                                  metadata={"type": "boolean"})  # fmt: skip
    archived_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class FieldListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FieldRecordSchema), required=True)


class FieldListArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    record_type = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=40),
        metadata={"description": "Only this record type's fields."},
    )
    archived = ma.fields.Boolean(
        load_default=False, metadata={"description": "Include archived fields."}
    )


_BODY = {"required": True, "content": {"application/json": {"schema": FieldInputSchema}}}
_PATCH = {"required": True, "content": {"application/json": {"schema": FieldPatchSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("FieldOption", schema=OptionSchema)
    spec.components.schema("FieldInput", schema=FieldInputSchema)
    spec.components.schema("FieldPatch", schema=FieldPatchSchema)
    spec.components.schema("Field", schema=FieldRecordSchema)
    spec.components.schema("FieldList", schema=FieldListSchema)


def _admin() -> None:
    if current_key().role not in MANAGERS:
        errors.fail(403, "Only an admin key may change custom fields.")


def _current(row: FieldDefinition) -> dict[str, Any]:
    return {name: getattr(row, name) for name in CHANGEABLE}


@blp.route("")
class Fields(MethodView):
    @blp.arguments(FieldListArgs, location="query")
    @blp.response(200, FieldListSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List custom field definitions (by record type, in form order)"""
        stmt = select(FieldDefinition).order_by(
            FieldDefinition.record_type, FieldDefinition.position, FieldDefinition.created_at
        )
        if args["record_type"]:
            stmt = stmt.where(FieldDefinition.record_type == args["record_type"])
        if not args["archived"]:
            stmt = stmt.where(FieldDefinition.archived_at.is_(None))
        return {"items": list(tenant_db().scalars(stmt))}

    @blp.doc(requestBody=_BODY)
    @blp.response(201, FieldRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Define a custom field (admin keys)"""
        _admin()
        return services.create_field(tenant_db(), errors.json_body())


@blp.route("/<uuid:field_id>")
class FieldById(MethodView):
    @blp.response(200, FieldRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, field_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a field definition"""
        return get_definition(tenant_db(), field_id)

    @blp.doc(requestBody=_PATCH)
    @blp.response(200, FieldRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, field_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change a field's settings (admin keys; record type, API name and type stay)"""
        _admin()
        session = tenant_db()
        row = get_definition(session, field_id)
        body = errors.json_body()
        unknown = sorted(set(body) - set(CHANGEABLE))
        if unknown:
            errors.fail(
                422,
                "Some settings cannot be changed.",
                errors={
                    "json": {
                        name: ["Unknown field, or one that never changes."] for name in unknown
                    }
                },  # fmt: skip
            )
        return services.update_field(session, row.id, {**_current(row), **body})


@blp.route("/<uuid:field_id>/archive", methods=["POST"])
@blp.response(200, FieldRecordSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def archive(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Archive a field: hidden from forms and the API, its values kept (admin keys)"""
    _admin()
    return services.archive_field(tenant_db(), field_id, archived=True)


@blp.route("/<uuid:field_id>/restore", methods=["POST"])
@blp.response(200, FieldRecordSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def restore(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Bring an archived field back (admin keys)"""
    _admin()
    return services.archive_field(tenant_db(), field_id, archived=False)
