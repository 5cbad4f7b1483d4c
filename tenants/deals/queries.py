"""Reading deals: the board (columns and totals), the list, one deal, its history and contacts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, String, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from rapport.platform.db import get_or_not_found, utcnow
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal, DealContact, DealStageChange
from rapport.tenants.fields.filters import filter_clause
from rapport.tenants.paging import DEFAULT_LIMIT, Page, SortOption, keyset_page
from rapport.tenants.pipelines.models import Pipeline, Stage
from rapport.tenants.pipelines.queries import pipeline_stages

SORTS = ("name", "created", "updated")
DEFAULT_SORT = "-updated"
#: Won and lost columns show what closed recently; older closed deals live in the list view.
CLOSED_WINDOW = dt.timedelta(days=30)


def get_deal(session: Session, deal_id: uuid.UUID | str) -> Deal:
    """The deal with this id, or NotFound."""
    return get_or_not_found(session, Deal, deal_id, "deal")


@dataclass
class Card:
    deal: Deal
    company_name: str | None


@dataclass
class Column:
    """One stage on the board: its cards and totals (count, and the sum per currency)."""

    stage: Stage
    cards: list[Card] = field(default_factory=list)
    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)


def _on_board(now: dt.datetime) -> ColumnElement[bool]:
    return or_(Deal.status == "open", Deal.closed_at >= now - CLOSED_WINDOW)


def board(session: Session, pipeline: Pipeline) -> list[Column]:
    """The pipeline's active stages as columns of deal cards, with totals per column."""
    now = utcnow()
    columns = {s.id: Column(s) for s in pipeline_stages(session, pipeline.id)}
    visible = and_(Deal.pipeline_id == pipeline.id, Deal.stage_id.in_(columns), _on_board(now))
    rows = session.execute(
        select(Deal, Company.name)
        .outerjoin(Company, Company.id == Deal.company_id)
        .where(visible)
        .order_by(Deal.stage_id, Deal.position, Deal.created_at, Deal.id)
    ).all()
    for deal, company_name in rows:
        columns[deal.stage_id].cards.append(Card(deal, company_name))
    totals = session.execute(
        select(Deal.stage_id, Deal.currency, func.count(), func.sum(Deal.amount))
        .where(visible)
        .group_by(Deal.stage_id, Deal.currency)
        .order_by(Deal.currency)
    ).all()
    for stage_id, currency, count, amount in totals:
        column = columns[stage_id]
        column.count += count
        if amount is not None:
            column.totals[currency] = Decimal(amount).quantize(Decimal("0.01"))
    return list(columns.values())


def _sort_key(sort: SortOption) -> ColumnElement[Any]:
    if sort.key == "created":
        return Deal.created_at
    if sort.key == "updated":
        return Deal.updated_at
    return func.lower(Deal.name, type_=String())


def list_deals(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
    custom: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[Page[Deal], SortOption]:
    """One page of deals; ``page.extras`` maps each deal id to (company name, stage name)."""
    order = SortOption.parse(sort, SORTS, DEFAULT_SORT)
    stmt = select(Deal)
    for api_name, value in (custom or {}).items():
        # Filterable custom fields: an expression index in the tenant's schema serves this.
        stmt = stmt.where(filter_clause(session, "deals", api_name, value))
    q = plain_text(q or "").strip()
    if q:
        stmt = stmt.where(Deal.name.icontains(q, autoescape=True))
    if status in ("open", "won", "lost"):
        stmt = stmt.where(Deal.status == status)
    page = keyset_page(
        session, stmt, key=_sort_key(order), id_col=Deal.id, sort=order, cursor=cursor, limit=limit
    )
    ids = [d.id for d in page.items]
    if ids:
        rows = session.execute(
            select(Deal.id, Company.name, Stage.name)
            .outerjoin(Company, Company.id == Deal.company_id)
            .join(Stage, Stage.id == Deal.stage_id)
            .where(Deal.id.in_(ids))
        ).all()
        page.extras = {deal_id: (company, stage) for deal_id, company, stage in rows}
    return page, order


@dataclass
class HistoryItem:
    change: DealStageChange
    from_name: str | None
    to_name: str | None


def stage_history(session: Session, deal_id: uuid.UUID) -> list[HistoryItem]:
    """Every stage the deal was moved through, newest first."""
    from_stage, to_stage = aliased(Stage), aliased(Stage)
    rows = session.execute(
        select(DealStageChange, from_stage.name, to_stage.name)
        .outerjoin(from_stage, from_stage.id == DealStageChange.from_stage_id)
        .outerjoin(to_stage, to_stage.id == DealStageChange.to_stage_id)
        .where(DealStageChange.deal_id == deal_id)
        .order_by(DealStageChange.changed_at.desc(), DealStageChange.id.desc())
    ).all()
    return [HistoryItem(change, a, b) for change, a, b in rows]


def deal_contacts(session: Session, deal_id: uuid.UUID) -> list[tuple[DealContact, Contact]]:
    """The contacts involved in a deal, with their roles, by name."""
    rows = session.execute(
        select(DealContact, Contact)
        .join(Contact, Contact.id == DealContact.contact_id)
        .where(DealContact.deal_id == deal_id)
        .order_by(func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id)
    ).all()
    return [(link, contact) for link, contact in rows]


def contact_choices(session: Session, limit: int = 1000) -> list[tuple[uuid.UUID, str]]:
    """(id, name) pairs for a contact picker, by last name."""
    rows = session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name)
        .order_by(func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id)
        .limit(limit)
    ).all()
    return [(r.id, " ".join(p for p in (r.first_name, r.last_name) if p)) for r in rows]
