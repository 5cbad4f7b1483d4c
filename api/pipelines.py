"""Pipelines and their stages over REST: read-only (admins shape them in the browser)."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from rapport.api.auth import api_blueprint
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.pipelines import queries
from rapport.tenants.pipelines.models import STAGE_KINDS, Pipeline

blp = api_blueprint(
    "api_pipelines",
    __name__,
    url_prefix="/api/v1/pipelines",
    description="Sales pipelines and their stages (read-only).",
)


class StageRecordSchema(ma.Schema):
    """A stage of a pipeline, in board order."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    probability = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True, metadata={"enum": list(STAGE_KINDS)})


class PipelineRecordSchema(ma.Schema):
    """A pipeline with its active stages."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    stages = ma.fields.List(ma.fields.Nested(StageRecordSchema), dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class PipelineListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PipelineRecordSchema), required=True)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("Stage", schema=StageRecordSchema)
    spec.components.schema("Pipeline", schema=PipelineRecordSchema)
    spec.components.schema("PipelineList", schema=PipelineListSchema)


def _with_stages(pipeline: Pipeline) -> dict[str, Any]:
    stages = queries.pipeline_stages(tenant_db(), pipeline.id)
    return {
        "id": pipeline.id,
        "name": pipeline.name,
        "position": pipeline.position,
        "stages": stages,
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
    }


@blp.route("")
class Pipelines(MethodView):
    @blp.response(200, PipelineListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """List the active pipelines with their active stages, in board order"""
        return {"items": [_with_stages(p) for p in queries.list_pipelines(tenant_db())]}


@blp.route("/<uuid:pipeline_id>")
class PipelineById(MethodView):
    @blp.response(200, PipelineRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a pipeline with its active stages"""
        return _with_stages(queries.get_pipeline(tenant_db(), pipeline_id))
