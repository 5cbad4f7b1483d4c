"""Reading saved views: each person sees their own, never anyone else's."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.errors import NotFound
from rapport.tenants.views.models import SavedView


def views_for(session: Session, user_id: uuid.UUID, record_type: str) -> list[SavedView]:
    """The user's saved views of a record type, by name."""
    return list(
        session.scalars(
            select(SavedView)
            .where(SavedView.user_id == user_id, SavedView.record_type == record_type)
            .order_by(func.lower(SavedView.name), SavedView.id)
        )
    )


def get_view(
    session: Session, user_id: uuid.UUID, view_id: uuid.UUID | str, record_type: str | None = None
) -> SavedView:
    """The user's view with this id; NotFound for anyone else's (whose existence stays hidden)."""
    try:
        key = view_id if isinstance(view_id, uuid.UUID) else uuid.UUID(str(view_id))
    except ValueError:
        raise NotFound("saved view") from None
    view = session.get(SavedView, key)
    if view is None or view.user_id != user_id:
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
