"""Deal operations: validate through the schema, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once. A stage move also writes a
``DealStageChange`` row and announces the ``deal.stage_changed`` record event, which webhooks and
workflows consume.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import current_actor
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.tenants import events
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import load
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal, DealContact, DealStageChange
from rapport.tenants.deals.queries import get_deal
from rapport.tenants.deals.schemas import DEAL_FIELDS, DealContactSchema, DealSchema, MoveSchema
from rapport.tenants.fields import services as custom_fields
from rapport.tenants.picklists import services as picklists
from rapport.tenants.pipelines.models import Pipeline, Stage
from rapport.tenants.pipelines.queries import default_pipeline, pipeline_stages


def snapshot(deal: Deal) -> dict[str, Any]:
    """The audited fields of a deal, as a plain dict (amounts as text: the audit log is JSON)."""
    values = {name: getattr(deal, name) for name in DEAL_FIELDS}
    if values["amount"] is not None:
        values["amount"] = f"{values['amount']:.2f}"
    return {**values, **custom_fields.custom_snapshot(deal.custom)}


def _check_company(session: Session, values: dict[str, Any]) -> None:
    company_id = values.get("company_id")
    # The id must name a company of this tenant; the tenant's schema holds no other.
    if company_id is not None and session.get(Company, company_id) is None:
        raise ValidationFailed({"company_id": ["Choose a company from the list."]})


def _starting_stage(session: Session, values: dict[str, Any]) -> Stage:
    """The stage a new deal starts in: the one asked for, or the pipeline's first open stage."""
    stage_id, pipeline_id = values.pop("stage_id", None), values.pop("pipeline_id", None)
    if stage_id is not None:
        stage = session.get(Stage, stage_id)
        if stage is None or stage.archived_at is not None:
            raise ValidationFailed({"stage_id": ["Choose a stage from the list."]})
        if pipeline_id is not None and stage.pipeline_id != pipeline_id:
            raise ValidationFailed({"stage_id": ["Choose a stage of the chosen pipeline."]})
        if stage.kind != "open":
            raise ValidationFailed({"stage_id": ["A new deal starts in an open stage."]})
        return stage
    pipeline = session.get(Pipeline, pipeline_id) if pipeline_id else default_pipeline(session)
    if pipeline is None or pipeline.archived_at is not None:
        raise ValidationFailed({"pipeline_id": ["Choose a pipeline from the list."]})
    for stage in pipeline_stages(session, pipeline.id):
        if stage.kind == "open":
            return stage
    raise ValidationFailed({"pipeline_id": ["This pipeline has no open stage to start in."]})


def _end_of_column(session: Session, stage_id: uuid.UUID) -> int:
    last = session.scalar(select(func.max(Deal.position)).where(Deal.stage_id == stage_id))
    return (last if last is not None else -1) + 1


def _record_change(
    session: Session, deal: Deal, from_stage: uuid.UUID | None, to_stage: uuid.UUID
) -> DealStageChange:
    actor = current_actor()
    changed_by = None
    if actor.type == "user" and actor.id:
        try:
            changed_by = uuid.UUID(actor.id)
        except ValueError:
            changed_by = None
    change = DealStageChange(
        deal_id=deal.id,
        from_stage_id=from_stage,
        to_stage_id=to_stage,
        changed_by=changed_by,
        changed_by_label=actor.label,
        changed_at=utcnow(),
    )
    session.add(change)
    return change


def create_deal(session: Session, data: Mapping[str, Any]) -> Deal:
    """Create a deal in an open stage; raise ValidationFailed naming the bad fields."""
    values, custom = custom_fields.load_with_custom(
        session, "deals", lambda rest: load(DealSchema(), rest), data
    )
    _check_company(session, values)
    stage = _starting_stage(session, values)
    deal = Deal(
        **values,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        position=_end_of_column(session, stage.id),
        status="open",
        custom=custom or {},
    )
    session.add(deal)
    custom_fields.flush_unique(session, "deals", deal)
    _record_change(session, deal, None, stage.id)
    session.flush()
    audit.record(
        session,
        "deal.created",
        "deal",
        deal.id,
        audit.diff({}, {**snapshot(deal), "stage": stage.name}),
    )
    events.emit(session, "deal.created", "deals", deal.id, snapshot(deal))
    return deal


def update_deal(
    session: Session, deal_id: uuid.UUID | str, data: Mapping[str, Any], *, partial: bool = False
) -> Deal:
    """Change a deal's fields (not its stage: see ``move_deal``); one audit entry, if any."""
    deal = get_deal(session, deal_id)
    values, custom = custom_fields.load_with_custom(
        session,
        "deals",
        lambda rest: load(DealSchema(), rest, partial=partial),
        data,
        existing=dict(deal.custom or {}),
        partial=partial,
    )
    _check_company(session, values)
    for key in ("pipeline_id", "stage_id"):
        requested = values.pop(key, None)
        if requested is not None and requested != getattr(deal, key):
            raise ValidationFailed({key: ["Move the deal on the board to change its stage."]})
    custom_fields.apply_changes(
        session, deal, values, custom, record_type="deals", snapshot=snapshot,
        action="deal.updated", target_type="deal",
    )  # fmt: skip
    return deal


