"""Billing emails to a workspace's owners and admins, each sent once per occasion.

:func:`notify` writes a :class:`BillingNotice` row (unique per tenant and occasion key) and an
outbox row in the caller's transaction; the ``email`` job renders it from the row after the commit.
Asking twice for the same occasion (a webhook replayed, a periodic job run again) writes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing.models import BillingNotice
from rapport.platform.db import utcnow
from rapport.platform.identity.members import MANAGERS
from rapport.platform.identity.models import Membership, User
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.mail import Message, send_message
from rapport.platform.tenancy.models import Tenant

SUBJECTS = {
    "soft_limit": "Rapport: {label} at {percent}% of your plan",
    "payment_failed": "Rapport: a payment failed, please update your card",
    "trial_ending": "Rapport: your free trial ends on {ends}",
}


def notify(
    session: Session, tenant_id: uuid.UUID, kind: str, key: str, details: dict[str, Any]
) -> bool:
    """Owe the admins one email for this occasion; False when it was owed before."""
    if kind not in SUBJECTS:
        raise ValueError(f"unknown billing notice {kind!r}")
    exists = session.scalar(
        select(BillingNotice.id).where(
            BillingNotice.tenant_id == tenant_id, BillingNotice.key == key
        )
    )
    if exists is not None:
        return False
    notice = BillingNotice(tenant_id=tenant_id, kind=kind, key=key, details=details)
    session.add(notice)
    session.flush()
    outbox.add(session, send_notice, {"id": str(notice.id)}, event_key=f"billing:{notice.id}")
    return True


def admin_emails(session: Session, tenant_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.active.is_(True),
                Membership.role.in_(MANAGERS),
            )
            .order_by(User.email)
        )
    )


def build(session: Session, notice: BillingNotice) -> tuple[str, str]:
    tenant = session.get(Tenant, notice.tenant_id)
    base = current_app.config["RAPPORT"].base_url.rstrip("/")
    link = f"{base}/{tenant.slug}/settings/billing/" if tenant else base
    subject = SUBJECTS[notice.kind].format(**notice.details)
    body = render_template(
        f"billing/email/{notice.kind}.txt",
        tenant=tenant, details=notice.details, link=link,
    )  # fmt: skip
    return subject, body


@job("email", plane="control")
def send_notice(session: Session, id: str, **_context: Any) -> bool:  # noqa: A002
    """The email job: one message to each owner and admin of the workspace."""
    notice = session.get(BillingNotice, uuid.UUID(id))
    if notice is None or notice.sent_at is not None:
        return False
    subject, body = build(session, notice)
    settings = current_app.config["RAPPORT"]
    for address in admin_emails(session, notice.tenant_id):
        send_message(Message(to=address, subject=subject, text=body), settings)
    notice.sent_at = utcnow()
    session.flush()
    return True
