"""The workspace's audit log: owners and admins read every entry, filter them, see the chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template, request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from rapport.platform.audit.models import AuditEntry
from rapport.platform.audit.verify import verify_tenant
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.schemas import plain_text
from rapport.web.views import companies, contacts
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("audit", __name__, "/settings/audit")

PAGE_SIZE = 50
#: Links from an entry to the record it is about (when the record still exists, the link works).
TARGET_ENDPOINTS = {
    "company": ("companies.detail", "company_id"),
    "contact": ("contacts.detail", "contact_id"),
}


@bp.before_request
def _admins_only() -> None:
    require_role("owner", "admin")


@dataclass
class Filters:
    """The filters of the page, read from the query string; bad values are reported, not fatal."""

    action: str = ""
    actor: str = ""
    target_type: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        filters = cls(
            action=plain_text(args.get("action", "")).strip()[:80],
            actor=plain_text(args.get("actor", "")).strip()[:64],
            target_type=plain_text(args.get("target_type", "")).strip()[:40],
        )
        for name in ("date_from", "date_to"):
            raw = args.get(name, "").strip()
            if not raw:
                continue
            try:
                setattr(filters, name, dt.date.fromisoformat(raw))
            except ValueError:
                filters.errors[name] = ["Enter a date as YYYY-MM-DD."]
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            filters.errors["date_to"] = ["The end date is before the start date."]
            filters.date_to = None
        return filters

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        if self.action:
            stmt = stmt.where(AuditEntry.action == self.action)
        if self.actor:
            stmt = stmt.where(AuditEntry.actor_id == self.actor)
        if self.target_type:
            stmt = stmt.where(AuditEntry.target_type == self.target_type)
        if self.date_from:
            stmt = stmt.where(AuditEntry.at >= _midnight(self.date_from))
        if self.date_to:  # inclusive: up to the end of that day
            stmt = stmt.where(AuditEntry.at < _midnight(self.date_to + dt.timedelta(days=1)))
        return stmt

    def args(self) -> dict[str, str]:
        """The active filters as query arguments, for links that keep them."""
        values = {
            "action": self.action, "actor": self.actor, "target_type": self.target_type,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }  # fmt: skip
        return {k: v for k, v in values.items() if v}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _page(session: Session, filters: Filters, before: int | None, after: int | None):  # type: ignore[no-untyped-def]
    """Entries newest first, keyset-paged on the chain's sequence number."""
    stmt = filters.apply(select(AuditEntry))
    if after is not None:  # the newer page: walk upwards, then show newest first again
        rows = list(
            session.scalars(
                stmt.where(AuditEntry.seq > after)
                .order_by(AuditEntry.seq.asc())
                .limit(PAGE_SIZE + 1)
            )
        )
        newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        older = bool(rows)
    else:
        if before is not None:
            stmt = stmt.where(AuditEntry.seq < before)
        rows = list(session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)))
        older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        newer = before is not None and bool(rows)
    return (
        rows,
        (rows[-1].seq if rows and older else None),
        (rows[0].seq if rows and newer else None),
    )


def _choices(session: Session) -> dict[str, list[Any]]:
    """What the filter menus offer: the values present in this workspace's log."""
    actions = session.scalars(
        select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    ).all()
    types = session.scalars(
        select(AuditEntry.target_type)
        .where(AuditEntry.target_type.is_not(None))
        .distinct()
        .order_by(AuditEntry.target_type)
    ).all()
    actors = session.execute(
        select(AuditEntry.actor_id, AuditEntry.actor_label, AuditEntry.actor_type)
        .where(AuditEntry.actor_id.is_not(None))
        .distinct()
        .order_by(AuditEntry.actor_label)
        .limit(500)
    ).all()
    seen: dict[str, str] = {}
    for row in actors:
        seen.setdefault(row.actor_id, row.actor_label or f"{row.actor_type} {row.actor_id}")
    return {
        "actions": list(actions),
        "target_types": list(types),
        "actors": sorted(seen.items(), key=lambda a: a[1]),
    }


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    session = tenant_db()
    filters = Filters.from_args(request.args)
    entries, older, newer = _page(session, filters, _int_arg("before"), _int_arg("after"))
    return render_template(
        "audit/index.html",
        entries=entries,
        older=older,
        newer=newer,
        filters=filters,
        choices=_choices(session),
        chain=verify_tenant(g.workspace),
        targets=TARGET_ENDPOINTS,
        labels={"company": companies.LABELS, "contact": contacts.LABELS},
    )
