"""Reading saved views: each person sees their own and the workspace's shared ones, never
anyone else's own."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from rapport.platform.errors import NotFound
from rapport.tenants.views.models import SavedView


def visible_to(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The views a person sees: their own and the shared ones (only those, without a person)."""
    shared = SavedView.shared.is_(True)
    return shared if user_id is None else or_(SavedView.user_id == user_id, shared)


def views_for(session: Session, user_id: uuid.UUID | None, record_type: str) -> list[SavedView]:
    """The saved views of a record type the user sees, by name."""
    return list(
        session.scalars(
            select(SavedView)
            .where(visible_to(user_id), SavedView.record_type == record_type)
            .order_by(func.lower(SavedView.name), SavedView.id)
        )
    )


def get_view(
    session: Session,
    user_id: uuid.UUID | None,
    view_id: uuid.UUID | str,
    record_type: str | None = None,
    *,
    own: bool = False,
) -> SavedView:
    """A view the user sees (``own``: one of the user's, to change); NotFound for any other, whose
    existence stays hidden."""
    try:
        key = view_id if isinstance(view_id, uuid.UUID) else uuid.UUID(str(view_id))
    except ValueError:
        raise NotFound("saved view") from None
    view = session.get(SavedView, key)
    mine = view is not None and user_id is not None and view.user_id == user_id
    if view is None or not (mine or (view.shared and not own)):
        raise NotFound("saved view")
    if record_type is not None and view.record_type != record_type:
        raise NotFound("saved view")
    return view


def default_view(session: Session, user_id: uuid.UUID, record_type: str) -> SavedView | None:
    """The view the user opens a list with, if they chose one."""
    return session.scalar(
        select(SavedView).where(
            SavedView.user_id == user_id,
            SavedView.record_type == record_type,
            SavedView.is_default.is_(True),
        )
    )
