"""Marshmallow schemas for pipelines and stages: the one place their input is validated."""

from __future__ import annotations

from marshmallow import fields, validate

from rapport.tenants.companies.schemas import RecordSchema
from rapport.tenants.pipelines.models import STAGE_KINDS

PIPELINE_FIELDS = ("name",)
STAGE_FIELDS = ("name", "probability", "kind")


def _name(what: str) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Length(max=100, error="Use at most {max} characters."),
        error_messages={
            "required": f"Enter the {what}'s name.",
            "null": f"Enter the {what}'s name.",
        },
    )


class PipelineSchema(RecordSchema):
    """A pipeline as written by an admin."""

    name = _name("pipeline")


class StageSchema(RecordSchema):
    """A stage: its name, the probability a deal in it closes, and what reaching it means."""

    name = _name("stage")
    probability = fields.Integer(
        load_default=0,
        strict=False,
        validate=validate.Range(0, 100, error="Use a whole number from 0 to 100."),
        error_messages={"invalid": "Use a whole number from 0 to 100."},
    )
    kind = fields.String(
        load_default="open",
        validate=validate.OneOf(STAGE_KINDS, error="Choose open, won or lost."),
    )
