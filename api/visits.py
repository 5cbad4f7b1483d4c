"""Visit plans over REST: the plans (customers, cycle, weekdays), their visits and the check-in.

A plan's visits are activities of kind ``visit`` that the plan's service generates up to its
horizon whenever the plan or its customers change; the API lists them per plan and checks in on
them through the same activity service as the browser (the time is the server's, the position is
optional, the outcome is kept).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.activities import ActivityRecordSchema
from rapport.api.activities import represent as represent_activity
from rapport.api.auth import api_blueprint
from rapport.api.records import ListArgs, check_if_match, page_body, page_schema, record_response
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.identity.members import members_of
from rapport.platform.tenancy.scope import current_tenant, tenant_db
from rapport.tenants.activities import services as activities
from rapport.tenants.activities.models import ACTIVITY_STATUSES, Activity
from rapport.tenants.activities.schemas import CheckInSchema
from rapport.tenants.paging import SortOption, keyset_page
from rapport.tenants.visits import services
from rapport.tenants.visits.models import CUSTOMER_TYPES, WEEKDAYS, VisitPlan, VisitPlanCustomer
from rapport.tenants.visits.schemas import PLAN_FIELDS, VisitPlanSchema

blp = api_blueprint(
    "api_visits",
    __name__,
    url_prefix="/api/v1/visit-plans",
    description="Visit plans: customers visited on a cycle, their generated visits, check-ins.",
)


class CustomerSchema(ma.Schema):
    """A company or contact on a plan."""

    id = ma.fields.UUID(dump_only=True)
    record_type = ma.fields.String(required=True, validate=ma.validate.OneOf(CUSTOMER_TYPES))
    record_id = ma.fields.UUID(required=True)


class VisitPlanInputSchema(VisitPlanSchema):
    """A plan as written; ``customers``, when given, is the whole list (replaced on PATCH)."""

    customers = ma.fields.List(ma.fields.Nested(CustomerSchema), load_default=None)


class VisitPlanRecordSchema(ma.Schema):
    """A visit plan as the API returns it."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    owner_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The rep who visits (see /members)."},
    )
    every = ma.fields.Integer(dump_only=True)
    unit = ma.fields.String(dump_only=True, metadata={"enum": ["days", "weeks"]})
    weekdays = ma.fields.Function(
        lambda plan: [d for d in plan.weekdays.split(",") if d],
        metadata={"type": "array", "items": {"type": "string", "enum": list(WEEKDAYS)}},
    )
    starts_on = ma.fields.Date(dump_only=True)
    horizon_days = ma.fields.Integer(dump_only=True)
    visit_time = ma.fields.Time(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Time of day, in the plan's time zone; none: all day."},
    )
    timezone = ma.fields.String(
        dump_only=True, metadata={"description": "The IANA time zone of the visit time."}
    )
    duration_minutes = ma.fields.Integer(dump_only=True)
    active = ma.fields.Boolean(dump_only=True)
    customers = ma.fields.Method(
        "_customers",
        metadata={"type": "array", "items": {"$ref": "#/components/schemas/VisitCustomer"}},
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)

    def _customers(self, plan: VisitPlan) -> list[dict[str, Any]]:
        rows = services.plan_customers(tenant_db(), plan.id)
        return CustomerSchema(many=True).dump(rows)


class PlanListArgs(ListArgs):
    sort = ma.fields.String(
        load_default="name",
        metadata={"description": "name or created_at; prefix with - for descending."},
    )
    active = ma.fields.Boolean(load_default=None, metadata={"description": "Only active plans."})


class VisitListArgs(ListArgs):
    start = ma.fields.Date(load_default=None, metadata={"description": "From this day (default "
                                                        "7 days ago)."})  # fmt: skip
    end = ma.fields.Date(load_default=None, metadata={"description": "To this day (default the "
                                                      "plan's horizon)."})  # fmt: skip
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ACTIVITY_STATUSES))
    sort = ma.fields.String(
        load_default="due_at", metadata={"description": "due_at; prefix with - for descending."}
    )


