"""Pipeline and stage operations: validate, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once. A stage that holds deals is never
deleted (its deals' history points at it): it is archived, or its deals are moved first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.tenants.companies.schemas import load
from rapport.tenants.pipelines.models import Pipeline, Stage
from rapport.tenants.pipelines.queries import (
    get_pipeline,
    get_stage,
    list_pipelines,
    pipeline_stages,
)
from rapport.tenants.pipelines.schemas import STAGE_FIELDS, PipelineSchema, StageSchema

#: The pipeline every workspace starts with: (name, probability, kind) per stage, in order.
DEFAULT_PIPELINE = (
    "Sales",
    (
        ("Qualification", 10, "open"),
        ("Proposal", 40, "open"),
        ("Negotiation", 70, "open"),
        ("Won", 100, "won"),
        ("Lost", 0, "lost"),
    ),
)


def stage_snapshot(stage: Stage) -> dict[str, Any]:
    return {name: getattr(stage, name) for name in STAGE_FIELDS}


def create_default_pipeline(session: Session) -> Pipeline:
    """Create the default "Sales" pipeline with its five stages."""
    name, stages = DEFAULT_PIPELINE
    pipeline = Pipeline(name=name, position=0)
    session.add(pipeline)
    session.flush()
    for position, (stage_name, probability, kind) in enumerate(stages):
        session.add(
            Stage(
                pipeline_id=pipeline.id,
                name=stage_name,
                position=position,
                probability=probability,
                kind=kind,
            )
        )
    session.flush()
    # Not audited on its own: it is part of the workspace's creation ("tenant.created").
    return pipeline


def create_pipeline(session: Session, data: Mapping[str, Any]) -> Pipeline:
    """Create an empty pipeline at the end of the list."""
    values = load(PipelineSchema(), dict(data))
    last = session.scalar(select(func.max(Pipeline.position)))
    pipeline = Pipeline(name=values["name"], position=(last if last is not None else -1) + 1)
    session.add(pipeline)
    session.flush()
    audit.record(
        session, "pipeline.created", "pipeline", pipeline.id, {"name": [None, pipeline.name]}
    )
    return pipeline


def rename_pipeline(
    session: Session, pipeline_id: uuid.UUID | str, data: Mapping[str, Any]
) -> Pipeline:
    """Give a pipeline a new name."""
    pipeline = get_pipeline(session, pipeline_id)
    values = load(PipelineSchema(), dict(data))
    if values["name"] != pipeline.name:
        changes = audit.diff({"name": pipeline.name}, values)
        pipeline.name = values["name"]
        session.flush()
        audit.record(session, "pipeline.updated", "pipeline", pipeline.id, changes)
    return pipeline


def archive_pipeline(session: Session, pipeline_id: uuid.UUID | str) -> Pipeline:
    """Hide a pipeline from the board and the pickers; its deals and history stay."""
    pipeline = get_pipeline(session, pipeline_id)
    if pipeline.archived_at is not None:
        return pipeline
    active = session.scalar(
        select(func.count()).select_from(Pipeline).where(Pipeline.archived_at.is_(None))
    )
    if (active or 0) <= 1:
        raise Conflict("The last pipeline cannot be archived: the board needs one.")
    pipeline.archived_at = utcnow()
    session.flush()
    audit.record(session, "pipeline.archived", "pipeline", pipeline.id, None)
    return pipeline


def restore_pipeline(session: Session, pipeline_id: uuid.UUID | str) -> Pipeline:
    """Bring an archived pipeline back."""
    pipeline = get_pipeline(session, pipeline_id)
    if pipeline.archived_at is not None:
        pipeline.archived_at = None
        session.flush()
        audit.record(session, "pipeline.restored", "pipeline", pipeline.id, None)
    return pipeline


def shift_pipeline(session: Session, pipeline_id: uuid.UUID | str, offset: int) -> Pipeline:
    """Move a pipeline one place earlier (-1) or later (+1); the first active one is the board's
    default."""
    pipeline = get_pipeline(session, pipeline_id)
    pipelines = list_pipelines(session, include_archived=True)
    before = [p.name for p in pipelines]
    index = pipelines.index(pipeline)
    target = max(0, min(len(pipelines) - 1, index + offset))
    pipelines.insert(target, pipelines.pop(index))
    for position, row in enumerate(pipelines):
        row.position = position
    after = [p.name for p in pipelines]
    if before != after:
        session.flush()
        audit.record(
            session, "pipelines.reordered", "pipeline", pipeline.id, {"pipelines": [before, after]}
        )
    return pipeline


def create_stage(session: Session, pipeline_id: uuid.UUID | str, data: Mapping[str, Any]) -> Stage:
    """Add a stage at the end of a pipeline."""
    pipeline = get_pipeline(session, pipeline_id)
    values = load(StageSchema(), dict(data))
    last = session.scalar(select(func.max(Stage.position)).where(Stage.pipeline_id == pipeline.id))
    stage = Stage(
        pipeline_id=pipeline.id, position=(last if last is not None else -1) + 1, **values
    )
    session.add(stage)
    session.flush()
    audit.record(
        session,
        "stage.created",
        "stage",
        stage.id,
        audit.diff({}, {**stage_snapshot(stage), "pipeline": pipeline.name}),
    )
    return stage


def _deal_count(session: Session, stage_id: uuid.UUID, *, open_only: bool = False) -> int:
    from rapport.tenants.deals.models import Deal

    stmt = select(func.count()).select_from(Deal).where(Deal.stage_id == stage_id)
    if open_only:
        stmt = stmt.where(Deal.status == "open")
    return session.scalar(stmt) or 0


def update_stage(session: Session, stage_id: uuid.UUID | str, data: Mapping[str, Any]) -> Stage:
    """Rename a stage, set its probability or its kind (the kind only while it holds no deals)."""
    stage = get_stage(session, stage_id)
    values = load(StageSchema(), dict(data), partial=True)
    before = stage_snapshot(stage)
    if "kind" in values and values["kind"] != stage.kind and _deal_count(session, stage.id):
        # Deals closed as won would silently become open (or lost) deals.
        raise ValidationFailed(
            {"kind": ["Move this stage's deals elsewhere before changing what it means."]}
        )
    for name, value in values.items():
        if before[name] != value:
            setattr(stage, name, value)
    changes = audit.diff(before, stage_snapshot(stage))
    if changes:
        session.flush()
        audit.record(session, "stage.updated", "stage", stage.id, changes)
    return stage


def reorder_stages(
    session: Session, pipeline_id: uuid.UUID | str, stage_ids: Sequence[uuid.UUID | str]
) -> list[Stage]:
    """Put a pipeline's stages in the given order (every active stage exactly once)."""
    pipeline = get_pipeline(session, pipeline_id)
    stages = pipeline_stages(session, pipeline.id)
    by_id = {str(s.id): s for s in stages}
    wanted = [str(i) for i in stage_ids]
    if sorted(wanted) != sorted(by_id):
        raise ValidationFailed({"stages": ["List every stage of the pipeline exactly once."]})
    before = [s.name for s in stages]
    for position, stage_id in enumerate(wanted):
        by_id[stage_id].position = position
    after = [by_id[i].name for i in wanted]
    if before != after:
        session.flush()
        audit.record(
            session,
            "pipeline.stages_reordered",
            "pipeline",
            pipeline.id,
            {"stages": [before, after]},
        )
    return [by_id[i] for i in wanted]


