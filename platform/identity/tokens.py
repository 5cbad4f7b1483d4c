"""Tokens carried by emailed links: verify an address, reset a password, accept an invitation.

A link's token is the row's id signed with the application secret (one salt per purpose). The
database keeps only a digest of the token, so a copy of it cannot mint working links, and the mail
job can rebuild the link from the row id alone (no secret waits in the outbox). Expiry and single
use are properties of the row, so a used or superseded link stops working at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from rapport.platform.db import db, utcnow
from rapport.platform.identity.models import EmailToken, User
from rapport.platform.ids import new_id

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password
INVITATION = "invitation"

LIFETIMES = {
    VERIFY_EMAIL: dt.timedelta(days=7),
    RESET_PASSWORD: dt.timedelta(hours=1),
    INVITATION: dt.timedelta(days=14),
}


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"rapport.{purpose}")


def sign(purpose: str, row_id: uuid.UUID) -> str:
    """The link token for a row (the same row always gives the same token)."""
    return str(_serializer(purpose).dumps(row_id.hex))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unsign(purpose: str, token: str) -> uuid.UUID | None:
    """The row id a token names, or None when the token is not ours."""
    if not token or len(token) > 200:
        return None
    try:
        raw = _serializer(purpose).loads(token)
        return uuid.UUID(hex=str(raw))
    except (BadSignature, ValueError):
        return None


def issue(user: User, purpose: str) -> EmailToken:
    """Create a token row for a user; earlier unused tokens of the same purpose stop working."""
    revoke_all(user.id, purpose)
    row_id = new_id()
    row = EmailToken(
        id=row_id,
        user_id=user.id,
        purpose=purpose,
        email=user.email,
        token_hash=digest(sign(purpose, row_id)),
        expires_at=utcnow() + LIFETIMES[purpose],
    )
    db.session.add(row)
    db.session.flush([row])
    return row


def find_valid(purpose: str, token: str) -> EmailToken | None:
    """The unused, unexpired token row this link names, or None."""
    row_id = unsign(purpose, token)
    if row_id is None:
        return None
    row = db.session.scalars(
        select(EmailToken).where(
            EmailToken.token_hash == digest(token), EmailToken.purpose == purpose
        )
    ).first()
    if row is None or row.id != row_id or row.used_at is not None or expired(row.expires_at):
        return None
    user = db.session.get(User, row.user_id)
    # A link sent to an address the account no longer has must not act on the account.
    if user is None or user.email != row.email or user.disabled_at is not None:
        return None
    return row


def expired(at: dt.datetime) -> bool:
    return at <= utcnow()


def revoke_all(user_id: uuid.UUID, purpose: str) -> None:
    db.session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