VisitPlanPageSchema = page_schema("VisitPlanPageSchema", VisitPlanRecordSchema)
VisitPageSchema = page_schema("VisitPageSchema", ActivityRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": VisitPlanInputSchema}}}
_CUSTOMER = {"required": True, "content": {"application/json": {"schema": CustomerSchema}}}
_CHECK_IN = {"required": False, "content": {"application/json": {"schema": CheckInSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("VisitCustomer", schema=CustomerSchema)
    spec.components.schema("VisitPlanInput", schema=VisitPlanInputSchema)
    spec.components.schema("VisitPlan", schema=VisitPlanRecordSchema)
    spec.components.schema("VisitPlanPage", schema=VisitPlanPageSchema)
    spec.components.schema("VisitPage", schema=VisitPageSchema)


_REPRESENTATION = VisitPlanRecordSchema()  # built once: building a schema costs more than a dump


def represent(plan: VisitPlan) -> dict[str, Any]:
    return _REPRESENTATION.dump(plan)


def _respond(plan: VisitPlan, status: int = 200) -> Response:
    return record_response(represent(plan), status)


def _split(body: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
    """The plan's own fields, checked for a workspace rep, and the customer list if given."""
    data = dict(body)
    raw = data.pop("customers", None)
    owner = data.get("owner_id")
    if owner and str(owner) not in {str(u.id) for _m, u in members_of(current_tenant().id)}:
        raise ValidationFailed({"owner_id": ["Choose a member of this workspace."]})
    if raw is None:
        return data, None
    try:
        items = CustomerSchema(many=True).load(raw)
    except ma.ValidationError as exc:
        raise ValidationFailed({"customers": [_first(exc.messages)]}) from None
    return data, [(c["record_type"], str(c["record_id"])) for c in items]


def _first(messages: Any) -> str:
    while isinstance(messages, dict | list):
        messages = next(iter(messages.values() if isinstance(messages, dict) else messages))
    return str(messages)


def _plan(session: Session, plan_id: uuid.UUID) -> VisitPlan:
    return services.get_plan(session, plan_id)


@blp.route("")
class VisitPlans(MethodView):
    @blp.arguments(PlanListArgs, location="query")
    @blp.response(200, VisitPlanPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List visit plans (search by name, active only)"""
        session = tenant_db()
        stmt = select(VisitPlan)
        q = (args["q"] or "").strip()
        if q:
            stmt = stmt.where(VisitPlan.name.icontains(q, autoescape=True))
        if args["active"] is not None:
            stmt = stmt.where(VisitPlan.active.is_(args["active"]))
        keys = {"name": func.lower(VisitPlan.name), "created_at": VisitPlan.created_at}
        sort = SortOption.parse(args["sort"], tuple(keys), "name")
        page = keyset_page(
            session, stmt, key=keys[sort.key], id_col=VisitPlan.id, sort=sort,
            cursor=args["cursor"], limit=args["limit"],
        )  # fmt: skip
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_BODY)
    @blp.response(201, VisitPlanRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a visit plan with its customers; its visits are generated at once"""
        session = tenant_db()
        data, customers = _split(errors.json_body())
        plan = services.create_plan(session, data)
        if customers:
            services.set_customers(session, plan.id, customers)
        return _respond(plan, 201)


@blp.route("/<uuid:plan_id>")
class VisitPlanById(MethodView):
    @blp.response(200, VisitPlanRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a visit plan with its customers"""
        return _respond(_plan(tenant_db(), plan_id))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, VisitPlanRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of a plan (customers, when given, replace the list); its visits
        follow"""
        session = tenant_db()
        current = represent(_plan(session, plan_id))
        check_if_match(current)
        data, customers = _split(errors.json_body())
        merged = {name: current[name] for name in PLAN_FIELDS if current[name] is not None}
        plan = services.update_plan(session, plan_id, {**merged, **data})
        if customers is not None:
            services.set_customers(session, plan.id, customers)
        return _respond(plan)

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a plan and its upcoming open visits (visits that happened stay)"""
        session = tenant_db()
        check_if_match(represent(_plan(session, plan_id)))
        services.delete_plan(session, plan_id)


@blp.route("/<uuid:plan_id>/customers", methods=["POST"])
@blp.doc(requestBody=_CUSTOMER)
@blp.response(201, CustomerSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def add_customer(plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Add a company or contact to a plan; its visits are generated at once"""
    session = tenant_db()
    _plan(session, plan_id)
    body = errors.json_body()
    try:
        values = CustomerSchema().load(body)
    except ma.ValidationError as exc:
        errors.fail(422, "Some fields are not valid.", errors={"json": exc.messages})
    return services.add_customer(session, plan_id, values["record_type"], values["record_id"])


@blp.route("/<uuid:plan_id>/customers/<uuid:customer_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, response="DEFAULT_ERROR")
def remove_customer(plan_id: uuid.UUID, customer_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Take a customer off a plan, with its upcoming open visits"""
    session = tenant_db()
    _plan(session, plan_id)
    customer = get_or_not_found(session, VisitPlanCustomer, customer_id, "customer")
    if customer.plan_id != plan_id:
        errors.fail(404, "There is no such customer on this plan.")
    services.remove_customer(session, plan_id, customer_id)


@blp.route("/<uuid:plan_id>/visits")
@blp.arguments(VisitListArgs, location="query")
@blp.response(200, VisitPageSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
def plan_visits(args: dict[str, Any], plan_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """List a plan's generated visits from start to end (by planned time)"""
    session = tenant_db()
    plan = _plan(session, plan_id)
    today = utcnow().date()
    start = args["start"] or today - dt.timedelta(days=7)
    end = args["end"] or today + dt.timedelta(days=plan.horizon_days)
    stmt = select(Activity).where(
        Activity.visit_plan_id == plan.id,
        Activity.visit_date >= start,
        Activity.visit_date <= end,
    )
    if args["status"]:
        stmt = stmt.where(Activity.status == args["status"])
    sort = SortOption.parse(args["sort"], ("due_at",), "due_at")
    page = keyset_page(
        session, stmt, key=Activity.due_at, id_col=Activity.id, sort=sort,
        cursor=args["cursor"], limit=args["limit"],
    )  # fmt: skip
    return page_body(page, sort, page.items)


def _visit(session: Session, plan_id: uuid.UUID, visit_id: uuid.UUID) -> Activity:
    _plan(session, plan_id)
    visit = get_or_not_found(session, Activity, visit_id, "visit", for_update=True)
    if visit.visit_plan_id != plan_id:
        errors.fail(404, "There is no such visit in this plan.")
    return visit


@blp.route("/<uuid:plan_id>/visits/<uuid:visit_id>/check-in", methods=["POST"])
@blp.doc(requestBody=_CHECK_IN)
@blp.response(200, ActivityRecordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(412, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def check_in(plan_id: uuid.UUID, visit_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Check in on a planned visit: the time now, the position if given, the outcome"""
    session = tenant_db()
    check_if_match(represent_activity(_visit(session, plan_id, visit_id)))
    data = errors.json_body() if request.get_data() else {}
    visit = activities.check_in(session, visit_id, data)
    return record_response(represent_activity(visit))
