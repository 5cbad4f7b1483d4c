"""Workflows over REST, for keys whose role administers the workspace: the same services as the
settings pages, so the same checks, messages and audit entries apply.

A body is first read for its shape only (types and unknown names); what its values mean is the
services' to judge, and every problem comes back as 422 with ``errors.json`` keyed as the browser
shows it: ``name``, ``trigger``, ``conditions.<row>.<field>``, ``actions.<row>.<field>``.
Switching a workflow on or off is ``active`` in PATCH; switching one on checks it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response, jsonify
from flask.views import MethodView
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint, current_key
from rapport.api.records import check_if_match, record_response
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import filtering, records
from rapport.tenants.roles import access
from rapport.tenants.workflows import actions, queries, services
from rapport.tenants.workflows.models import RUN_STATES, TRIGGER_LABELS, TRIGGERS, Workflow

blp = api_blueprint(
    "api_workflows",
    __name__,
    url_prefix="/api/v1/workflows",
    description="Workflows (when a record is created or changed and conditions hold, do actions) "
    "and their runs (keys whose role administers the workspace).",
)


@blp.before_request
def _administrators_only() -> None:
    if not access.administers(tenant_db()):
        errors.fail(403, "Only a key whose role administers the workspace may manage workflows.")


# -- schemas ----------------------------------------------------------------------------------
class ConditionValue(ma.fields.Raw):
    """A condition's value as text, the way the services read it: numbers and booleans as they
    are written, a list (for ``in``) as comma-separated values."""

    default_error_messages = {
        "invalid": "Send text, a number, true or false, or (for in) a list of them."
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, list) and all(self._scalar(v) for v in value):
            return ",".join(self._text(v) for v in value)
        if value is None or self._scalar(value):
            return self._text(value)
        raise self.make_error("invalid")

    @staticmethod
    def _scalar(value: Any) -> bool:
        return isinstance(value, str | int | float | bool)

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)


class WorkflowConditionSchema(ma.Schema):
    """One condition; all of a workflow's conditions must hold for it to act."""

    class Meta:
        unknown = ma.RAISE

    field = ma.fields.String(
        metadata={
            "description": "A field of the record type: its own (`amount`, `owner_id`) or a "
            "custom field, `custom.<api_name>`, as list filters name them.",
            "example": "custom.region",
        }
    )
    op = ma.fields.String(metadata={"enum": list(filtering.OPERATORS)})
    value = ConditionValue(
        allow_none=True,
        metadata={
            "description": "What the field is compared with, as in list filters: `in` takes "
            "comma-separated values (or a list), `is_null` true or false, dates YYYY-MM-DD. "
            "Returned as text.",
            "example": "north",
        },
    )


class WorkflowActionSchema(ma.Schema):
    """One action; each type reads its own settings and ignores the others."""

    class Meta:
        unknown = ma.RAISE

    type = ma.fields.String(
        metadata={
            "enum": list(actions.ACTION_TYPES),
            "description": "; ".join(
                f"`{t}`: {label.lower()}" for t, label in actions.ACTION_LABELS.items()
            )
            + ". A workflow on deleted records can only email.",
        }
    )
    values = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(allow_none=True),
        metadata={
            "description": "update: the fields to set and their values, checked as the "
            "record's own input (`title`, `custom.tier`).",
            "example": {"custom.tier": "gold"},
        },
    )
    subject = ma.fields.String(
        metadata={
            "description": "task, email: the subject, a template over the record's fields "
            "(`{{ name }}`, custom fields by API name, `{{ link }}`)."
        }
    )
    kind = ma.fields.String(
        allow_none=True,
        metadata={"description": "task: the activity type (default `task`)."},
    )
    due_in_days = ma.fields.Integer(
        metadata={"description": f"task: due this many days after the run (0 to "
                                 f"{actions.MAX_DUE_DAYS}; default 0)."},
    )  # fmt: skip
    assignee = ma.fields.String(
        metadata={"description": "task: `owner` (the record's owner, the default) or a member's "
                                 "user id."},
    )  # fmt: skip
    to = ma.fields.String(
        metadata={
            "description": "email: `owner` (the default), `field:<key>` (a field of the record "
            "holding an address, e.g. `field:email`) or an email address."
        }
    )
    body = ma.fields.String(
        metadata={"description": "email: the text, a template like the subject."}
    )
    owner_id = ma.fields.String(
        metadata={"description": "assign: the member (user id) who becomes the record's owner."}
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        # Actions are stored as dicts, and marshmallow falls back to attributes: an action
        # without "values" would dump the dict's ``values`` method.
        if isinstance(obj, Mapping):
            return obj.get(attr, default)
        return super().get_attribute(obj, attr, default)


class WorkflowInputSchema(ma.Schema):
    """A workflow's settings: "when a <record type> <trigger>, and these conditions hold, do
    these actions"."""

    class Meta:
        unknown = ma.RAISE

    name = ma.fields.String(metadata={"example": "Gold customers"})
    record_type = ma.fields.String(
        metadata={"description": "Its record type (the module that owns it must be on)."}
    )
    trigger = ma.fields.String(
        metadata={
            "enum": list(TRIGGERS),
            "description": "When it runs: "
            + "; ".join(f"`{t}`: the record {label}" for t, label in TRIGGER_LABELS.items())
            + " (deals only).",
        }
    )
    watched = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "For `updated` and `saved`: run on an update only when one of these "
            "fields changed (`amount`, `custom.region`); empty: any change."
        },
    )
    conditions = ma.fields.List(
        ma.fields.Nested(WorkflowConditionSchema),
        metadata={"description": f"At most {services.MAX_ROWS}; all must hold."},
    )
    actions = ma.fields.List(
        ma.fields.Nested(WorkflowActionSchema),
        metadata={"description": f"1 to {services.MAX_ROWS}, done in order, all or none."},
    )
    active = ma.fields.Boolean(
        metadata={
            "description": "Whether it runs (default true). Switching it on checks it again: "
            "fields and members change while it is off."
        }
    )


