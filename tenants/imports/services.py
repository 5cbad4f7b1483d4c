"""Importing a file: upload into a draft batch, map its columns, preview, then run as a job.

Every row is written by the record type's own service (``kind.writer.create``), each in its own
SAVEPOINT, so an import validates exactly like the web form and the API (custom fields, picklists,
the member's rights and field rules, hard caps) and a bad row is undone alone. A preview runs the
very same code inside one more SAVEPOINT that is rolled back: it reports what the run would do,
and leaves nothing behind.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import DomainError, NotFound, ValidationFailed
from rapport.platform.jobs import outbox
from rapport.tenants import records
from rapport.tenants.fields.queries import fields_for
from rapport.tenants.imports import readers
from rapport.tenants.imports.mapping import CUSTOM, Converter, Target, check, suggest, targets
from rapport.tenants.imports.models import DONE, DRAFT, FAILED, QUEUED, RUNNING, ImportBatch
from rapport.tenants.modules import services as modules
from rapport.tenants.roles import access
from rapport.tenants.roles.fields import built_in, label_of

#: What an import puts in a field no column fills (a lead says where it came from).
DEFAULTS: dict[str, dict[str, Any]] = {"leads": {"source": "import"}}
#: Rows with errors a page shows (the failed-rows download has them all).
SHOWN_ERRORS = 100
ROW = "_form"  # errors about the row as a whole
#: A draft nobody imported is deleted this long after it was last touched (it holds a whole file).
DRAFTS_KEPT = dt.timedelta(days=7)
#: A finished import keeps its file's rows (for the failed-rows download) this long; its counts
#: and errors stay for good, so the history still reads.
ROWS_KEPT = dt.timedelta(days=90)
#: A queued or running import (or preview) with no progress for this long has stopped: far beyond
#: the outbox's retries of a job (about twenty minutes) and any sane queue backlog.
STALLED_AFTER = dt.timedelta(hours=6)
PREVIEW_STOPPED = (
    "The preview stopped after an unexpected error. Preview again, or contact support if it "
    "keeps happening."
)


@dataclasses.dataclass
class Outcome:
    """What writing some rows did (or, in a preview, would do)."""

    created: int = 0
    #: [{"line": n, "errors": {field: [message, ...]}}] of the rows not imported.
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)


# -- what a member may import --------------------------------------------------------------------
def importable_types(session: Session) -> list[records.RecordType]:
    """The record types whose module is on and which the member may create."""
    on = set(modules.record_types(session))
    return [
        kind
        for kind in records.all_types()
        if kind.name in on and access.can(session, kind.name, "create")
    ]


def require_type(session: Session, record_type: str) -> records.RecordType:
    """The record type, if the member may import into it: NotFound if it is not offered (unknown
    or its module is off), PermissionDenied if the member may not create it."""
    if not records.exists(record_type) or record_type not in modules.record_types(session):
        raise NotFound("There is no such record type to import into.")
    access.require(session, record_type, "create")
    return records.get(record_type)


def field_labels(session: Session, record_type: str) -> dict[str, str]:
    """What each error key means to a person: the field's label."""
    labels = {name: label_of(name) for name in built_in(record_type)}
    for field in fields_for(session, record_type, archived=True):
        labels[CUSTOM + field.api_name] = field.label
    labels[ROW] = "Row"
    return labels


# -- the batch -------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    """A cell as JSON: dates as ISO 8601 text (which every date field reads), decimals as text."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def start(
    session: Session, record_type: str, file_name: str, raw: bytes, *,
    user_id: uuid.UUID, user_label: str,
) -> ImportBatch:  # fmt: skip
    """Read an uploaded file into a draft batch with a suggested mapping."""
    require_type(session, record_type)
    table = readers.read(raw, file_name)
    batch = ImportBatch(
        record_type=record_type,
        file_name=(file_name or "import")[:255],
        headings=table.headings,
        rows=[[line, [_cell(v) for v in cells]] for line, cells in table.rows],
        mapping=suggest(table.headings, targets(session, record_type)),
        status=DRAFT,
        created_by=user_id,
        created_by_label=user_label,
    )
    session.add(batch)
    session.flush()
    return batch


def list_batches(session: Session, user_id: uuid.UUID, *, limit: int = 50) -> list[ImportBatch]:
    """Past imports, newest first: the member's own, or everybody's for an administrator."""
    stmt = select(ImportBatch).order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc())
    if not access.administers(session):
        stmt = stmt.where(ImportBatch.created_by == user_id)
    return list(session.scalars(stmt.limit(limit)))


def get_batch(session: Session, batch_id: uuid.UUID | str, user_id: uuid.UUID) -> ImportBatch:
    """A batch the member may see (their own; any for an administrator), else NotFound."""
    batch = get_or_not_found(session, ImportBatch, batch_id, "import")
    if batch.created_by != user_id and not access.administers(session):
        raise NotFound("There is no such import.")
    return batch


