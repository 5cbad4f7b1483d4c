"""Who is acting, and from where: read by the audit writer from the current request or job."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_app_context, has_request_context, request


@dataclass(frozen=True)
class Actor:
    type: str  # user, api_key, system, operator, workflow
    id: str | None = None
    label: str | None = None
    on_behalf_of: str | None = None


SYSTEM = Actor("system", None, "Rapport")


def set_actor(actor: Actor) -> None:
    g.audit_actor = actor


def current_actor() -> Actor:
    if has_app_context():
        actor = g.get("audit_actor")
        if actor is not None:
            return actor
    return SYSTEM


def request_facts() -> dict[str, str | None]:
    if not has_request_context():
        return {"ip": None, "user_agent": None, "request_id": None}
    return {
        "ip": request.remote_addr,
        "user_agent": (request.user_agent.string or "")[:400] or None,
        "request_id": g.get("request_id"),
    }