class WorkflowPatchSchema(WorkflowInputSchema):
    """Some of a workflow's settings; those not sent stay as they are (a list sent replaces the
    whole list)."""


class WorkflowSchema(ma.Schema):
    """A workflow."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    record_type = ma.fields.String(dump_only=True)
    trigger = ma.fields.String(dump_only=True, metadata={"enum": list(TRIGGERS)})
    watched = ma.fields.List(ma.fields.String(), dump_only=True)
    conditions = ma.fields.List(ma.fields.Nested(WorkflowConditionSchema), dump_only=True)
    actions = ma.fields.List(ma.fields.Nested(WorkflowActionSchema), dump_only=True)
    active = ma.fields.Boolean(dump_only=True)
    paused = ma.fields.Boolean(
        dump_only=True,
        metadata={"description": "Whether it cannot run because its record type's module is "
                                 "off (it runs again when the module is back on)."},
    )  # fmt: skip
    position = ma.fields.Integer(
        dump_only=True, metadata={"description": "Workflows of one event run in this order."}
    )
    created_by = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class WorkflowListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(WorkflowSchema), required=True)


class WorkflowListArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    record_type = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=20),
        metadata={"description": "Only this record type's."},
    )
    active = ma.fields.Boolean(
        load_default=None, metadata={"description": "Only those switched on (true) or off."}
    )


class WorkflowRunSchema(ma.Schema):
    """One run of a workflow for one record event: what it did, or why it did not."""

    id = ma.fields.UUID(dump_only=True)
    workflow_id = ma.fields.UUID(dump_only=True)
    event_id = ma.fields.String(dump_only=True)
    event_type = ma.fields.String(dump_only=True, metadata={"example": "contact.created"})
    record_type = ma.fields.String(dump_only=True)
    record_id = ma.fields.UUID(dump_only=True, allow_none=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": list(RUN_STATES)})
    message = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Why it was skipped or failed (naming the field and the rule)."},
    )
    changes = ma.fields.List(
        ma.fields.Dict(),
        dump_only=True,
        metadata={
            "description": "What each action did, e.g. "
            '`{"action": "update", "changes": {"title": [null, "CFO"]}}`.'
        },
    )
    depth = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "1, or more when another workflow's change set it off."},
    )
    started_at = ma.fields.AwareDateTime(dump_only=True)
    finished_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    duration_ms = ma.fields.Integer(dump_only=True, allow_none=True)


class WorkflowRunListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(WorkflowRunSchema), required=True)
    next_before = ma.fields.UUID(
        allow_none=True, metadata={"description": "Pass as before= for the next page."}
    )


class WorkflowRunArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RUN_STATES))
    before = ma.fields.UUID(
        load_default=None, metadata={"description": "Only runs older than this one."}
    )
    limit = ma.fields.Integer(
        load_default=queries.RUN_PAGE, validate=ma.validate.Range(min=1, max=200)
    )


_BODY = {"required": True, "content": {"application/json": {"schema": WorkflowInputSchema}}}
_PATCH = {"required": True, "content": {"application/json": {"schema": WorkflowPatchSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document, with what the services require of a body."""
    named = {
        "WorkflowCondition": WorkflowConditionSchema,
        "WorkflowAction": WorkflowActionSchema,
        "WorkflowInput": WorkflowInputSchema,
        "WorkflowPatch": WorkflowPatchSchema,
        "Workflow": WorkflowSchema,
        "WorkflowList": WorkflowListSchema,
        "WorkflowRun": WorkflowRunSchema,
        "WorkflowRunList": WorkflowRunListSchema,
    }
    for name, schema in named.items():
        spec.components.schema(name, schema=schema)
    # Nothing is required when a body is read (the services say what is missing, with the
    # browser's messages), but the document says what a workflow cannot do without. The record
    # types come from the registry, read now rather than when this module is imported.
    schemas = spec.components.schemas
    schemas["WorkflowCondition"]["required"] = ["field", "op"]
    schemas["WorkflowAction"]["required"] = ["type"]
    schemas["WorkflowInput"]["required"] = ["name", "record_type", "trigger", "actions"]
    kinds = [kind.name for kind in records.all_types()]
    for name in ("WorkflowInput", "WorkflowPatch", "Workflow"):
        schemas[name]["properties"]["record_type"]["enum"] = kinds