def columns(batch: ImportBatch, samples: int = 3) -> list[tuple[str, list[str]]]:
    """Each heading with its first few non-blank values, as shown on the mapping page."""
    found: list[list[str]] = [[] for _ in batch.headings]
    for _line, cells in batch.rows:
        for index, value in enumerate(cells):
            if value not in (None, "") and len(found[index]) < samples:
                found[index].append(str(value))
        if all(len(values) == samples for values in found):
            break
    return list(zip(batch.headings, found, strict=True))


def set_mapping(session: Session, batch: ImportBatch, mapping: Sequence[str | None]) -> list[str]:
    """Store the column mapping the member chose; return its warnings, or raise
    ValidationFailed keyed ``column-<n>`` naming the column that is wrong."""
    _require_draft(batch)
    require_type(session, batch.record_type)
    mapping = [m or None for m in mapping][: len(batch.headings)]
    mapping += [None] * (len(batch.headings) - len(mapping))
    batch.mapping = mapping  # even when refused: the page shows the choices to correct
    errors, warnings = check(batch.headings, mapping, targets(session, batch.record_type))
    session.flush()
    if errors:
        raise ValidationFailed(errors)
    return warnings


def _require_draft(batch: ImportBatch) -> None:
    if batch.status != DRAFT:
        raise ValidationFailed({ROW: ["This import has already started; start a new one."]})


def allowed_targets(session: Session, batch: ImportBatch) -> list[Target]:
    """The fields offered now, refusing a mapping that is no longer allowed."""
    require_type(session, batch.record_type)
    offered = targets(session, batch.record_type)
    errors, _warnings = check(batch.headings, batch.mapping, offered)
    if errors:
        raise ValidationFailed(errors)
    return offered


# -- writing rows --------------------------------------------------------------------------------
def write_rows(
    session: Session, batch: ImportBatch, rows: Iterable[Sequence[Any]], offered: list[Target]
) -> Outcome:
    """Create a record from each row, each in its own SAVEPOINT; report the rows refused."""
    kind = records.get(batch.record_type)
    converter = Converter(session, batch.record_type, offered, batch.mapping)
    defaults = DEFAULTS.get(batch.record_type, {})
    outcome = Outcome()
    for line, cells in rows:
        errors = _write_one(session, kind, converter, cells, defaults)
        if errors:
            outcome.errors.append({"line": line, "errors": errors})
        else:
            outcome.created += 1
    return outcome


def _write_one(
    session: Session, kind: records.RecordType, converter: Converter, cells: Sequence[Any],
    defaults: dict[str, Any],
) -> dict[str, list[str]]:  # fmt: skip
    data, errors = converter.row(cells)
    for key, value in defaults.items():
        if data.get(key) in (None, ""):
            data[key] = value
    savepoint = session.begin_nested()
    try:
        kind.writer.create(session, data)
        session.flush()
    except ValidationFailed as exc:
        errors = {**exc.errors, **errors}
    except DomainError as exc:  # refused by a right, a field rule or a hard cap
        errors = {**errors, ROW: [exc.message]}
    except IntegrityError:
        errors = {**errors, ROW: ["This row clashes with a record that already exists."]}
    if errors:
        savepoint.rollback()
    else:
        savepoint.commit()
    return errors


def preview(
    session: Session, batch: ImportBatch, rows: Sequence[Sequence[Any]] | None = None
) -> Outcome:
    """What running the batch would do for ``rows`` (default: all of them); writes nothing."""
    _require_draft(batch)
    offered = allowed_targets(session, batch)
    # Rows the writers add to the outbox are rolled back with them: forget them too, so the
    # commit of this unit of work does not hand the runner jobs for rows that never existed.
    noted = list(session.info.get(outbox.NOTED, []))
    dry_run = session.begin_nested()
    try:
        return write_rows(session, batch, batch.rows if rows is None else rows, offered)
    finally:
        dry_run.rollback()
        if noted:
            session.info[outbox.NOTED] = noted
        else:
            session.info.pop(outbox.NOTED, None)


def request_preview(session: Session, batch: ImportBatch) -> None:
    """Queue a preview of the batch as it is mapped now (a job: a large file takes minutes)."""
    from rapport.tenants.imports.jobs import preview_import

    _require_draft(batch)
    allowed_targets(session, batch)
    round_ = (batch.preview or {}).get("round", 0) + 1
    batch.preview = {"round": round_, "status": QUEUED, "mapping": list(batch.mapping)}
    session.flush()
    outbox.add(
        session, preview_import, {"batch_id": str(batch.id), "preview_round": round_},
        event_key=f"import-preview:{batch.id}:{round_}",
    )  # fmt: skip


