"""A workflow's actions: checked when the admin saves, applied through the record services.

Four kinds, stored as JSON and applied in order:

- ``{"type": "update", "values": {"custom.tier": "gold", "title": "CFO"}}``: set fields of the
  record (``kind.writer.update(..., partial=True)``);
- ``{"type": "task", "subject", "kind", "due_in_days", "assignee": "owner" | <user id>}``: an
  activity linked to the record, through the activities service;
- ``{"type": "email", "to": "owner" | "field:<key>" | <address>, "subject", "body"}``: templates
  over the record's fields (``{{ name }}``, ``{{ amount }}``, custom fields by API name),
  rendered in a sandbox and sent by an ``email``-queue job after the run commits;
- ``{"type": "assign", "owner_id": <user id>}``: give the record an owner.

Every value is checked at save time with the validators the services use (the record type's
schema, its picklists, the custom field validator), so a bad value is refused next to its row;
the run checks everything again, since fields and options change after a workflow is saved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment
from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import filtering, records
from rapport.tenants.activities.models import LINKABLE_TYPES
from rapport.tenants.companies.schemas import load
from rapport.tenants.companies.services import is_member
from rapport.tenants.fields.queries import fields_for
from rapport.tenants.fields.validation import TYPE_LABELS, validate_custom
from rapport.tenants.filtering import CUSTOM_PREFIX
from rapport.tenants.picklists import services as picklists
from rapport.tenants.workflows.models import DELETED

UPDATE, TASK, EMAIL, ASSIGN = "update", "task", "email", "assign"
ACTION_TYPES = (UPDATE, TASK, EMAIL, ASSIGN)
ACTION_LABELS = {
    UPDATE: "Update fields",
    TASK: "Create a task",
    EMAIL: "Send an email",
    ASSIGN: "Assign the owner",
}
OWNER = "owner"
FIELD_PREFIX = "field:"
MAX_DUE_DAYS = 365
MAX_SUBJECT = 200
MAX_BODY = 10_000
#: Template names that are not fields.
EXTRA_NAMES = ("link", "record_type")
_email = Email(error="Enter an email address such as ada@example.com.")
_sandbox = SandboxedEnvironment(autoescape=False)


@dataclasses.dataclass(frozen=True)
class EditableField:
    """A field an update action may set."""

    key: str  # "title", "custom.tier"
    label: str
    kind: str  # the custom field type, or the filter kind of a column
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False


def _package(kind: records.RecordType) -> str:
    return kind.model.__module__.rpartition(".")[0]


def _schemas(kind: records.RecordType) -> Any:
    return importlib.import_module(f"{_package(kind)}.schemas")


def _schema(kind: records.RecordType) -> Any:
    """The record type's input schema (``ContactSchema``...), the one its services load with."""
    return getattr(_schemas(kind), f"{kind.singular.capitalize()}Schema")


def built_in_names(kind: records.RecordType) -> tuple[str, ...]:
    """The fields people edit on the record (``CONTACT_FIELDS``...)."""
    return tuple(getattr(_schemas(kind), f"{kind.singular.upper()}_FIELDS"))


def editable_fields(session: Session, record_type: str) -> list[EditableField]:
    """The fields an update action may set: the columns people edit that hold a value (links to
    other records and the owner are left to their own pickers), then the custom fields that are
    not calculated."""
    kind = records.get(record_type)
    names = built_in_names(kind)
    columns = {f.key: f for f in filtering.available_fields(session, record_type)}
    out = [
        EditableField(name, columns[name].label, columns[name].kind, tuple(columns[name].options))
        for name in names
        if name in columns and columns[name].kind != "uuid"
    ]
    out += [
        EditableField(
            CUSTOM_PREFIX + f.api_name,
            f.label,
            f.type,
            tuple((v, f.option_label(v)) for v in f.option_values(include_retired=False)),
            f.required,
        )
        for f in fields_for(session, record_type)
        if not f.computed
    ]
    return out


def email_fields(session: Session, record_type: str) -> list[tuple[str, str]]:
    """(key, label) of the record's fields that hold an email address."""
    kind = records.get(record_type)
    found = [("email", "Email")] if "email" in built_in_names(kind) else []
    found += [
        (CUSTOM_PREFIX + f.api_name, f.label)
        for f in fields_for(session, record_type)
        if f.type == "email"
    ]
    return found


