"""``Idempotency-Key`` on POST: a retried request gets the first answer instead of a second change.

A POST that carries the header claims ``(API key, Idempotency-Key)`` by inserting a row in the
tenant's schema, in the transaction of the change itself, before the view runs. When the view
succeeds the row gets the response (status, body, a few headers) and commits with the change; when
it fails, the transaction rolls back and takes the row with it, so the key can be used again.

- The same key with the same request (method, path, query and body) within 24 hours: the stored
  answer is sent again, with ``Idempotent-Replayed: true``; nothing runs twice.
- The same key with another request: 422, naming the problem.
- The same key while the first request is still running: 409 (the second insert waits for the
  first transaction, then meets the unique constraint).
- An answer that held a secret (``Cache-Control: no-store``, such as a new webhook's signing
  secret) is not kept: a replay answers 409 and points at the resource instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from flask import Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from rapport.api import errors
from rapport.platform.db import utcnow
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.idempotency.models import IdempotentRequest

HEADER = "Idempotency-Key"
LIFETIME = dt.timedelta(hours=24)
KEY_PATTERN = r"^[!-~]{1,255}$"  # printable ASCII without spaces
_KEY = re.compile(KEY_PATTERN)
_KEPT_HEADERS = ("Content-Type", "ETag", "Location")
_UNSET = -1  # status of a claim whose request has not finished


def fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode() + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def begin() -> Response | None:
    """Before a POST view: replay, refuse, or claim the key for this request."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not _KEY.match(key):
        errors.fail(400, f"{HEADER} must be 1 to 255 printable characters without spaces.")
    api_key_id = g.api_key.id
    session = tenant_db()
    now = utcnow()
    # Keys are kept for a day; expired ones go as new ones arrive (the index is on created_at).
    session.execute(
        delete(IdempotentRequest)
        .where(IdempotentRequest.created_at < now - LIFETIME)
        .execution_options(synchronize_session=False)
    )
    found = session.scalars(
        select(IdempotentRequest).where(
            IdempotentRequest.api_key_id == api_key_id, IdempotentRequest.key == key
        )
    ).first()
    mine = fingerprint()
    if found is None:
        claim = IdempotentRequest(
            key=key, api_key_id=api_key_id, fingerprint=mine, method=request.method,
            path=request.path[:500], status=_UNSET, body=b"", headers={}, created_at=now,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(claim)
                session.flush()
        except IntegrityError:
            errors.fail(409, f"A request with this {HEADER} is in progress; retry it shortly.")
        g.idempotency_claim = claim
        return None
    if found.fingerprint != mine:
        errors.fail(
            422,
            f"This {HEADER} was used for a different request (method, path or body) in the "
            "last 24 hours. Use a new key for a new request.",
        )
    if found.status == _UNSET:
        errors.fail(409, f"A request with this {HEADER} is in progress; retry it shortly.")
    if not found.headers.get("_kept", True):
        errors.fail(
            409,
            f"The request with this {HEADER} succeeded already; its answer held a secret and was "
            "not kept. Read the resource it created instead.",
        )
    headers = {k: v for k, v in found.headers.items() if not k.startswith("_")}
    response = Response(found.body, status=found.status, headers=headers)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def finish(response: Response) -> Response:
    """After the view: keep a successful answer in the claim (committed with the change)."""
    claim = g.pop("idempotency_claim", None)
    if claim is None or response.status_code >= 400:
        return response  # an error rolls the claim back with everything else
    secret = "no-store" in (response.headers.get("Cache-Control") or "")
    claim.status = response.status_code
    claim.body = b"" if secret else response.get_data()
    claim.headers = {
        name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
    }
    if secret:
        claim.headers["_kept"] = False
    tenant_db().flush()
    return response


def document(document: dict) -> None:  # type: ignore[type-arg]
    """Describe the header (and its 409/422 answers) on every POST of the document."""
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Makes a retried POST safe: the same key and request within 24 hours gets the first "
            "answer again (Idempotent-Replayed: true); the same key with another request is "
            "refused (422); while the first is running, 409."
        ),
        "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": 255},
    }
    for operations in document.get("paths", {}).values():
        operation = operations.get("post")
        if not isinstance(operation, dict):
            continue
        operation.setdefault("parameters", []).append(parameter)
        responses = operation.setdefault("responses", {})
        for status in ("400", "409", "422"):
            responses.setdefault(status, {"$ref": "#/components/responses/DEFAULT_ERROR"})
