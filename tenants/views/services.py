"""Saving list views: validated with the same filter rules the list applies, flushed, never
committed. A view is a person's own preference, not a record of the tenant: it is neither audited
nor announced as an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import filtering, records
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.views.models import SavedView
from rapport.tenants.views.queries import get_view

MAX_FILTERS = 20
MAX_COLUMNS = 40
MAX_VIEWS = 100


def check_state(
    session: Session,
    record_type: str,
    filters: Sequence[Sequence[str]],
    sort: str | None,
    columns: Sequence[str],
    *,
    extra_columns: Sequence[str] = (),
) -> None:
    """Raise ValidationFailed unless the filters, sort and columns all name real fields."""
    errors: dict[str, list[str]] = {}
    if len(filters) > MAX_FILTERS:
        errors["filters"] = [f"Use at most {MAX_FILTERS} filters."]
    try:
        filtering.parse(session, record_type, [tuple(f) for f in filters])  # type: ignore[misc]
    except ValidationFailed as exc:
        errors["filters"] = [f"{k}: {m}" for k, ms in exc.errors.items() for m in ms]
    if sort and not filtering.sortable(session, record_type, sort):
        errors["sort"] = ["There is no such field to sort by."]
    known = {f.key for f in filtering.available_fields(session, record_type)} | set(extra_columns)
    unknown = [c for c in columns if c not in known]
    if unknown:
        errors["columns"] = [f"There is no column {', '.join(unknown)}."]
    if len(columns) > MAX_COLUMNS:
        errors["columns"] = [f"Show at most {MAX_COLUMNS} columns."]
    if errors:
        raise ValidationFailed(errors)


def save_view(
    session: Session, user_id: uuid.UUID, record_type: str, data: Mapping[str, Any]
) -> SavedView:
    """Save the user's view under a name; a view of the same name is replaced."""
    if not records.exists(record_type):
        raise ValidationFailed({"record_type": ["There is no such list."]})
    name = plain_text(str(data.get("name") or "")).strip()
    if not name:
        raise ValidationFailed({"name": ["Name the view."]})
    if len(name) > 100:
        raise ValidationFailed({"name": ["Use at most 100 characters."]})
    filters = [[str(part) for part in item] for item in data.get("filters") or []]
    if any(len(item) != 3 for item in filters):
        raise ValidationFailed({"filters": ["Each filter is a field, an operator and a value."]})
    sort = (data.get("sort") or None) and str(data["sort"])
    columns = [str(c) for c in data.get("columns") or []]
    check_state(
        session, record_type, filters, sort, columns,
        extra_columns=data.get("extra_columns") or (),
    )  # fmt: skip
    view = session.scalar(
        select(SavedView).where(
            SavedView.user_id == user_id,
            SavedView.record_type == record_type,
            SavedView.name == name,
        )
    )
    if view is None:
        count = len(
            session.scalars(
                select(SavedView.id).where(
                    SavedView.user_id == user_id, SavedView.record_type == record_type
                )
            ).all()
        )
        if count >= MAX_VIEWS:
            raise ValidationFailed({"name": [f"Keep at most {MAX_VIEWS} views per list."]})
        view = SavedView(user_id=user_id, record_type=record_type, name=name)
        session.add(view)
    view.filters, view.sort, view.columns = filters, sort, columns
    view.shared = bool(data.get("shared"))
    is_default = bool(data.get("is_default"))
    if is_default:
        _clear_default(session, user_id, record_type)
    view.is_default = is_default
    session.flush()
    return view


def _clear_default(session: Session, user_id: uuid.UUID, record_type: str) -> None:
    session.execute(
        update(SavedView)
        .where(SavedView.user_id == user_id, SavedView.record_type == record_type)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


def set_default(
    session: Session, user_id: uuid.UUID, view_id: uuid.UUID | str, is_default: bool = True
) -> SavedView:
    """Make the view the one its list opens with (or stop that)."""
    view = get_view(session, user_id, view_id, own=True)
    _clear_default(session, user_id, view.record_type)
    view.is_default = is_default
    session.flush()
    return view


def delete_view(session: Session, user_id: uuid.UUID, view_id: uuid.UUID | str) -> str:
    """Delete one of the user's views (a view shared with them is not theirs); return its name."""
    view = get_view(session, user_id, view_id, own=True)
    name = view.name
    session.delete(view)
    session.flush()
    return name