def template_names(session: Session, record_type: str) -> list[str]:
    """The names an email template may use: the record's fields, custom ones by API name."""
    names = [f.key for f in filtering.built_in_fields(record_type)]
    names += [f.api_name for f in fields_for(session, record_type, archived=True)]
    return [*names, *EXTRA_NAMES]


# -- checking, when the admin saves ----------------------------------------------------------------
def _key(index: int, name: str) -> str:
    return f"actions.{index}.{name}"


def check_values(
    session: Session, record_type: str, values: Mapping[str, Any], *, record: Any = None
) -> None:
    """Run field values through the services' validators; ValidationFailed keyed by field
    (``title``, ``custom.tier``). ``record``: the record they will be written to, if known."""
    kind = records.get(record_type)
    built_in = {k: v for k, v in values.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {k.removeprefix(CUSTOM_PREFIX): v for k, v in values.items() if k not in built_in}
    errors: dict[str, list[str]] = {}
    if built_in:
        schema = _schema(kind)
        loader = picklists.loader(
            session, lambda raw: load(schema(), raw, partial=True), kind.picked, record
        )
        try:
            loader(built_in)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if custom:
        existing = dict(record.custom or {}) if record is not None else {}
        try:
            validate_custom(session, record_type, custom, existing=existing, partial=True)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _member(session: Session, raw: str) -> uuid.UUID | None:
    try:
        user_id = uuid.UUID(raw)
    except ValueError:
        return None
    return user_id if is_member(session, user_id) else None


def _template(
    session: Session, record_type: str, source: str, key: str, errors: dict[str, list[str]]
) -> None:
    try:
        parsed = _sandbox.parse(source)
    except TemplateError as exc:
        errors[key] = [f"The template does not read: {exc.message or exc}."]
        return
    unknown = sorted(
        meta.find_undeclared_variables(parsed) - set(template_names(session, record_type))
    )
    if unknown:
        errors[key] = [
            f"{', '.join('{{ ' + n + ' }}' for n in unknown)}: not a field of "
            f"{records.get(record_type).label.lower()}."
        ]


def _check_update(
    session: Session, record_type: str, index: int, raw: Mapping[str, Any]
) -> dict[str, Any]:
    values = raw.get("values")
    if not isinstance(values, Mapping) or not values:
        raise ValidationFailed({_key(index, "field"): ["Choose a field to set."]})
    offered = {f.key for f in editable_fields(session, record_type)}
    custom = {f.api_name: f for f in fields_for(session, record_type, archived=True)}
    errors: dict[str, list[str]] = {}
    for name in values:
        field = (
            custom.get(name.removeprefix(CUSTOM_PREFIX)) if name.startswith(CUSTOM_PREFIX) else None
        )
        if field is not None and field.computed:
            errors[_key(index, name)] = [
                f"“{field.label}” is calculated ({TYPE_LABELS[field.type].lower()}); "
                "a workflow cannot set it."
            ]
        elif name not in offered:
            errors[_key(index, name)] = [
                f"There is no field “{name}” a workflow can set on "
                f"{records.get(record_type).label.lower()}."
            ]
    if errors:
        raise ValidationFailed(errors)
    clean = {name: _plain(value) for name, value in values.items()}
    try:
        check_values(session, record_type, clean)
    except ValidationFailed as exc:
        raise ValidationFailed({_key(index, k): v for k, v in exc.errors.items()}) from None
    return {"type": UPDATE, "values": clean}


def _plain(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _check_task(
    session: Session, record_type: str, index: int, raw: Mapping[str, Any]
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    subject = _text(raw, "subject")
    if not subject:
        errors[_key(index, "subject")] = ["Say what the task is about."]
    elif len(subject) > MAX_SUBJECT:
        errors[_key(index, "subject")] = [f"Use at most {MAX_SUBJECT} characters."]
    else:
        _template(session, record_type, subject, _key(index, "subject"), errors)
    kind = None
    try:
        kind = picklists.validate(session, "activity_type", _text(raw, "kind") or "task")
    except ValidationFailed as exc:
        errors[_key(index, "kind")] = [m for found in exc.errors.values() for m in found]
    days_text = _text(raw, "due_in_days") or "0"
    try:
        days = int(days_text)
        if not 0 <= days <= MAX_DUE_DAYS:
            raise ValueError
    except ValueError:
        errors[_key(index, "due_in_days")] = [
            f"Enter a whole number of days from 0 to {MAX_DUE_DAYS}."
        ]
        days = 0
    assignee = _text(raw, "assignee") or OWNER
    if assignee != OWNER and _member(session, assignee) is None:
        errors[_key(index, "assignee")] = [
            "Choose a member of this workspace, or the record's owner."
        ]
    if errors:
        raise ValidationFailed(errors)
    return {
        "type": TASK,
        "subject": subject,
        "kind": kind,
        "due_in_days": days,
        "assignee": assignee,
    }


def _check_email(
    session: Session, record_type: str, index: int, raw: Mapping[str, Any]
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    to = _text(raw, "to") or OWNER
    if to.startswith(FIELD_PREFIX):
        if to.removeprefix(FIELD_PREFIX) not in dict(email_fields(session, record_type)):
            errors[_key(index, "to")] = [
                "Choose a field of the record that holds an email address."
            ]
    elif to != OWNER:
        try:
            _email(to)
        except ValidationError as exc:
            errors[_key(index, "to")] = [str(m) for m in exc.messages]
    subject, body = _text(raw, "subject"), raw.get("body") or ""
    if not subject:
        errors[_key(index, "subject")] = ["Enter the email's subject."]
    elif len(subject) > MAX_SUBJECT:
        errors[_key(index, "subject")] = [f"Use at most {MAX_SUBJECT} characters."]
    else:
        _template(session, record_type, subject, _key(index, "subject"), errors)
    if not str(body).strip():
        errors[_key(index, "body")] = ["Write the email's text."]
    elif len(body) > MAX_BODY:
        errors[_key(index, "body")] = [f"Use at most {MAX_BODY:,} characters."]
    else:
        _template(session, record_type, str(body), _key(index, "body"), errors)
    if errors:
        raise ValidationFailed(errors)
    return {"type": EMAIL, "to": to, "subject": subject, "body": str(body).replace("\r\n", "\n")}


def _check_assign(
    session: Session, record_type: str, index: int, raw: Mapping[str, Any]
) -> dict[str, Any]:
    owner = _text(raw, "owner_id")
    if _member(session, owner) is None:
        raise ValidationFailed({_key(index, "owner_id"): ["Choose a member of this workspace."]})
    return {"type": ASSIGN, "owner_id": owner}


_CHECKS = {UPDATE: _check_update, TASK: _check_task, EMAIL: _check_email, ASSIGN: _check_assign}


def check(
    session: Session, record_type: str, trigger: str, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The cleaned actions, or ValidationFailed keyed ``actions.<row>.<field or setting>``."""
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    if not rows:
        errors["actions"] = ["Add at least one action."]
    for index, raw in enumerate(rows):
        kind = _text(raw, "type")
        if kind not in _CHECKS:
            errors[_key(index, "type")] = [f"Choose one of: {', '.join(ACTION_LABELS.values())}."]
            continue
        if trigger == DELETED and kind != EMAIL:
            errors[_key(index, "type")] = [
                "A deleted record cannot be changed or given tasks; a workflow can only email."
            ]
            continue
        if kind == TASK and record_type not in LINKABLE_TYPES:
            errors[_key(index, "type")] = [
                "Tasks can be linked to companies, contacts, deals and leads."
            ]
            continue
        try:
            cleaned.append(_CHECKS[kind](session, record_type, index, raw))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


# -- applying, when a workflow runs ----------------------------------------------------------------
@dataclasses.dataclass
class Outgoing:
    """An email an action rendered; queued only when every action succeeded."""

    to: str
    subject: str
    text: str


def template_context(
    record_type: str, values: Mapping[str, Any], link: str | None
) -> dict[str, Any]:
    """What ``{{ name }}`` can read: built-in fields by name, custom fields by API name."""
    context = {
        (k.removeprefix(CUSTOM_PREFIX) if k.startswith(CUSTOM_PREFIX) else k): _shown(v)
        for k, v in values.items()
        if k != "changes"
    }
    context.update(link=link or "", record_type=records.get(record_type).singular)
    return context


def _shown(value: Any) -> Any:
    if isinstance(value, Mapping) and "amount" in value and "currency" in value:
        return f"{value['amount']} {value['currency']}"  # a custom currency value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, uuid.UUID):
        return str(value)
    return "" if value is None else value


def render(source: str, context: Mapping[str, Any]) -> str:
    """A template rendered in the sandbox (no attribute or call can reach outside)."""
    return _sandbox.from_string(source).render(**context)
