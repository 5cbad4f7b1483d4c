"""Picklist operations: seed, add, rename, recolour, reorder, retire and restore options, and the
one validator every write path of a picked value goes through.

They change rows, write the audit entry in the same transaction and flush; they never commit.
A change marks the session (``queries.CACHE.changed``) so it reads the options uncached until the
commit, after which every process reloads them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.tenants.picklists.lists import LISTS, Picklist
from rapport.tenants.picklists.models import PicklistOption
from rapport.tenants.picklists.queries import changed, find, get_option, options

_VALUE = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
OPTION_FIELDS = ("label", "colour", "meaning", "position", "retired")


def _snapshot(option: PicklistOption) -> dict[str, Any]:
    return {
        "list": option.list_key,
        "value": option.value,
        "label": option.label,
        "colour": option.colour,
        "meaning": option.meaning,
        "position": option.position,
        "retired": option.retired_at is not None,
    }


def _choose(spec: Picklist) -> str:
    article = "an" if spec.noun[0] in "aeiou" else "a"
    return f"Choose {article} {spec.noun} from the list."


def _spec(list_key: str) -> Picklist:
    spec = LISTS.get(list_key)
    if spec is None:
        raise ValidationFailed({"list": ["There is no such list."]})
    return spec


def _rows(session: Session, list_key: str) -> list[PicklistOption]:
    return list(
        session.scalars(
            select(PicklistOption)
            .where(PicklistOption.list_key == list_key)
            .order_by(PicklistOption.position, PicklistOption.created_at)
        )
    )


# -- defaults --------------------------------------------------------------------------------------
def seed(session: Session) -> int:
    """Give the tenant the default options of every list it has none of yet; return how many.

    Provisioning calls it for a new workspace; reading a list calls it for an older one, and the
    tenant migration may call it too. Safe to run twice: a list with any option is left alone.
    """
    with session.no_autoflush:
        present = set(session.scalars(select(PicklistOption.list_key).distinct()))
    added = 0
    for spec in LISTS.values():
        if spec.key in present:
            continue
        for position, (value, label, meaning) in enumerate(spec.defaults):
            session.add(
                PicklistOption(
                    list_key=spec.key, value=value, label=label, position=position, meaning=meaning
                )
            )
            added += 1
    if added:
        session.flush()
        if has_app_context():  # provisioning may run outside one: no cache to refresh then
            changed(session)
    # Not audited: defaults are part of the workspace's creation ("tenant.created").
    return added


# -- the validator ---------------------------------------------------------------------------------
def validate(
    session: Session,
    list_key: str,
    value: Any,
    *,
    current: Any = None,
    field: str | None = None,
) -> str | None:
    """The stored value for ``value`` picked from the list, or ValidationFailed naming the field.

    Accepts an option's value or, for people and imports that type it, its label (any case).
    A retired option is refused unless the record already holds it (``current``): it stays on
    the records that have it but is not offered for new picks; so is a value only Rapport sets.
    Blank is None, unless the list is required.
    """
    spec = LISTS[list_key]
    name = field or spec.field
    if value is None or (isinstance(value, str) and not value.strip()):
        if spec.required:
            raise ValidationFailed({name: [_choose(spec)]})
        return None
    if not isinstance(value, str):
        raise ValidationFailed({name: [_choose(spec)]})
    text = value.strip()
    every = options(session, list_key, retired=True)
    option = next((o for o in every if o.value == text), None)
    if option is None:
        folded = text.casefold()
        option = next((o for o in every if o.value == folded or o.label.casefold() == folded), None)
    if option is None or (option.value in spec.reserved and option.value != current):
        raise ValidationFailed({name: [_choose(spec)]})
    if option.retired and option.value != current:
        raise ValidationFailed(
            {name: [f"“{option.label}” is no longer used; choose another {spec.noun}."]}
        )
    return option.value


def check(
    session: Session,
    data: Mapping[str, Any],
    picked: Mapping[str, str],
    record: Any = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate each picked field present in ``data`` (field -> list key) against its list.

    Returns the stored values and the errors (not raised, so a service reports them together
    with its schema's); ``record`` is the record being changed, whose values stay allowed.
    """
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field, list_key in picked.items():
        if field not in data:
            continue
        current = getattr(record, field, None) if record is not None else None
        try:
            values[field] = validate(session, list_key, data[field], current=current, field=field)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    return values, errors