def current_preview(batch: ImportBatch) -> dict[str, Any] | None:
    """The latest preview, if it checked the mapping the batch has now."""
    found = batch.preview
    return found if found and found.get("mapping") == list(batch.mapping) else None


def confirm(session: Session, batch: ImportBatch) -> None:
    """Queue the batch: the ``imports`` job writes it, in chunks, after this commit."""
    from rapport.tenants.imports.jobs import run_import

    _require_draft(batch)
    allowed_targets(session, batch)
    batch.status = QUEUED
    session.flush()
    outbox.add(
        session, run_import, {"batch_id": str(batch.id), "offset": 0},
        event_key=f"import:{batch.id}:0",
    )  # fmt: skip


def record_progress(batch: ImportBatch, end: int, outcome: Outcome) -> None:
    batch.position = end
    batch.created += outcome.created
    batch.failed += outcome.failed
    if outcome.errors:
        batch.errors = [*(batch.errors or []), *outcome.errors]  # a new list: JSON is not tracked


def finish(session: Session, batch: ImportBatch) -> None:
    """Mark the batch done and write its one audit entry."""
    batch.status = DONE
    batch.finished_at = utcnow()
    session.flush()
    summary = {"record_type": batch.record_type, "file_name": batch.file_name,
               "created": batch.created, "failed": batch.failed}  # fmt: skip
    audit.record(session, "import.completed", "import", batch.id, audit.diff({}, summary))


def fail(session: Session, batch: ImportBatch, message: str) -> None:
    """Stop the batch: nothing more of it is written (what was, stays)."""
    batch.status = FAILED
    batch.message = message[:500]
    batch.finished_at = utcnow()
    session.flush()


def fail_unexpectedly(session: Session, batch: ImportBatch) -> None:
    """Stop the batch at its position after an error that is no row's fault (a bug, an outage)."""
    where = f"line {batch.rows[batch.position][0]}" if batch.position < batch.total else "the end"
    fail(
        session, batch,
        f"The import stopped at {where} after an unexpected error; the rows before it were "
        "imported. Try again or contact support.",
    )  # fmt: skip


# -- keeping the history small -------------------------------------------------------------------
@dataclasses.dataclass
class Tidied:
    """What one tidy-up did."""

    drafts_deleted: int = 0
    rows_cleared: int = 0
    stalled_failed: int = 0
    previews_failed: int = 0


def tidy(session: Session, now: dt.datetime | None = None) -> Tidied:
    """Delete old drafts, forget the rows of old finished imports, end stalled imports and
    previews (the jobs end them themselves after their last attempt, unless killed every time)."""
    now = now or utcnow()
    done = Tidied()
    done.drafts_deleted = session.execute(
        delete(ImportBatch)
        .where(ImportBatch.status == DRAFT, ImportBatch.updated_at < now - DRAFTS_KEPT)
        .execution_options(synchronize_session=False)
    ).rowcount
    # Only rows still kept: the other old batches are not rewritten every day.
    done.rows_cleared = session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.status.in_((DONE, FAILED)),
            ImportBatch.finished_at < now - ROWS_KEPT,
            func.json_array_length(ImportBatch.rows) > 0,
        )
        .values(rows=[])
        .execution_options(synchronize_session=False)
    ).rowcount
    stalled = session.scalars(
        select(ImportBatch).where(
            ImportBatch.status.in_((QUEUED, RUNNING, DRAFT)),
            ImportBatch.updated_at < now - STALLED_AFTER,
        )
    ).all()
    for batch in stalled:
        if batch.status != DRAFT:
            fail_unexpectedly(session, batch)
            done.stalled_failed += 1
        elif (batch.preview or {}).get("status") == QUEUED:
            batch.preview = {**batch.preview, "status": FAILED, "message": PREVIEW_STOPPED}
            done.previews_failed += 1
    session.flush()
    return done


# -- the failed rows -----------------------------------------------------------------------------
def failed_rows_csv(session: Session, batch: ImportBatch) -> str:
    """The rows that were not imported, as the file had them, plus an "errors" column."""
    labels = field_labels(session, batch.record_type)
    by_line = {entry["line"]: entry["errors"] for entry in batch.errors or ()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*batch.headings, "errors"])
    for line, cells in batch.rows:
        if line in by_line:
            writer.writerow(
                [*("" if c is None else c for c in cells), describe(by_line[line], labels)]
            )
    return out.getvalue()


def describe(errors: dict[str, list[str]], labels: dict[str, str]) -> str:
    """One row's errors as a line of text: "Field: message; Other field: message"."""
    return "; ".join(f"{labels.get(k, k)}: {' '.join(v)}" for k, v in errors.items())