def shift_stage(session: Session, stage_id: uuid.UUID | str, offset: int) -> Stage:
    """Move a stage one place earlier (-1) or later (+1) in its pipeline."""
    stage = get_stage(session, stage_id)
    order = [s.id for s in pipeline_stages(session, stage.pipeline_id)]
    if stage.id not in order:
        raise Conflict("An archived stage has no place in the order.")
    index = order.index(stage.id)
    target = max(0, min(len(order) - 1, index + offset))
    order.insert(target, order.pop(index))
    reorder_stages(session, stage.pipeline_id, order)
    return stage


def archive_stage(session: Session, stage_id: uuid.UUID | str) -> Stage:
    """Hide a stage from the board; refused while open deals are in it."""
    stage = get_stage(session, stage_id)
    if stage.archived_at is not None:
        return stage
    open_deals = _deal_count(session, stage.id, open_only=True)
    if open_deals:
        raise Conflict(
            f"“{stage.name}” still holds {open_deals} open deal(s): "
            "move them to another stage first."
        )
    stage.archived_at = utcnow()
    session.flush()
    audit.record(session, "stage.archived", "stage", stage.id, None)
    return stage


def delete_stage(session: Session, stage_id: uuid.UUID | str) -> None:
    """Delete a stage that never held a deal; one with deals can only be archived."""
    stage = get_stage(session, stage_id)
    deals = _deal_count(session, stage.id)
    if deals:
        raise Conflict(
            f"“{stage.name}” holds {deals} deal(s) and cannot be deleted: "
            "archive it, or move its deals first."
        )
    before = stage_snapshot(stage)
    session.delete(stage)
    session.flush()
    audit.record(session, "stage.deleted", "stage", stage.id, audit.diff(before, {}))