def loader(
    session: Session,
    load: Callable[[dict[str, Any]], dict[str, Any]],
    picked: Mapping[str, str],
    record: Any = None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Wrap a schema loader so the picked fields are checked against the lists too, all errors
    raised at once (for ``fields.services.load_with_custom``)."""

    def run(raw: dict[str, Any]) -> dict[str, Any]:
        picks, errors = check(session, raw, picked, record)
        values: dict[str, Any] = {}
        try:
            values = load(raw)
        except ValidationFailed as exc:
            errors = {**exc.errors, **errors}
        if errors:
            raise ValidationFailed(errors)
        values.update(picks)
        return values

    return run


def default_value(session: Session, list_key: str) -> str | None:
    """What a new record gets when nobody picked: the first current option (for lead statuses,
    the first open one)."""
    current = options(session, list_key)
    if list_key == "lead_status":
        current = [o for o in current if o.meaning == "open"]
    return current[0].value if current else None


# -- changes ---------------------------------------------------------------------------------------
def _slug(label: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug if slug[:1].isalpha() else f"v_{slug}".rstrip("_")


def _clean_label(
    session: Session, spec: Picklist, raw: Any, errors: dict[str, list[str]], skip: Any = None
) -> str:
    label = " ".join(str(raw or "").split())
    if not label:
        errors["label"] = ["Enter a label."]
    elif len(label) > 100:
        errors["label"] = ["Use at most 100 characters."]
    else:
        taken = next(
            (
                o
                for o in options(session, spec.key, retired=True)
                if o.label.casefold() == label.casefold() and o.id != skip
            ),
            None,
        )
        if taken is not None:
            errors["label"] = [f"“{taken.label}” is already in this list."]
    return label


def _clean_colour(raw: Any, errors: dict[str, list[str]]) -> str | None:
    colour = str(raw or "").strip()
    if not colour:
        return None
    if not _COLOUR.match(colour):
        errors["colour"] = ["Use a colour such as #1f77b4."]
        return None
    return colour.lower()


def _clean_meaning(spec: Picklist, raw: Any, errors: dict[str, list[str]]) -> str | None:
    if not spec.meanings:
        return None
    meaning = str(raw or "").strip() or spec.meanings[0]
    # One option carries "converted": the one conversion sets (a system value).
    if meaning not in spec.meanings or meaning == "converted":
        errors["meaning"] = ["Choose a meaning from the list."]
        return None
    return meaning


def add_option(session: Session, list_key: str, data: Mapping[str, Any]) -> PicklistOption:
    """Add an option at the end of the list; its value is derived from the label unless given."""
    spec = _spec(list_key)
    errors: dict[str, list[str]] = {}
    label = _clean_label(session, spec, data.get("label"), errors)
    value = str(data.get("value") or "").strip().lower() or (_slug(label) if label else "")
    if label or data.get("value"):
        if not _VALUE.match(value):
            errors["value"] = [
                "Use lowercase letters, digits and underscores, starting with a letter."
            ]
        elif len(value) > spec.max_length:
            errors["value"] = [f"Use at most {spec.max_length} characters."]
        elif find(session, list_key, value) is not None:
            errors["value"] = [f"The value “{value}” is taken in this list; choose another."]
    colour = _clean_colour(data.get("colour"), errors)
    meaning = _clean_meaning(spec, data.get("meaning"), errors)
    if errors:
        raise ValidationFailed(errors)
    last = session.scalar(
        select(func.max(PicklistOption.position)).where(PicklistOption.list_key == list_key)
    )
    option = PicklistOption(
        list_key=list_key,
        value=value,
        label=label,
        colour=colour,
        meaning=meaning,
        position=(last if last is not None else -1) + 1,
    )
    session.add(option)
    session.flush()
    changed(session)
    audit.record(
        session, "picklist.option_added", "picklist_option", option.id,
        audit.diff({}, _snapshot(option)),
    )  # fmt: skip
    return option


def update_option(
    session: Session, option_id: uuid.UUID | str, data: Mapping[str, Any]
) -> PicklistOption:
    """Rename, recolour or (lead statuses) change the meaning of an option; only the keys given
    change. Its value never changes: records keep pointing at it."""
    option = get_option(session, option_id)
    spec = LISTS[option.list_key]
    before = _snapshot(option)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if "label" in data:
        changes["label"] = _clean_label(session, spec, data["label"], errors, skip=option.id)
    if "colour" in data:
        changes["colour"] = _clean_colour(data["colour"], errors)
    if "meaning" in data and spec.meanings:
        if option.value in spec.system:
            if (data["meaning"] or option.meaning) != option.meaning:
                errors["meaning"] = ["Rapport relies on this option's meaning; it cannot change."]
        else:
            changes["meaning"] = _clean_meaning(spec, data["meaning"], errors)
    if errors:
        raise ValidationFailed(errors)
    for key, value in changes.items():
        setattr(option, key, value)
    return _audited(session, option, before, "picklist.option_changed")


def rename_option(session: Session, option_id: uuid.UUID | str, label: str) -> PicklistOption:
    """Give an option a new label (everywhere it shows, on every record that holds it)."""
    return update_option(session, option_id, {"label": label})


def recolour_option(
    session: Session, option_id: uuid.UUID | str, colour: str | None
) -> PicklistOption:
    """Give an option a colour (``#rrggbb``) or none."""
    return update_option(session, option_id, {"colour": colour})


def _audited(
    session: Session, option: PicklistOption, before: dict[str, Any], action: str
) -> PicklistOption:
    changes = audit.diff(before, _snapshot(option))
    if changes:
        session.flush()
        changed(session)
        audit.record(session, action, "picklist_option", option.id, changes)
    return option


def shift_option(session: Session, option_id: uuid.UUID | str, offset: int) -> PicklistOption:
    """Move an option ``offset`` places up (negative) or down the list."""
    option = get_option(session, option_id)
    rows = _rows(session, option.list_key)
    before = _snapshot(option)
    index = rows.index(option)
    target = max(0, min(len(rows) - 1, index + offset))
    rows.insert(target, rows.pop(index))
    for position, row in enumerate(rows):
        row.position = position
    return _audited(session, option, before, "picklist.option_moved")


def retire_option(session: Session, option_id: uuid.UUID | str) -> PicklistOption:
    """Stop offering an option; records that hold it keep it and still show its label."""
    option = get_option(session, option_id)
    spec = LISTS[option.list_key]
    if option.retired_at is not None:
        return option
    if option.value in spec.system:
        raise Conflict(f"Rapport sets “{option.label}” itself; it cannot be retired.")
    current = [o for o in _rows(session, option.list_key) if o.retired_at is None]
    if len(current) <= 1:
        raise Conflict("Keep at least one option in the list.")
    others_open = any(o.meaning == "open" for o in current if o.id != option.id)
    if option.list_key == "lead_status" and option.meaning == "open" and not others_open:
        raise Conflict("New leads need an open status: keep at least one.")
    before = _snapshot(option)
    option.retired_at = utcnow()
    return _audited(session, option, before, "picklist.option_retired")


def restore_option(session: Session, option_id: uuid.UUID | str) -> PicklistOption:
    """Offer a retired option again."""
    option = get_option(session, option_id)
    before = _snapshot(option)
    option.retired_at = None
    return _audited(session, option, before, "picklist.option_restored")
