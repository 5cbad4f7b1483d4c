"""Activities over REST: list, read, create, change, delete, complete, and the visit check-in."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask import Response
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
from rapport.tenants.activities import services
from rapport.tenants.activities.models import (
    ACTIVITY_STATUSES,
    LINKABLE_TYPES,
    Activity,
    ActivityLink,
)
from rapport.tenants.activities.schemas import (
    ActivitySchema,
    CheckInSchema,
    CompleteSchema,
    LinkSchema,
)
from rapport.tenants.companies.schemas import plain_text

blp = api_blueprint(
    "api_activities",
    __name__,
    url_prefix="/api/v1/activities",
    description="Activities: tasks, calls, meetings and visits.",
)


class ActivityInputSchema(ActivitySchema):
    """An activity as written; ``links`` names the records it concerns (replaced when given)."""

    links = ma.fields.List(ma.fields.Nested(LinkSchema), load_default=None)


class ActivityRecordSchema(RecordFields, ActivityInputSchema):
    """An activity as the API returns it."""

    links = ma.fields.Function(
        lambda activity: _links_of(activity),
        metadata={"type": "array", "items": {"$ref": "#/components/schemas/ActivityLink"},
                  "description": "The records the activity concerns."},
    )  # fmt: skip
    status = ma.fields.String(dump_only=True, metadata={"enum": list(ACTIVITY_STATUSES)})
    completed_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    outcome = ma.fields.String(dump_only=True, allow_none=True)
    reminded_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    checked_in_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    latitude = ma.fields.Float(dump_only=True, allow_none=True)
    longitude = ma.fields.Float(dump_only=True, allow_none=True)
    accuracy = ma.fields.Float(dump_only=True, allow_none=True)
    visit_plan_id = ma.fields.UUID(dump_only=True, allow_none=True)
    visit_date = ma.fields.Date(dump_only=True, allow_none=True)


class ActivityListArgs(ListArgs):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ACTIVITY_STATUSES))
    kind = ma.fields.String(load_default=None)
    record_type = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(LINKABLE_TYPES),
        metadata={"description": "With record_id: only the activities about this record."},
    )
    record_id = ma.fields.UUID(load_default=None)


ActivityPageSchema = page_schema("ActivityPageSchema", ActivityRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": ActivityInputSchema}}}
_COMPLETE = {"required": False, "content": {"application/json": {"schema": CompleteSchema}}}
_CHECK_IN = {"required": False, "content": {"application/json": {"schema": CheckInSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("ActivityLink", schema=LinkSchema)
    spec.components.schema("ActivityInput", schema=ActivityInputSchema)
    spec.components.schema("Activity", schema=ActivityRecordSchema)
    spec.components.schema("ActivityPage", schema=ActivityPageSchema)
    spec.components.schema("ActivityCompletion", schema=CompleteSchema)
    spec.components.schema("VisitCheckIn", schema=CheckInSchema)


#: Attribute under which a list view puts the links it loaded for many activities at once.
_PRELOADED = "_api_links"


def _links_of(activity: Activity) -> list[dict[str, str]]:
    links = getattr(activity, _PRELOADED, None)
    if links is None:
        links = services.activity_links(tenant_db(), activity.id)
    return [{"record_type": x.record_type, "record_id": str(x.record_id)} for x in links]


_REPRESENTATION = ActivityRecordSchema()  # built once: building a schema costs more than a dump


def represent(activity: Activity) -> dict[str, Any]:
    return _REPRESENTATION.dump(activity)


def _locked(session: Session, activity_id: uuid.UUID) -> Activity:
    return get_or_not_found(session, Activity, activity_id, "activity", for_update=True)


def _body(required: bool = True) -> dict[str, Any]:
    from flask import request

    if not required and not request.get_data():
        return {}
    return errors.json_body()


def _respond(activity: Activity, status: int = 200) -> Response:
    return record_response(represent(activity), status)


@blp.route("")
class Activities(MethodView):
    @blp.arguments(ActivityListArgs, location="query")
    @blp.doc(**FILTERS_DOC)
    @blp.response(200, ActivityPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List activities (search, status, kind, the records they concern, filters, sort)"""
        session = tenant_db()
        stmt = select(Activity)
        q = plain_text(args["q"] or "").strip()
        if q:
            stmt = stmt.where(Activity.subject.icontains(q, autoescape=True))
        if args["status"]:
            stmt = stmt.where(Activity.status == args["status"])
        if args["kind"]:
            stmt = stmt.where(Activity.kind == args["kind"])
        if args["record_type"] and args["record_id"]:
            linked = select(ActivityLink.activity_id).where(
                ActivityLink.record_type == args["record_type"],
                ActivityLink.record_id == args["record_id"],
            )
            stmt = stmt.where(Activity.id.in_(linked))
        page, sort = record_page(
            session, "activities", stmt, Activity.id, args, default_sort="due_at"
        )
        links: dict[uuid.UUID, list[ActivityLink]] = {}
        if page.items:
            rows = session.scalars(
                select(ActivityLink).where(ActivityLink.activity_id.in_([a.id for a in page.items]))
            )
            for link in rows:
                links.setdefault(link.activity_id, []).append(link)
        for activity in page.items:
            setattr(activity, _PRELOADED, links.get(activity.id, []))
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_BODY)
    @blp.response(201, ActivityRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create an activity about some records"""
        return _respond(services.create_activity(tenant_db(), errors.json_body()), 201)


@blp.route("/<uuid:activity_id>")
class ActivityById(MethodView):
    @blp.response(200, ActivityRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read an activity"""
        return _respond(services.get_activity(tenant_db(), activity_id))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, ActivityRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of an activity (status changes through complete)"""
        session = tenant_db()
        check_if_match(represent(_locked(session, activity_id)))
        return _respond(
            services.update_activity(session, activity_id, errors.json_body(), partial=True)
        )

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete an activity"""
        session = tenant_db()
        check_if_match(represent(_locked(session, activity_id)))
        services.delete_activity(session, activity_id)


@blp.route("/<uuid:activity_id>/complete", methods=["POST"])
@blp.doc(requestBody=_COMPLETE)
@blp.response(200, ActivityRecordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(412, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def complete(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Mark an activity done, with its outcome"""
    session = tenant_db()
    check_if_match(represent(_locked(session, activity_id)))
    return _respond(services.complete_activity(session, activity_id, _body(required=False)))


@blp.route("/<uuid:activity_id>/check-in", methods=["POST"])
@blp.doc(requestBody=_CHECK_IN)
@blp.response(200, ActivityRecordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(412, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def check_in(activity_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Check in on a visit: the time now, the position if given, the outcome (completes it)"""
    session = tenant_db()
    check_if_match(represent(_locked(session, activity_id)))
    return _respond(services.check_in(session, activity_id, _body(required=False)))
