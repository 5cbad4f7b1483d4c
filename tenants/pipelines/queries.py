"""Reading pipelines and stages."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.tenants.pipelines.models import Pipeline, Stage


def get_pipeline(session: Session, pipeline_id: uuid.UUID | str) -> Pipeline:
    """The pipeline with this id, or NotFound."""
    return get_or_not_found(session, Pipeline, pipeline_id, "pipeline")


def get_stage(session: Session, stage_id: uuid.UUID | str) -> Stage:
    """The stage with this id, or NotFound."""
    return get_or_not_found(session, Stage, stage_id, "stage")


def list_pipelines(session: Session, *, include_archived: bool = False) -> list[Pipeline]:
    """The pipelines in their order."""
    stmt = select(Pipeline).order_by(Pipeline.position, Pipeline.created_at, Pipeline.id)
    if not include_archived:
        stmt = stmt.where(Pipeline.archived_at.is_(None))
    return list(session.scalars(stmt))


def default_pipeline(session: Session) -> Pipeline | None:
    """The first active pipeline: the one the board opens with."""
    pipelines = list_pipelines(session)
    return pipelines[0] if pipelines else None


def pipeline_stages(
    session: Session, pipeline_id: uuid.UUID, *, include_archived: bool = False
) -> list[Stage]:
    """A pipeline's stages in their order."""
    stmt = (
        select(Stage)
        .where(Stage.pipeline_id == pipeline_id)
        .order_by(Stage.position, Stage.created_at, Stage.id)
    )
    if not include_archived:
        stmt = stmt.where(Stage.archived_at.is_(None))
    return list(session.scalars(stmt))


def deals_per_stage(session: Session, pipeline_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """How many deals (open or closed) each stage of a pipeline holds."""
    from rapport.tenants.deals.models import Deal

    rows = session.execute(
        select(Deal.stage_id, func.count())
        .where(Deal.pipeline_id == pipeline_id)
        .group_by(Deal.stage_id)
    ).all()
    return {stage_id: n for stage_id, n in rows}
