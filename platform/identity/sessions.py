"""Server-side sessions: the cookie carries a random id, the data stays on the server.

Sessions live in Redis when it is configured and in a control-plane table otherwise (the embedded
default). The store is keyed by a hash of the id, so a copy of the store holds no usable cookie.
Sessions are revocable one by one or all of a user's at once, and the id changes at sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import JSON, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from rapport.platform.db import ControlBase, db, utcnow


class WebSession(ControlBase):
    """A browser session in the embedded default (Redis holds them in production)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):  # type: ignore[type-arg]
    def __init__(
        self, initial: dict[str, Any] | None = None, sid: str | None = None, new: bool = False
    ) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = new
        self.modified = False
        self.previous_sid: str | None = None

    def regenerate(self) -> None:
        """Give the session a new id (at sign-in, to defeat session fixation)."""
        self.previous_sid = self.sid
        self.sid = None
        self.modified = True


class SessionStore:
    def load(self, sid: str) -> dict[str, Any] | None: ...
    def save(self, sid: str, data: dict[str, Any], user_id: str | None, ttl: int) -> None: ...
    def delete(self, sid: str) -> None: ...
    def delete_user_sessions(self, user_id: uuid.UUID, keep: str | None = None) -> int: ...


class RedisSessionStore(SessionStore):
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, sid: str) -> str:
        return f"{self.prefix}:session:{_hash(sid)}"

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}:user-sessions:{user_id}"

    def load(self, sid: str) -> dict[str, Any] | None:
        raw = self.redis.get(self._key(sid))
        return json.loads(raw) if raw else None

    def save(self, sid: str, data: dict[str, Any], user_id: str | None, ttl: int) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._key(sid), json.dumps(data), ex=ttl)
        if user_id:
            pipe.sadd(self._user_key(user_id), _hash(sid))
            pipe.expire(self._user_key(user_id), ttl)
        pipe.execute()

    def delete(self, sid: str) -> None:
        self.redis.delete(self._key(sid))

    def delete_user_sessions(self, user_id: uuid.UUID, keep: str | None = None) -> int:
        user_key = self._user_key(str(user_id))
        hashes = {h.decode() for h in self.redis.smembers(user_key)}
        if keep:
            hashes.discard(_hash(keep))
        if hashes:
            self.redis.delete(*[f"{self.prefix}:session:{h}" for h in hashes])
            self.redis.srem(user_key, *hashes)
        return len(hashes)


class DatabaseSessionStore(SessionStore):
    """Sessions in the control plane; each operation is its own short transaction."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def load(self, sid: str) -> dict[str, Any] | None:
        with db.engine.connect() as conn:
            row = conn.execute(
                select(WebSession.data, WebSession.expires_at).where(
                    WebSession.id_hash == _hash(sid)
                )
            ).first()
        if row is None:
            return None
        return row.data if row.expires_at > utcnow() else None

    def save(self, sid: str, data: dict[str, Any], user_id: str | None, ttl: int) -> None:
        key = _hash(sid)
        values = {
            "data": data,
            "user_id": uuid.UUID(user_id) if user_id else None,
            "expires_at": utcnow() + dt.timedelta(seconds=ttl),
        }
        with db.engine.begin() as conn:
            updated = conn.execute(
                WebSession.__table__.update().where(WebSession.id_hash == key).values(**values)
            ).rowcount
            if not updated:
                conn.execute(
                    WebSession.__table__.insert().values(id_hash=key, created_at=utcnow(), **values)
                )
            # Expired rows are removed as a side effect of writes; no separate cleaner needed.
            conn.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))

    def delete(self, sid: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(WebSession).where(WebSession.id_hash == _hash(sid)))

    def delete_user_sessions(self, user_id: uuid.UUID, keep: str | None = None) -> int:
        stmt = delete(WebSession).where(WebSession.user_id == user_id)
        if keep:
            stmt = stmt.where(WebSession.id_hash != _hash(keep))
        with db.engine.begin() as conn:
            return conn.execute(stmt).rowcount


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, lifetime: int) -> None:
        self.store = store
        self.lifetime = lifetime

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) <= 128:
            data = self.store.load(sid)
            if data is not None:
                return ServerSession(data, sid=sid)
        return ServerSession(new=True)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if session.previous_sid:
            self.store.delete(session.previous_sid)
            session.previous_sid = None
        if not session:
            if session.sid and session.modified:
                self.store.delete(session.sid)
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.modified and session.sid:
            return
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
        user_id = session.get("user_id")
        self.store.save(session.sid, dict(session), user_id, self.lifetime)
        response.set_cookie(
            name,
            session.sid,
            max_age=self.lifetime,
            httponly=True,
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            domain=domain,
            path=path,
        )
        response.vary.add("Cookie")


def init_app(app: Flask) -> None:
    settings = app.config["RAPPORT"]
    store: SessionStore
    if settings.redis_url:
        store = RedisSessionStore(settings.redis_url, prefix=settings.role_prefix)
    else:
        store = DatabaseSessionStore(app)
    app.extensions["rapport.sessions"] = store
    app.session_interface = ServerSessionInterface(store, settings.session_lifetime_seconds)


def session_store(app: Flask) -> SessionStore:
    return app.extensions["rapport.sessions"]