def delete_deal(session: Session, deal_id: uuid.UUID | str) -> None:
    """Delete a deal with its stage history and contact roles (the audit log keeps the record)."""
    deal = get_deal(session, deal_id)
    before = snapshot(deal)
    session.delete(deal)
    session.flush()
    audit.record(session, "deal.deleted", "deal", deal.id, audit.diff(before, {}))
    events.emit(session, "deal.deleted", "deals", deal.id, before)


def _place(session: Session, deal: Deal, stage_id: uuid.UUID, position: int | None) -> None:
    """Put the deal at ``position`` in the stage's column (the end when None), renumbering it."""
    if position is None:
        if deal.stage_id != stage_id:
            deal.position = _end_of_column(session, stage_id)
        return
    others = list(
        session.scalars(
            select(Deal)
            .where(Deal.stage_id == stage_id, Deal.id != deal.id)
            .order_by(Deal.position, Deal.created_at, Deal.id)
        )
    )
    others.insert(min(position, len(others)), deal)
    for index, item in enumerate(others):
        if item.position != index:
            item.position = index


def move_deal(
    session: Session,
    deal_id: uuid.UUID | str,
    stage_id: uuid.UUID | str,
    position: int | None = None,
    *,
    lost_reason: str | None = None,
) -> Deal:
    """Move a deal to a stage of its pipeline (and a place in that column).

    Reaching a won stage closes the deal as won; a lost stage closes it as lost and needs a
    reason; an open stage (re)opens it. A change of stage is kept as a ``DealStageChange``,
    audited and announced as the ``deal.stage_changed`` record event.
    """
    deal = get_deal(session, deal_id)
    values = load(
        MoveSchema(), {"stage_id": str(stage_id), "position": position, "lost_reason": lost_reason}
    )
    stage = session.get(Stage, values["stage_id"])
    if stage is None:
        raise NotFound("There is no such stage.")
    if stage.pipeline_id != deal.pipeline_id:
        raise ValidationFailed({"stage_id": ["Choose a stage of this deal's pipeline."]})
    if stage.archived_at is not None:
        raise ValidationFailed({"stage_id": ["This stage is archived; choose another."]})
    if stage.id == deal.stage_id:
        _place(session, deal, stage.id, values["position"])
        session.flush()
        return deal
    reason = values["lost_reason"]
    if stage.kind == "lost" and not reason:
        raise ValidationFailed({"lost_reason": ["Say why the deal was lost."]})
    if stage.kind == "lost":
        reason = picklists.validate(session, "loss_reason", reason)
    old_stage = session.get(Stage, deal.stage_id)
    before = {
        "stage": old_stage.name if old_stage else None,
        "status": deal.status,
        "lost_reason": deal.lost_reason,
    }
    _place(session, deal, stage.id, values["position"])
    from_stage_id = deal.stage_id
    deal.stage_id = stage.id
    deal.status = stage.kind
    deal.closed_at = utcnow() if stage.kind != "open" else None
    deal.lost_reason = reason if stage.kind == "lost" else None
    _record_change(session, deal, from_stage_id, stage.id)
    session.flush()
    after = {"stage": stage.name, "status": deal.status, "lost_reason": deal.lost_reason}
    audit.record(session, "deal.stage_changed", "deal", deal.id, audit.diff(before, after))
    events.emit(
        session,
        "deal.stage_changed",
        "deals",
        deal.id,
        {**snapshot(deal), "from_stage_id": from_stage_id, "to_stage_id": stage.id},
    )
    return deal


def add_contact(session: Session, deal_id: uuid.UUID | str, data: Mapping[str, Any]) -> DealContact:
    """Involve a contact in a deal with a role; a contact is involved at most once."""
    deal = get_deal(session, deal_id)
    values = load(DealContactSchema(), dict(data))
    contact = session.get(Contact, values["contact_id"])
    if contact is None:
        raise ValidationFailed({"contact_id": ["Choose a contact from the list."]})
    exists = session.scalar(
        select(DealContact.id).where(
            DealContact.deal_id == deal.id, DealContact.contact_id == contact.id
        )
    )
    if exists is not None:
        raise Conflict("This contact is already on the deal.")
    link = DealContact(deal_id=deal.id, contact_id=contact.id, role=values["role"])
    session.add(link)
    session.flush()
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    audit.record(
        session,
        "deal.contact_added",
        "deal",
        deal.id,
        {"contact": [None, name], "role": [None, link.role]},
    )
    return link


def remove_contact(session: Session, deal_id: uuid.UUID | str, link_id: uuid.UUID | str) -> None:
    """Take a contact off a deal."""
    deal = get_deal(session, deal_id)
    link = get_or_not_found(session, DealContact, link_id, "contact on this deal")
    if link.deal_id != deal.id:
        raise NotFound("There is no such contact on this deal.")
    contact = session.get(Contact, link.contact_id)
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p) if contact else None
    session.delete(link)
    session.flush()
    audit.record(
        session,
        "deal.contact_removed",
        "deal",
        deal.id,
        {"contact": [name, None], "role": [link.role, None]},
    )
