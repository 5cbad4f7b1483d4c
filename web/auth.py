"""The signed-in user of a browser request."""

from __future__ import annotations

import functools
import uuid
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from rapport.platform.db import db
from rapport.platform.identity.models import User


def current_user() -> User | None:
    """The signed-in user, loaded once per request."""
    if "current_user" not in g:
        user = None
        raw = session.get("user_id")
        if raw:
            user = db.session.get(User, uuid.UUID(raw))
            if user is not None and (
                user.disabled_at is not None or session.get("auth_epoch") != _epoch(user)
            ):
                user = None
        g.current_user = user
    return g.current_user


def _epoch(user: User) -> str:
    # Changing the password changes the hash, which invalidates every other session of the user.
    return (user.password_hash or "")[-16:]


def login_user(user: User) -> None:
    """Start a signed-in session under a fresh session id."""
    session.regenerate()  # type: ignore[attr-defined]
    session.clear()
    session["user_id"] = str(user.id)
    session["auth_epoch"] = _epoch(user)
    g.current_user = user


def logout_user() -> None:
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    g.current_user = None


def safe_next(target: str | None, default: str = "/") -> str:
    """Only follow a ``next`` that stays on this site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def login_required(view):  # type: ignore[no-untyped-def]
    @functools.wraps(view)
    def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