# -- helpers ----------------------------------------------------------------------------------
_OUT = WorkflowSchema()  # built once: building a schema costs more than a dump


def _flat(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed as the services key theirs: ``actions.0.type``."""
    if not isinstance(messages, Mapping):
        return {prefix: [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for name, found in messages.items():
        key = prefix if name == "_schema" else ".".join(p for p in (prefix, str(name)) if p)
        for sub, texts in _flat(found, key).items():
            flat.setdefault(sub, []).extend(texts)
    return flat


def _read(schema: type[ma.Schema]) -> dict[str, Any]:
    """The request's body, read for its shape; 422 naming each field that has the wrong one."""
    body = errors.json_body()
    refused = services.control_characters(body)  # before anything reads them
    if refused:
        errors.fail(422, "Some fields are not valid.", errors={"json": refused})
    try:
        return schema().load(body)
    except ma.ValidationError as exc:
        errors.fail(422, "Some fields are not valid.", errors={"json": _flat(exc.messages)})


def _represent(session: Session, workflow: Workflow) -> dict[str, Any]:
    return {**_OUT.dump(workflow), "paused": queries.paused(session, workflow)}


def _respond(session: Session, workflow: Workflow, status: int = 200) -> Response:
    return record_response(_represent(session, workflow), status)


# -- routes -----------------------------------------------------------------------------------
@blp.route("")
class Workflows(MethodView):
    @blp.arguments(WorkflowListArgs, location="query")
    @blp.response(200, WorkflowListSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List workflows in the order they run"""
        session = tenant_db()
        found = queries.list_workflows(
            session, record_type=args["record_type"], active=args["active"]
        )
        # Dumped here, like a single workflow (smorest passes a ready response through).
        return jsonify({"items": [_represent(session, workflow) for workflow in found]})

    @blp.doc(requestBody=_BODY)
    @blp.response(201, WorkflowSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a workflow (it runs from now on unless active is false)"""
        session = tenant_db()
        workflow = services.create_workflow(
            session, _read(WorkflowInputSchema), created_by=current_key().created_by
        )
        return _respond(session, workflow, 201)


@blp.route("/<uuid:workflow_id>")
class WorkflowById(MethodView):
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a workflow"""
        session = tenant_db()
        return _respond(session, queries.get_workflow(session, workflow_id))

    @blp.doc(requestBody=_PATCH)
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some settings of a workflow, or switch it on or off (active)"""
        session = tenant_db()
        workflow = queries.get_workflow(session, workflow_id)
        check_if_match(_represent(session, workflow))
        changes = _read(WorkflowPatchSchema)
        active = changes.pop("active", None)
        if changes:
            # The service takes every setting, as the builder sends them.
            services.update_workflow(
                session, workflow.id, {**services.snapshot(workflow), **changes}
            )
        if active is not None:
            services.set_active(session, workflow.id, active)
        return _respond(session, workflow)

    @blp.response(204)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a workflow and its runs (the audit log keeps its settings)"""
        session = tenant_db()
        check_if_match(_represent(session, queries.get_workflow(session, workflow_id)))
        services.delete_workflow(session, workflow_id)


@blp.route("/<uuid:workflow_id>/runs")
@blp.arguments(WorkflowRunArgs, location="query")
@blp.response(200, WorkflowRunListSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def runs(args: dict[str, Any], workflow_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """A workflow's runs, newest first"""
    session = tenant_db()
    workflow = queries.get_workflow(session, workflow_id)
    items = queries.list_runs(
        session, workflow.id, before=args["before"], status=args["status"], limit=args["limit"]
    )
    more = len(items) == args["limit"]
    return {"items": items, "next_before": items[-1].id if more else None}
