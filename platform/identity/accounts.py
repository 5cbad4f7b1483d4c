"""Account operations: sign-in, email verification, password reset and change.

None of these answers tells a caller whether an account exists for an address: sign-in failures
and reset requests look the same for a known and an unknown email.
"""

from __future__ import annotations

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import db, utcnow
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity import emails, tokens
from rapport.platform.identity.models import User
from rapport.platform.identity.passwords import hash_password, password_problems
from rapport.platform.identity.services import (
    authenticate,
    find_user,
    mark_verified,
    normalize_email,
)
from rapport.platform.identity.throttle import login_throttle, reset_request_allowed

BAD_CREDENTIALS = "Incorrect email or password."


def _actor(user: User) -> Actor:
    return Actor("user", str(user.id), user.email)


def sign_in(email: str, password: str, ip: str | None) -> User:
    """Check credentials under the throttle; raise Throttled or ValidationFailed on failure."""
    throttle = login_throttle()
    throttle.check(email, ip)
    user = authenticate(email, password)
    if user is None:
        throttle.failed(email, ip)
        typed = email.strip().lower()[:320]
        known = find_user(db.session, typed) if typed else None
        audit.record_platform(
            db.session,
            "user.login_failed",
            "user",
            known.id if known else None,
            actor=Actor("anonymous", None, typed or None),
        )
        raise ValidationFailed({"_form": [BAD_CREDENTIALS]}, BAD_CREDENTIALS)
    throttle.succeeded(email)
    audit.record_platform(db.session, "user.login", "user", user.id, actor=_actor(user))
    return user


def record_logout(user: User) -> None:
    audit.record_platform(db.session, "user.logout", "user", user.id, actor=_actor(user))


def start_verification(user: User) -> bool:
    """Email a verification link unless the address is verified already."""
    if user.email_verified_at is not None:
        return False
    row = tokens.issue(user, tokens.VERIFY_EMAIL)
    emails.queue_email(tokens.VERIFY_EMAIL, row.id)
    return True


def verify_email(token: str) -> User:
    """Mark the address a verification link was sent to as verified."""
    row = tokens.find_valid(tokens.VERIFY_EMAIL, token)
    if row is None:
        raise NotFound("This verification link is invalid, expired or already used.")
    user = db.session.get(User, row.user_id)
    assert user is not None  # find_valid checked it
    row.used_at = utcnow()
    mark_verified(user)
    audit.record_platform(db.session, "user.email_verified", "user", user.id, actor=_actor(user))
    return user


def request_password_reset(email: str, ip: str | None = None) -> None:
    """Email a reset link if an account has this address; say nothing either way."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise ValidationFailed({"email": [str(exc)]}) from None
    if not reset_request_allowed(email, ip):
        return
    user = find_user(db.session, email)
    if user is None or user.disabled_at is not None:
        return
    row = tokens.issue(user, tokens.RESET_PASSWORD)
    emails.queue_email(tokens.RESET_PASSWORD, row.id)
    audit.record_platform(db.session, "user.password_reset_requested", "user", user.id)


def reset_target(token: str) -> User:
    """The account a reset link is for, while the link is still usable."""
    row = tokens.find_valid(tokens.RESET_PASSWORD, token)
    if row is None:
        raise NotFound("This reset link is invalid, expired or already used. Ask for a new one.")
    user = db.session.get(User, row.user_id)
    assert user is not None
    return user


def reset_password(token: str, password: str) -> User:
    """Set a new password through an emailed link; the link and its siblings stop working."""
    user = reset_target(token)
    set_password(user, password)
    # Receiving the link proves the address, so the account counts as verified from now on.
    mark_verified(user)
    audit.record_platform(db.session, "user.password_reset", "user", user.id, actor=_actor(user))
    return user


def set_password(user: User, password: str) -> None:
    """Change a password; every reset link and (through the auth epoch) every session ends."""
    problems = password_problems(password, email=user.email, name=user.name)
    if problems:
        raise ValidationFailed({"password": problems})
    user.password_hash = hash_password(password)
    tokens.revoke_all(user.id, tokens.RESET_PASSWORD)
    db.session.flush()
