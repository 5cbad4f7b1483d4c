"""The identity emails: address verification, password reset, invitations.

Queuing writes a control-plane outbox row in the caller's transaction; the message is rendered
and sent by the ``email`` job after the commit. The row carries only the token row's id, never a
link: the job signs the link again from the id, so no usable secret waits in the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import current_app, render_template

from rapport.platform.db import db
from rapport.platform.identity.models import EmailToken, Invitation, User
from rapport.platform.identity.tokens import INVITATION, RESET_PASSWORD, VERIFY_EMAIL, sign
from rapport.platform.jobs.registry import job
from rapport.platform.mail import Message, send_message
from rapport.platform.tenancy.models import Tenant


def queue_email(kind: str, row_id: uuid.UUID) -> None:
    """Queue one identity email in the current control-plane transaction."""
    from rapport.platform.jobs import outbox

    outbox.add(
        db.session,
        send_identity_email,
        {"kind": kind, "id": str(row_id)},
        event_key=f"email:{kind}:{row_id}",
    )


@job("email", plane="control")
def send_identity_email(session: object, kind: str, id: str, **_context: object) -> bool:  # noqa: A002
    """The email job: render one identity email from its row and send it."""
    return deliver(kind, id)


def deliver(kind: str, row_id: str) -> bool:
    """Render and send one queued email; False when there is nothing (left) to send."""
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown identity email {kind!r}")
    message = builder(uuid.UUID(row_id))
    if message is None:
        return False
    send_message(message, current_app.config["RAPPORT"])
    return True


def _link(path: str) -> str:
    return current_app.config["RAPPORT"].base_url.rstrip("/") + path


def _render(template: str, **context: object) -> tuple[str, str]:
    return (
        render_template(f"auth/email/{template}.txt", **context),
        render_template(f"auth/email/{template}.html", **context),
    )


def _token_message(row_id: uuid.UUID, purpose: str, subject: str, path: str) -> Message | None:
    row = db.session.get(EmailToken, row_id)
    if row is None or row.used_at is not None:
        return None  # superseded or used before the job ran: sending it would only confuse
    user = db.session.get(User, row.user_id)
    if user is None:
        return None
    link = _link(path + sign(purpose, row.id))
    text, html = _render(purpose, name=user.name, email=row.email, link=link)
    return Message(to=row.email, subject=subject, text=text, html=html)


def _verification(row_id: uuid.UUID) -> Message | None:
    return _token_message(row_id, VERIFY_EMAIL, "Confirm your email address", "/verify/")


def _reset(row_id: uuid.UUID) -> Message | None:
    return _token_message(row_id, RESET_PASSWORD, "Reset your Rapport password", "/reset/")


def _invitation(row_id: uuid.UUID) -> Message | None:
    from rapport.platform.identity.members import role_label

    invitation = db.session.get(Invitation, row_id)
    if invitation is None or not invitation.pending:
        return None
    tenant = db.session.get(Tenant, invitation.tenant_id)
    inviter = db.session.get(User, invitation.invited_by) if invitation.invited_by else None
    if tenant is None:
        return None
    link = _link("/invite/" + sign(INVITATION, invitation.id))
    text, html = _render(
        INVITATION,
        inviter=inviter.name if inviter else "A colleague",
        workspace=tenant.name,
        role=role_label(invitation.role),
        email=invitation.email,
        link=link,
    )
    return Message(
        to=invitation.email, subject=f"Join {tenant.name} on Rapport", text=text, html=html
    )


_BUILDERS: dict[str, Callable[[uuid.UUID], Message | None]] = {
    VERIFY_EMAIL: _verification,
    RESET_PASSWORD: _reset,
    INVITATION: _invitation,
}
